"""Production serving: gunicorn on POSIX, waitress where gunicorn cannot run."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from .database import warm_before_fork
from .metrics import worker_exit


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    threads: int = 1
    timeout: int = 30
    graceful_timeout: int = 30
    max_requests: int = 10_000
    max_requests_jitter: int = 1_000
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
        "worker_exit": _flush_history,
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


def _flush_history(_arbiter: object, _worker: object) -> None:
    """A worker stopping gracefully (SIGTERM) hands its batch jobs back to the queue and
    writes out its queued history first."""
    from .services.executors import stop_all  # noqa: PLC0415
    from .storage.history import close_all  # noqa: PLC0415

    stop_all()
    close_all()


def _start_jobs(worker: Any) -> None:
    """Each worker polls for queued batch jobs from the start (threads do not survive fork)."""
    executor = worker.wsgi.extensions.get("modelserve.executor")
    if executor is not None:
        executor.start()


def run_waitress(app: Flask, options: ServeOptions) -> None:
    """Run under waitress (threads in one process), e.g. on Windows."""
    import waitress  # noqa: PLC0415

    waitress.serve(
        app,
        host=options.host,
        port=options.port,
        threads=max(options.threads, 4),
        channel_timeout=options.timeout,
        ident="modelserve",
    )
