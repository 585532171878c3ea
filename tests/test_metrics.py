"""/metrics reports what a load did: in one process, and added up over gunicorn's workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelserve.runtime.batching import BatchSettings
from modelserve.runtime.registry import Registry, load_source
from tests.test_server import call, serving

GOOD = {"estudio": 6, "sueno": 8}
BAD = {"estudio": "many", "sueno": 8}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_rows_and_failures(client) -> None:
    for _ in range(3):
        assert client.post("/api/v1/models/exam/predict", json=GOOD).status_code == 200
    batch = {"instances": [GOOD] * 7}
    assert client.post("/api/v1/models/exam/predict", json=batch).status_code == 200
    assert client.post("/api/v1/models/exam/predict", json=BAD).status_code == 422
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = samples(response.get_data(as_text=True))
    ok = {"model": "exam", "version": "1.0.0", "door": "api"}
    assert value(found, "modelserve_predictions_total", **ok, status="200") == 4
    assert value(found, "modelserve_predictions_total", **ok, status="422") == 1
    assert value(found, "modelserve_prediction_seconds_count", **ok, status="200") == 4
    assert value(found, "modelserve_batch_rows_sum", **ok) == 3 + 7 + 1
    assert value(found, "modelserve_batch_rows_bucket", **ok, le="5.0") == 4
    assert value(found, "modelserve_validation_failures_total", **ok) == 1


def test_metrics_report_the_history_writers_queue_lag_and_spooling(make_app) -> None:
    app = make_app(HISTORY="async", HISTORY_FLUSH_INTERVAL=60)  # written when flushed here
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/v1/models/exam/predict", json=GOOD).status_code == 200
    batch = {"instances": [GOOD] * 7}
    assert client.post("/api/v1/models/exam/predict", json=batch).status_code == 200
    app.extensions["modelserve.history"].flush()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "modelserve_history_queue_rows") == 3 + 7
    assert 0 < value(found, "modelserve_history_write_lag_seconds") < 30
    assert value(found, "modelserve_history_spooling") == 0


def test_metrics_report_micro_batched_calls(make_app, demo_dir: Path) -> None:
    """Every request through the batcher is in exactly one model call: the calls' requests
    add up to the requests, however many the threads made share a call."""
    registry = Registry([load_source(demo_dir / "exam")], batching=BatchSettings())
    app = make_app(REGISTRY=registry)

    def predict(_: int) -> int:
        return app.test_client().post("/api/v1/models/exam/predict", json=GOOD).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(predict, range(40))) == {200}
    found = samples(app.test_client().get("/metrics").get_data(as_text=True))
    assert value(found, "modelserve_batching_call_requests_sum", model="exam") == 40
    assert 1 <= value(found, "modelserve_batching_call_requests_count", model="exam") <= 40
    assert value(found, "modelserve_batching_call_requests_bucket", model="exam", le="+Inf") == (
        value(found, "modelserve_batching_call_requests_count", model="exam")
    )
    assert value(found, "modelserve_batching_queue_requests", model="exam") == 0  # all served


def test_metrics_can_be_turned_off(make_app) -> None:
    client = make_app(METRICS=False).test_client()
    assert client.post("/api/v1/models/exam/predict", json=GOOD).status_code == 200
    assert "modelserve_predictions_total" not in client.get("/metrics").get_data(as_text=True)


@pytest.mark.server
def test_gunicorn_workers_add_up_in_metrics(demo_dir: Path, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    args = ["serve", str(demo_dir / "exam"), "--workers", "2"]
    with serving(args, instance) as (base, _):
        url = f"{base}/api/v1/models/exam/predict"
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda b: call(url, b)[0], [GOOD] * 40 + [BAD] * 5))
        assert statuses.count(200) == 40 and statuses.count(422) == 5
        pages = set()
        for _ in range(6):  # whichever worker answers, it reports both workers' counts
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                pages.add(response.read().decode())
        folders = list((instance / "prometheus").glob("run-*"))
    ok = {"model": "exam", "version": "1.0.0", "door": "api"}
    for page in pages:
        found = samples(page)
        assert value(found, "modelserve_predictions_total", **ok, status="200") == 40
        assert value(found, "modelserve_validation_failures_total", **ok) == 5
        assert value(found, "modelserve_batch_rows_count", **ok) == 45
    assert len(folders) == 1 and any(folders[0].glob("*.db"))


@pytest.mark.server
def test_gthread_workers_report_batched_calls_and_the_history_writer(
    demo_dir: Path, tmp_path: Path
) -> None:
    args = ["serve", str(demo_dir / "exam"), "--workers", "2", "--threads", "4"]
    with serving(args, tmp_path / "instance") as (base, _):
        url = f"{base}/api/v1/models/exam/predict"
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda b: call(url, b)[0], [GOOD] * 40)) == {200}
        time.sleep(1)  # each worker's writer passes every 0.1 s
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            found = samples(response.read().decode())
    # Added up over both workers' files (livesum / livemax gauges, histograms).
    assert value(found, "modelserve_batching_call_requests_sum", model="exam") == 40
    assert value(found, "modelserve_batching_queue_requests", model="exam") == 0
    assert value(found, "modelserve_history_queue_rows") == 0  # both written by now
    assert 0 < value(found, "modelserve_history_write_lag_seconds") < 30
    assert value(found, "modelserve_history_spooling") == 0


# Run in a fresh interpreter: prometheus_client fixes its multiprocess mode at import.
OBSERVE_SCRIPT = """
import os, sys
from modelserve import metrics

if sys.argv[1] == "public":
    metrics.DirectWrites.supported = staticmethod(lambda children: False)
m = metrics.Metrics()
load = [("ok", 1, 0.0004), ("ok", 7, 0.003), ("invalid", 1, 0.0001), ("ok", 20000, 12.0),
        ("deadline_exceeded", 2, 0.25), ("ok", 1, 0.001)]
for outcome, rows, seconds in load:
    m.observe("exam", "1.0.0", "api", outcome, rows, seconds)
child = os.fork()
if child == 0:  # a gunicorn worker forked after the master counted: its own file
    for outcome, rows, seconds in load:
        m.observe("exam", "1.0.0", "api", outcome, rows, seconds)
    os._exit(0)
os.waitpid(child, 0)
m.observe("exam", "1.0.0", "web", "ok", 1, 0.002)
sys.stdout.buffer.write(m.exposition())
"""


def test_direct_multiprocess_writes_report_what_the_public_api_would(tmp_path: Path) -> None:
    """The one-pass writes put the same numbers in the shared files as prometheus_client's
    own calls, across a fork too (each process its own file, added up at /metrics)."""
    pages = {}
    for mode in ("public", "direct"):
        folder = tmp_path / mode
        folder.mkdir()
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
        done = subprocess.run(
            [sys.executable, "-c", OBSERVE_SCRIPT, mode],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        pages[mode] = samples(done.stdout)
    assert pages["direct"] == pages["public"]
    ok = {"model": "exam", "version": "1.0.0", "door": "api"}
    found = pages["direct"]
    assert value(found, "modelserve_predictions_total", **ok, status="200") == 8
    assert value(found, "modelserve_prediction_seconds_bucket", **ok, status="200", le="+Inf") == 8
    assert value(found, "modelserve_batch_rows_bucket", **ok, le="10000.0") == 10
    assert value(found, "modelserve_batch_rows_sum", **ok) == 2 * (1 + 7 + 1 + 20000 + 2 + 1)
    assert value(found, "modelserve_validation_failures_total", **ok) == 2
