"""In-process jobs under a real gunicorn: a killed worker's job fails with a reason; a worker
that restarts gracefully puts its job back in the queue, and another worker finishes it."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select

from modelserve import create_app
from modelserve.extensions import db
from modelserve.services import accounts, tokens
from modelserve.storage.tables import Job, PredictionRecord
from tests.live import serving

from .conftest import exam_csv

pytestmark = pytest.mark.server
HOST = socket.gethostname()
ROWS = 200_000


@dataclass
class Server:
    base: str
    auth: dict[str, str]
    engine: Engine

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, headers={**self.auth, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), json.loads(error.read())

    def submit(self, rows: int) -> str:
        status, headers, body = self.request(
            "/api/v1/models/exam/batch", exam_csv(rows), {"Content-Type": "text/csv"}
        )
        assert status == 202, body
        return headers["Location"]

    def job(self, location: str) -> dict[str, Any]:
        """GET the job, retrying while the server has no worker to answer (a respawn)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return self.request(location)[2]
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def wait(self, location: str, done: tuple[str, ...], seconds: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = self.job(location)
            if body["status"] in done:
                return body
            time.sleep(0.02)
        raise AssertionError(f"job still {body['status']}: {body}")

    def mid_run(self, location: str) -> str:
        """Wait until the job is running with rows done; the "host:pid" of its worker."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = self.job(location)
            if body["status"] == "running" and body["progress"]["rows_done"] > 0:
                return self.worker(location)
            assert body["status"] in ("queued", "running"), body
            time.sleep(0.01)
        raise AssertionError("the job never ran")

    def worker(self, location: str) -> str:
        with self.engine.connect() as connection:
            found = connection.scalar(select(Job.worker).where(Job.id == _id(location)))
        return str(found)

    def history(self, location: str) -> tuple[int, int]:
        query = select(func.count(), func.count(func.distinct(PredictionRecord.id))).where(
            PredictionRecord.job_id == _id(location), PredictionRecord.source == "batch"
        )
        with self.engine.connect() as connection:
            total, distinct = connection.execute(query).one()
        return int(total), int(distinct)


def _id(location: str) -> str:
    return location.rsplit("/", 1)[-1]


@pytest.fixture
def server(demo_dir: Path, tmp_path: Path) -> Iterator[Server]:
    """`modelserve serve` with one gunicorn worker running jobs in-process, chunks of 2,000."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    env = {
        "MODELSERVE_DATABASE_URL": url,
        "MODELSERVE_JOB_CHUNK_ROWS": "2000",
        "MODELSERVE_JOB_SYNC_ROWS": "10",
    }
    args = ["serve", str(demo_dir / "exam"), "--workers", "1"]
    with serving(args, tmp_path / "instance", **env) as (base, _):
        helper = create_app(
            {"INSTANCE_PATH": str(tmp_path / "helper"), "DATABASE_URL": url, "LOAD_MODELS": False}
        )
        with helper.app_context():
            bob = accounts.create_user(db.session, "bob", "correct horse battery")
            secret = tokens.create_token(db.session, bob, name="jobs", scopes=["predict"])
            db.engine.dispose()
        helper.extensions["modelserve.history"].close()
        engine = create_engine(url)
        try:
            yield Server(base, {"Authorization": f"Bearer {secret.plaintext}"}, engine)
        finally:
            engine.dispose()


def test_a_killed_web_worker_fails_its_job_with_a_reason_and_the_next_succeeds(
    server: Server,
) -> None:
    location = server.submit(ROWS)
    worker = server.mid_run(location)
    host, _, pid = worker.rpartition(":")
    assert host == HOST
    os.kill(int(pid), signal.SIGKILL)
    body = server.wait(location, ("failed", "succeeded", "cancelled"))
    assert body["status"] == "failed", body
    assert body["error"]["code"] == "worker_lost"
    assert f"worker process {pid} on {HOST} stopped" in body["error"]["message"]
    nxt = server.submit(300)
    answer = server.wait(nxt, ("failed", "succeeded", "cancelled"))
    assert answer["status"] == "succeeded", answer
    assert server.worker(nxt) != worker  # the respawned worker scored it


def test_a_job_survives_a_graceful_web_worker_restart(server: Server) -> None:
    location = server.submit(ROWS)
    worker = server.mid_run(location)
    os.kill(int(worker.rpartition(":")[2]), signal.SIGTERM)  # gunicorn: graceful restart
    body = server.wait(location, ("failed", "succeeded", "cancelled"))
    assert body["status"] == "succeeded", body
    assert body["progress"]["rows_scored"] == ROWS
    assert server.worker(location) != worker  # handed back, then taken by the new worker
    assert server.history(location) == (ROWS, ROWS)  # the first try's records were dropped
