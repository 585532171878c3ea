"""Production serving: gunicorn on POSIX, waitress where gunicorn cannot run."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from .database import warm_before_fork
from .extensions import db
from .metrics import worker_exit
from .processes import HeapTrimmer


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    threads: int = 1
    timeout: int = 30
    graceful_timeout: int = 30
    # No recycling, gunicorn's own default: a recycle under load cost ~150-375 ms of CPU
    # (fork, copy-on-write faults, the new worker's first requests, the old one's exit),
    # ~20-35 µs per request at 10,000 requests, and stalls the connections of that worker.
    max_requests: int = 0
    max_requests_jitter: int = 0
    preload: bool = True
    access_log: bool = False


def run_gunicorn(factory: Callable[[], Flask], options: ServeOptions) -> None:
    """Run under gunicorn; with preload the models load once and are shared copy-on-write."""
    from gunicorn.app.base import BaseApplication  # noqa: PLC0415 - POSIX only

    settings: dict[str, Any] = {
        "bind": f"{options.host}:{options.port}",
        "workers": options.workers,
        "threads": options.threads,
        "worker_class": "gthread" if options.threads > 1 else "sync",
        "timeout": options.timeout,
        "graceful_timeout": options.graceful_timeout,
        "max_requests": options.max_requests,
        "max_requests_jitter": options.max_requests_jitter,
        "preload_app": options.preload,
        "accesslog": "-" if options.access_log else None,
        "proc_name": "modelserve",
        # gunicorn >= 24 opens a control socket at a fixed path; two servers would collide.
        "control_socket_disable": True,
        "worker_exit": _worker_exit,
        "post_worker_init": _start_jobs,
        # Metrics files of a worker that exited: let prometheus_client forget its gauges.
        "child_exit": lambda server, worker: worker_exit(worker.pid),
    }

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in settings.items():
                if key in self.cfg.settings:  # older gunicorns lack the newest settings
                    self.cfg.set(key, value)

        def load(self) -> Flask:
            app = factory()
            if options.preload:
                warm_before_fork(app)
                gc.freeze()  # keep the loaded models out of the collector: pages stay shared
            return app

    Application().run()


def _worker_exit(_arbiter: object, worker: Any) -> None:
    """A worker stopping gracefully (SIGTERM, recycling, a reload) hands its batch jobs back
    to the queue and writes out its queued history first; then it leaves at once."""
    from .services.executors import stop_all  # noqa: PLC0415
    from .storage.history import close_all  # noqa: PLC0415

    stop_all()
    close_all()
    if getattr(worker, "booted", False) and not getattr(worker, "alive", True):
        _leave(worker.wsgi)


def _leave(app: Flask) -> None:
    """End a worker that stopped normally (gunicorn would `sys.exit(0)`) without the
    interpreter's teardown: freeing every object of the preloaded heap writes the reference
    counts of pages shared with the master, copying them, and cost more than half of a
    recycle's CPU. What the teardown would still do that matters is done here: close the
    database connections (a server sees a clean goodbye) and flush the log streams."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


def _start_jobs(worker: Any) -> None:
    """Each worker polls for queued batch jobs from the start, and trims its heap (threads do
    not survive fork)."""
    executor = worker.wsgi.extensions.get("modelserve.executor")
    if executor is not None:
        executor.start()
    HeapTrimmer().start()


def run_waitress(app: Flask, options: ServeOptions) -> None:
    """Run under waitress (threads in one process), e.g. on Windows."""
    import waitress  # noqa: PLC0415

    HeapTrimmer().start()
    waitress.serve(
        app,
        host=options.host,
        port=options.port,
        threads=max(options.threads, 4),
        channel_timeout=options.timeout,
        ident="modelserve",
    )
