"""/metrics reports what a load did: in one process, and added up over gunicorn's workers."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

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
