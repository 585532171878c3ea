"""Batch jobs through Celery: a real Redis, real `modelserve worker` processes.

The web app (in this process) only queues; each worker is a separate process with its own
instance folder, as on another machine, sharing the database, the broker and the job folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from modelserve import create_app
from modelserve.database import upgrade
from modelserve.extensions import db
from modelserve.runtime.registry import Registry
from modelserve.services import accounts, tokens
from modelserve.storage.tables import Job, PredictionRecord
from tests.live import MODELSERVE

from .conftest import exam_csv

pytestmark = pytest.mark.server
BATCH = "/api/v1/models/exam/batch"
HOST = socket.gethostname()


@dataclass
class Site:
    """The web app with a Celery broker, and how to start workers beside it."""

    app: Flask
    client: FlaskClient
    auth: dict[str, str]
    env: dict[str, str]
    folder: Path
    workers: list[subprocess.Popen] = field(default_factory=list)

    def submit(self, rows: int) -> str:
        response = self.client.post(
            BATCH, data=exam_csv(rows), headers={**self.auth, "Content-Type": "text/csv"}
        )
        assert response.status_code == 202, response.get_json()
        assert response.get_json()["status"] == "queued"
        return str(response.headers["Location"])

    def get(self, location: str) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get(location, headers=self.auth).get_json()
        return body

    def wait(self, location: str, seconds: float = 120) -> dict[str, Any]:
        """Poll the job until it finishes (failing with the workers' logs otherwise)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = self.get(location)
            if body["status"] in ("succeeded", "failed", "cancelled"):
                return body
            time.sleep(0.05)
        raise AssertionError(f"job did not finish: {body}\n{self.logs()}")

    def row(self, location: str) -> Job:
        with self.app.app_context():
            job = db.session.get(Job, location.rsplit("/", 1)[-1])
            assert job is not None
            db.session.expunge(job)
            return job

    def history(self, job_id: str) -> tuple[int, int]:
        """(records of the job with source "batch", distinct ids among them)."""
        with self.app.app_context():
            query = select(func.count(), func.count(func.distinct(PredictionRecord.id))).where(
                PredictionRecord.job_id == job_id, PredictionRecord.source == "batch"
            )
            total, distinct = db.session.execute(query).one()
            return int(total), int(distinct)

    @contextmanager
    def worker(self, **env: str) -> Iterator[subprocess.Popen]:
        """A `modelserve worker` process, ready to take jobs; stopped (or killed) at the end."""
        with self.pool(1, **env) as (process,):
            yield process

    @contextmanager
    def pool(self, count: int, **env: str) -> Iterator[list[subprocess.Popen]]:
        """`count` workers started side by side, each with its own instance folder."""
        started: list[tuple[int, subprocess.Popen]] = []
        logs = []
        try:
            for _ in range(count):
                number = len(self.workers)
                log = (self.folder / f"worker-{number}.log").open("w")
                logs.append(log)
                instance = self.folder / f"worker-{number}"
                process = subprocess.Popen(
                    [MODELSERVE, "worker", "--loglevel", "info"],
                    env={**self.env, "MODELSERVE_INSTANCE_PATH": str(instance), **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                self.workers.append(process)
                started.append((number, process))
            for number, process in started:
                self._wait_ready(number, process)
            yield [process for _, process in started]
        finally:
            for _, process in started:
                stop(process)
            for log in logs:
                log.close()

    def _wait_ready(self, number: int, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + 60
        path = self.folder / f"worker-{number}.log"
        while time.monotonic() < deadline:
            assert process.poll() is None, path.read_text()
            if " ready." in path.read_text():
                return
            time.sleep(0.1)
        raise AssertionError(f"the worker did not start:\n{path.read_text()}")

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.folder.glob("worker-*.log")))


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def broker(redis_url: str) -> str:
    """An empty Redis database for this test's messages."""
    url = f"{redis_url}/1"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture
def site(
    tmp_path: Path, demo_dir: Path, demo_registry: Registry, broker: str, database_url: str
) -> Iterator[Site]:
    jobs_folder = tmp_path / "shared-jobs"
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path / "web"),
            "DATABASE_URL": database_url,
            "REGISTRY": demo_registry,
            "TESTING": True,
            "HISTORY": "sync",
            "CELERY_BROKER_URL": broker,
            "JOB_FOLDER": str(jobs_folder),
            "JOB_SYNC_ROWS": 10,
            "JOB_MAX_ACTIVE": 0,  # one user's backlog of several files at once
        }
    )
    upgrade(app)  # as `serve` and `worker` do: the workers find the schema up to date
    with app.app_context():
        bob = accounts.create_user(db.session, "bob", "correct horse battery")
        secret = tokens.create_token(db.session, bob, name="batch", scopes=["predict"]).plaintext
    env = {
        **os.environ,
        "MODELSERVE_DATABASE_URL": database_url,
        "MODELSERVE_CELERY_BROKER_URL": broker,
        "MODELSERVE_JOB_FOLDER": str(jobs_folder),
        "MODELSERVE_MODELS": str(demo_dir / "exam"),
    }
    made = Site(app, app.test_client(), {"Authorization": f"Bearer {secret}"}, env, tmp_path)
    try:
        yield made
    finally:
        for process in made.workers:
            stop(process)
        app.extensions["modelserve.executor"].app.close()
        app.extensions["modelserve.history"].close()
        with app.app_context():
            db.engine.dispose()


