"""A job's life when its worker stops: back to the queue, or cancelled if that was asked."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from flask import Flask

from modelserve.extensions import db
from modelserve.services import jobs
from modelserve.services.jobs import JobRunner
from modelserve.services.predictions import Caller
from modelserve.storage.tables import Job

from .conftest import exam_csv


@pytest.fixture
def stopping(app: Flask) -> Iterator[JobRunner]:
    """The app's runner with its stop flag up (as in a worker shutting down)."""
    runner: JobRunner = app.extensions["modelserve.jobs"]
    runner.stopping.set()
    yield runner
    runner.stopping.clear()


def queued_job(app: Flask, runner: JobRunner) -> str:
    with app.app_context():
        model = runner.registry.get("exam")
        caller = Caller(source="api", request_id="r1")
        job = jobs.create(
            db.session,
            runner.settings,
            model,
            io.BytesIO(exam_csv(100)),
            filename="a.csv",
            caller=caller,
        )
        jobs.start(db.session, job)
        return job.id


def state(app: Flask, job_id: str) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        db.session.expunge(job)
        return job


def test_an_interrupted_job_goes_back_to_the_queue(app: Flask, stopping: JobRunner) -> None:
    job_id = queued_job(app, stopping)
    assert stopping.claim(job_id)
    stopping.run(job_id)
    job = state(app, job_id)
    assert (job.status, job.worker, job.rows_done) == ("queued", None, 0)
    stopping.stopping.clear()
    assert stopping.claim(job_id)
    stopping.run(job_id)
    assert state(app, job_id).status == "succeeded"


def test_an_interrupted_job_whose_cancel_was_asked_ends_cancelled(
    app: Flask, stopping: JobRunner
) -> None:
    job_id = queued_job(app, stopping)
    assert stopping.claim(job_id)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        jobs.cancel(db.session, stopping.settings, job)  # running: only asks
    stopping.run(job_id)
    assert state(app, job_id).status == "cancelled"


def test_requeue_mine_hands_back_what_this_process_holds(app: Flask) -> None:
    runner: JobRunner = app.extensions["modelserve.jobs"]
    job_id = queued_job(app, runner)
    assert runner.claim(job_id)
    runner.requeue_mine()
    job = state(app, job_id)
    assert (job.status, job.worker) == ("queued", None)
