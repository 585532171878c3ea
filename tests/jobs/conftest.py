"""Batch jobs: a token holder, files to upload, and waiting for a job to finish."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelserve.extensions import db
from modelserve.services import tokens
from modelserve.services.jobs import JobRunner
from modelserve.storage.tables import User
from tests.redis_server import redis_server


@pytest.fixture
def token(app: Flask, users: dict[str, int]) -> str:
    """An API token of `bob` (a plain user) with the predict scope."""
    with app.app_context():
        bob = db.session.get(User, users["bob"])
        return tokens.create_token(db.session, bob, name="batch", scopes=["predict"]).plaintext


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def exam_csv(rows: int, *, bad: dict[int, str] | None = None, sep: str = ",") -> bytes:
    """`rows` rows of the exam model (estudio, sueno); `bad` replaces whole lines by row."""
    lines = [f"estudio{sep}sueno{sep}alumno"]
    for i in range(1, rows + 1):
        line = (bad or {}).get(i)
        lines.append(line if line is not None else f"{i % 10}.5{sep}{(i * 7) % 10}{sep}s{i}")
    return ("\n".join(lines) + "\n").encode()


def wait_for(client: FlaskClient, location: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll a job until it finishes (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(location, headers=headers).get_json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {body}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server (Debian's redis-server) for the whole session: its base URL."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


class Holds:
    """Stops the job worker after the chunk that reaches each row count, until released."""

    def __init__(self, runner: JobRunner, rows: list[int]) -> None:
        self.points = [(n, threading.Event(), threading.Event()) for n in rows]
        report = runner._report

        def held(session: Any, job: Any, tally: Any) -> bool:
            going = report(session, job, tally)  # progress is written first, then we wait
            for n, reached, release in self.points:
                if tally.done >= n and not reached.is_set():
                    reached.set()
                    release.wait(60)
            return going

        runner._report = held  # type: ignore[method-assign]
        self.runner, self.original = runner, report

    def reach(self, index: int) -> None:
        assert self.points[index][1].wait(30), f"the job never reached {self.points[index][0]}"

    def release(self, index: int) -> None:
        self.points[index][2].set()

    def close(self) -> None:
        for _, _, release in self.points:
            release.set()
        self.runner._report = self.original  # type: ignore[method-assign]
