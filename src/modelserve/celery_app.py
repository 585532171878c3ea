"""The Celery side of batch jobs: `modelserve worker` runs one; the web app only sends.

Workers on other machines need the same models, the same database URL, the same broker and
the same job folder (MODELSERVE_JOB_FOLDER on shared storage), see docs/deploying.md.

A message only carries a job id; the job itself is taken with `JobRunner.claim`, an atomic
"queued" -> "running" update. So a message delivered twice (a worker lost before it
acknowledged, a re-send) is harmless: the second delivery finds the job taken and does
nothing. That is why messages are acknowledged late, after the task: a worker killed mid-job
leaves its message unacknowledged, the broker hands it out again (Redis: after
`visibility_timeout`), and the job, by then marked failed by `reap`, is not scored twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_shutting_down
from flask import Flask
from sqlalchemy import select

from .services.executors import CELERY_TASK, CeleryExecutor
from .services.jobs import JobRunner
from .storage.tables import Job

log = logging.getLogger("modelserve.jobs")
_runner: JobRunner | None = None
HOUSEKEEPING_EVERY = 30.0


def make_celery(broker_url: str) -> Celery:
    app = Celery("modelserve", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        # Acknowledge after the task: see the module docstring (a claim is atomic, so a
        # redelivery never scores a job twice), and a worker reserves only what it runs.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
        # Job messages are small and few; no need for Celery's event stream or its results.
        worker_send_task_events=False,
    )

    # Not shared: every app (one per create_app) keeps its own task, with no warning.
    @app.task(name=CELERY_TASK, shared=False)  # type: ignore[untyped-decorator]
    def run_job(job_id: str) -> None:
        runner = _runner
        if runner is None:
            raise RuntimeError("this Celery worker was not started by `modelserve worker`")
        runner.housekeeping(HOUSEKEEPING_EVERY)
        if runner.claim(job_id):
            runner.run(job_id)
            if _status(runner, job_id) == "queued":  # this worker is stopping: hand it on
                app.send_task(CELERY_TASK, args=[job_id])
                log.info("job %s handed back to the queue", job_id)

    return app


def _status(runner: JobRunner, job_id: str) -> str | None:
    with runner.session() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id))


def serve_jobs(runner: JobRunner) -> None:
    """Make `runner` the one the tasks of this process use."""
    global _runner  # noqa: PLW0603 - one runner per worker process, set once at start
    _runner = runner


def _stop_jobs(**_: Any) -> None:
    """Celery's warm shutdown: running jobs stop at their next chunk and go back to the
    queue (re-sent to the broker), instead of holding the shutdown for a whole file."""
    if _runner is not None:
        _runner.stopping.set()


def worker_argv(concurrency: int, name: str, loglevel: str) -> list[str]:
    return [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}",
        f"--loglevel={loglevel}",
    ]


def node_name() -> str:
    """One Celery node name per process, so several workers may share a machine."""
    return f"modelserve-{os.getpid()}@{socket.gethostname()}"


def run_worker(app: Flask, *, concurrency: int = 1, loglevel: str = "info") -> None:
    """Run a Celery worker that scores the jobs of `app` (built with CELERY_BROKER_URL)."""
    executor = app.extensions["modelserve.executor"]
    if not isinstance(executor, CeleryExecutor):
        raise RuntimeError("CELERY_BROKER_URL is not set: there is no broker to take jobs from")
    runner: JobRunner = app.extensions["modelserve.jobs"]
    serve_jobs(runner)
    worker_shutting_down.connect(_stop_jobs, weak=False)
    done = threading.Event()
    keeper = threading.Thread(target=_keep_house, args=(runner, done), daemon=True)
    keeper.start()
    try:
        executor.app.worker_main(worker_argv(concurrency, node_name(), loglevel))
    finally:
        done.set()


def _keep_house(runner: JobRunner, done: threading.Event) -> None:
    """Reap jobs of dead workers and delete expired files even while no task arrives."""
    while not done.wait(HOUSEKEEPING_EVERY / 3):
        runner.housekeeping(HOUSEKEEPING_EVERY)