def until(condition: Callable[[], bool], seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what or condition}")


def mid_run(site: Site, location: str) -> Callable[[], bool]:
    def check() -> bool:
        job = site.row(location)
        return job.status == "running" and job.rows_done > 0

    return check


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_scores_an_api_job(site: Site) -> None:
    location = site.submit(500)
    with site.worker() as worker:
        body = site.wait(location)
    assert body["status"] == "succeeded", body
    assert body["progress"]["rows_scored"] == 500
    job = site.row(location)
    assert job.executor == "celery" and job.worker == f"{HOST}:{worker.pid}"
    result = site.client.get(f"{location}/result", headers=site.auth)
    assert result.status_code == 200
    lines = result.get_data(as_text=True).splitlines()
    assert len(lines) == 501 and lines[0].startswith("estudio,sueno,alumno,label")
    assert site.history(job.id) == (500, 500)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_share_a_backlog_each_job_scored_once(site: Site) -> None:
    with site.pool(2, MODELSERVE_JOB_CHUNK_ROWS="1000") as (one, two):
        locations = [site.submit(20_000) for _ in range(6)]
        bodies = [site.wait(location) for location in locations]
    assert [b["status"] for b in bodies] == ["succeeded"] * 6, bodies
    workers = {site.row(location).worker for location in locations}
    assert workers == {f"{HOST}:{one.pid}", f"{HOST}:{two.pid}"}
    for location in locations:
        assert site.history(location.rsplit("/", 1)[-1]) == (20_000, 20_000)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_killed_worker_fails_its_job_with_a_reason_and_the_next_succeeds(site: Site) -> None:
    location = site.submit(200_000)
    with site.worker(MODELSERVE_JOB_CHUNK_ROWS="500") as worker:
        until(mid_run(site, location), what="the job to be mid-run")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    body = site.get(location)
    assert body["status"] == "failed", body
    assert body["error"]["code"] == "worker_lost"
    assert f"worker process {worker.pid} on {HOST} stopped" in body["error"]["message"]
    assert not body["result_available"]
    nxt = site.submit(300)
    with site.worker():
        assert site.wait(nxt)["status"] == "succeeded"
    assert site.get(location)["status"] == "failed"  # a redelivered message changes nothing


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stopping_worker_hands_its_job_on_without_duplicating_history(site: Site) -> None:
    location = site.submit(100_000)
    with site.worker(MODELSERVE_JOB_CHUNK_ROWS="500") as first:
        until(mid_run(site, location), what="the job to be mid-run")
        first.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        assert first.wait(timeout=60) == 0
    interrupted = site.row(location)
    assert interrupted.status == "queued", site.logs()
    with site.worker() as second:  # default chunks: the whole file in a few
        body = site.wait(location)
    assert body["status"] == "succeeded", body
    assert site.row(location).worker == f"{HOST}:{second.pid}"
    assert site.history(interrupted.id) == (100_000, 100_000)
