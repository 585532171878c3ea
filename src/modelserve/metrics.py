"""Prometheus metrics at /metrics: requests, latency, batch sizes and validation failures.

Under gunicorn every worker is a process of its own, so the counts live in files shared
through `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode) and /metrics adds
up all workers. `modelserve serve` points that variable at a fresh folder per run inside the
instance folder (`prepare_multiprocess_dir`) before prometheus_client is imported: the mode
is chosen at import time. Without it (one process: tests, waitress, `flask run`) each app
keeps its own in-memory registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app

from .processes import alive

ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
ROW_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
STATUS = {
    "ok": "200",
    "invalid": "422",
    "deadline_exceeded": "503",
    "overloaded": "503",
    "error": "500",
}

bp = Blueprint("metrics", __name__)


def prepare_multiprocess_dir(instance: Path) -> Path:
    """A fresh folder for this run's worker files; folders of runs that ended are removed."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    root = instance / "prometheus"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("run-*"):
        if not alive(int(old.name.removeprefix("run-") or 0)):
            shutil.rmtree(old, ignore_errors=True)
    folder = root / f"run-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    os.environ[ENV] = str(folder)
    return folder


def worker_exit(pid: int) -> None:
    """gunicorn's child_exit hook: let the live-process gauges forget a dead worker."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(pid)


class Metrics:
    """The app's metric families, and a cache of their labelled children (one lookup each)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram  # noqa: PLC0415

        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model", "version", "door", "status"]
        self.requests = Counter(
            "modelserve_predictions", "Prediction requests.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "modelserve_prediction_seconds",
            "Time to validate and predict, seconds.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Histogram(
            "modelserve_batch_rows",
            "Rows per prediction request.",
            labels[:3],
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.invalid = Counter(
            "modelserve_validation_failures",
            "Requests refused because an input was invalid.",
            labels[:3],
            registry=self.registry,
        )
        self._children: dict[tuple[str, ...], tuple[Any, ...]] = {}

    def observe(
        self, model: str, version: str, door: str, outcome: str, rows: int, seconds: float
    ) -> None:
        """Record one prediction request (the service calls this for every outcome)."""
        key = (model, version, door, STATUS.get(outcome, outcome))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(*key),
                self.latency.labels(*key),
                self.rows.labels(*key[:3]),
                self.invalid.labels(*key[:3]),
            )
        children[0].inc()
        children[1].observe(seconds)
        children[2].observe(rows)
        if outcome == "invalid":
            children[3].inc()

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

        if not os.environ.get(ENV):
            return generate_latest(self.registry)
        from prometheus_client import multiprocess  # noqa: PLC0415

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)


def get_metrics() -> Metrics | None:
    metrics: Metrics | None = current_app.extensions.get("modelserve.metrics")
    return metrics


@bp.get("/metrics")
def metrics_view() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST  # noqa: PLC0415

    metrics = get_metrics()
    body = metrics.exposition() if metrics else b""
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def register_metrics(app: Flask) -> None:
    """Count predictions (MODELSERVE_METRICS, on by default) and serve /metrics."""
    if app.config.get("METRICS", True):
        app.extensions["modelserve.metrics"] = Metrics()
    app.register_blueprint(bp)
