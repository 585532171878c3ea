"""History durability through a real gunicorn: one row per 200 under load, and outages.

Several workers, 16 concurrent clients, SIGTERM at the end: exactly one history row per 200
response, in both modes and on both databases. A PostgreSQL outage mid-run: async loses
nothing once the database returns; sync answers 503 meanwhile and recovers by itself.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.request import urlopen

import pytest
from sqlalchemy import create_engine, func, select

from modelserve.storage.tables import PredictionRecord
from tests.live import call, serving
from tests.pg import PostgresServer, create_database
from tests.test_metrics import samples, value

pytestmark = pytest.mark.server
PREDICT = "/api/v1/models/exam/predict"


def stored(url: str) -> tuple[int, int]:
    """(rows, distinct request ids) in the history."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = select(func.count(), func.count(func.distinct(PredictionRecord.request_id)))
            total, distinct = connection.execute(query).one()
    finally:
        engine.dispose()
    return int(total), int(distinct)


def hammer(base: str, requests: int, clients: int = 16) -> list[int]:
    def one(i: int) -> int:
        try:
            return call(f"{base}{PREDICT}", {"estudio": i % 12, "sueno": 7}, timeout=120)[0]
        except OSError:
            return 0

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(requests)))


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_one_history_row_per_200_then_sigterm(
    demo_dir: Path, tmp_path: Path, database_url: str, mode: str
) -> None:
    args = ["serve", str(demo_dir / "exam"), "--workers", "3"]
    env = {"MODELSERVE_DATABASE_URL": database_url, "MODELSERVE_HISTORY": mode}
    with serving(args, tmp_path / "instance", **env) as (base, process):
        statuses = hammer(base, 2000)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    answered = statuses.count(200)
    assert answered == 2000, Counter(statuses)
    assert stored(database_url) == (answered, answered)


@pytest.fixture
def own_postgres():
    server = PostgresServer()
    server.start()
    yield server
    try:
        server.stop()
    finally:
        server.remove()


def wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def writer_gauge(base: str, name: str) -> float:
    """A history writer gauge from /metrics (the largest or the sum over live workers)."""
    page = urlopen(f"{base}/metrics", timeout=30).read().decode()
    return value(samples(page), f"modelserve_history_{name}")


def test_async_loses_nothing_while_the_database_is_down(
    demo_dir: Path, tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = create_database(own_postgres.url)
    env = {"MODELSERVE_DATABASE_URL": url, "MODELSERVE_HISTORY": "async"}
    with serving(["serve", str(demo_dir / "exam"), "--workers", "2"], tmp_path / "i", **env) as (
        base,
        process,
    ):
        before = hammer(base, 200)
        own_postgres.stop()
        during = hammer(base, 200)
        assert wait_for(lambda: writer_gauge(base, "spooling") == 1)  # /metrics tells
        own_postgres.start()
        after = hammer(base, 100)
        assert before.count(200) == 200 and during.count(200) == 200 and after.count(200) == 100
        assert wait_for(lambda: stored(url)[0] == 500), stored(url)
        assert wait_for(lambda: writer_gauge(base, "spooling") == 0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert stored(url) == (500, 500)
    assert not list((tmp_path / "i" / "spool").glob("*.jsonl"))


def test_sync_answers_503_while_down_and_recovers(
    demo_dir: Path, tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = create_database(own_postgres.url)
    env = {
        "MODELSERVE_DATABASE_URL": url,
        "MODELSERVE_HISTORY": "sync",
        "MODELSERVE_RETRY_AFTER": "3",
    }
    with serving(["serve", str(demo_dir / "exam"), "--workers", "2"], tmp_path / "i", **env) as (
        base,
        _,
    ):
        ok = hammer(base, 50)
        own_postgres.stop()
        status, headers, body = call(f"{base}{PREDICT}", {"estudio": 5, "sueno": 5})
        assert status == 503 and headers["Retry-After"] == "3"
        assert "database" in body["detail"]
        down = hammer(base, 50)
        own_postgres.start()
        assert wait_for(lambda: call(f"{base}{PREDICT}", {"estudio": 5, "sueno": 5})[0] == 200)
        recovered = hammer(base, 50)
    assert ok.count(200) == 50 and set(down) == {503} and recovered.count(200) == 50
    rows, _ = stored(url)
    assert rows == 50 + 1 + 50  # the probe that finally answered 200 is on record too


def test_recycled_workers_lose_nothing(demo_dir: Path, tmp_path: Path, database_url: str) -> None:
    """Workers recycled every few dozen requests under load (`--max-requests`): each leaves
    without the interpreter's teardown, after writing its history; nothing is lost, every
    answer has its log line, and /metrics still adds up what the gone workers counted."""
    args = ["serve", str(demo_dir / "exam"), "--workers", "2"]
    args += ["--max-requests", "40", "--max-requests-jitter", "10"]
    env = {"MODELSERVE_DATABASE_URL": database_url}
    with serving(args, tmp_path / "instance", **env) as (base, process):
        statuses = hammer(base, 600, clients=8)
        found = samples(urlopen(f"{base}/metrics", timeout=30).read().decode())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    answered = statuses.count(200)
    assert answered >= 590, Counter(statuses)  # a connection cut by a recycle may fail
    assert stored(database_url) == (answered, answered)
    ok = {"model": "exam", "version": "1.0.0", "door": "api", "status": "200"}
    assert value(found, "modelserve_predictions_total", **ok) == answered
    log = next((tmp_path / "instance").parent.glob("server-*.log")).read_text()
    assert log.count('"event":"prediction"') == answered
    assert "Autorestarting worker" in log and "Traceback" not in log
