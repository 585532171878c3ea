"""The Celery side of batch jobs: `modelserve worker` runs one; the web app only sends.

Workers on other machines need the same models, the same database URL, the same broker and
the same job folder (MODELSERVE_JOB_FOLDER on shared storage), see docs/deploying.md.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from .services.executors import CELERY_TASK
from .services.jobs import JobRunner

_runner: JobRunner | None = None


def make_celery(broker_url: str) -> Celery:
    app = Celery("modelserve", broker=broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        # A job is acknowledged when a worker takes it: a worker that dies does not hand it
        # to another (it would score it twice); the job is marked failed instead (reaped).
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )

    @app.task(name=CELERY_TASK)  # type: ignore[untyped-decorator]
    def run_job(job_id: str) -> None:
        runner = _runner
        if runner is None:
            raise RuntimeError("this Celery worker was not started by `modelserve worker`")
        runner.housekeeping()
        if runner.claim(job_id):
            runner.run(job_id)

    return app


def serve_jobs(runner: JobRunner) -> None:
    """Make `runner` the one the tasks of this process use."""
    global _runner  # noqa: PLW0603 - one runner per worker process, set once at start
    _runner = runner


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


def run_worker(app: Any, argv: list[str]) -> None:
    app.worker_main(argv)
