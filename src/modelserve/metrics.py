"""Prometheus metrics at /metrics: requests, latency, batch sizes and validation failures; the
micro-batching queues and calls; the history writer's queue, lag and spooling.

Under gunicorn every worker is a process of its own, so the counts live in files shared
through `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode) and /metrics adds
up all workers. `modelserve serve` points that variable at a fresh folder per run inside the
instance folder (`prepare_multiprocess_dir`) before prometheus_client is imported: the mode
is chosen at import time. Without it (one process: tests, waitress, `flask run`) each app
keeps its own in-memory registry. Gauges are per process and added up over the live workers
(`livesum`), or their largest value taken (`livemax`).
"""

from __future__ import annotations

import bisect
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app

from .processes import alive

if TYPE_CHECKING:
    from .storage.history import WriterPass


ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
ROW_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
CALL_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
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
        from prometheus_client import (  # noqa: PLC0415
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
        )

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
        self.batching_queue = Gauge(
            "modelserve_batching_queue_requests",
            "Requests left waiting in a model's micro-batching queue when its last call was "
            "formed, summed over workers.",
            ["model"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.batching_calls = Histogram(
            "modelserve_batching_call_requests",
            "Requests served by one micro-batched model call.",
            ["model"],
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
        self.history_queue = Gauge(
            "modelserve_history_queue_rows",
            "Predicted rows the history writer found waiting on its last pass, summed over "
            "workers.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.history_lag = Gauge(
            "modelserve_history_write_lag_seconds",
            "How long the oldest record of the history writer's last write had waited since "
            "its prediction, seconds; the longest over workers.",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.history_spooling = Gauge(
            "modelserve_history_spooling",
            "1 while a worker cannot reach the database and spools history records to disk.",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self._children: dict[tuple[str, ...], DirectWrites | tuple[Any, ...]] = {}

    def observe(
        self, model: str, version: str, door: str, outcome: str, rows: int, seconds: float
    ) -> None:
        """Record one prediction request (the service calls this for every outcome)."""
        key = (model, version, door, STATUS.get(outcome, outcome))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._labelled(key)
        invalid = outcome == "invalid"
        if isinstance(children, DirectWrites) and children.pid == os.getpid():
            children.write(seconds, rows, invalid)
            return
        requests, latency, sizes, failures = self._public(key)
        requests.inc()
        latency.observe(seconds)
        sizes.observe(rows)
        if invalid:
            failures.inc()
        if isinstance(children, DirectWrites):  # a forked process: its values now use its file
            children.pid = os.getpid()

    def batched(self, model: str, requests: int, waiting: int) -> None:
        """A micro-batched model call was formed (`Registry.on_batch`)."""
        self.batching_calls.labels(model).observe(requests)
        self.batching_queue.labels(model).set(waiting)

    def history_pass(self, done: WriterPass) -> None:
        """The history writer finished a pass (`HistoryWriter.observer`)."""
        self.history_queue.set(done.queued_rows)
        if done.lag_seconds is not None:
            self.history_lag.set(done.lag_seconds)
        self.history_spooling.set(1 if done.spooling else 0)

    def _public(self, key: tuple[str, ...]) -> tuple[Any, ...]:
        """The labelled children of `key`, through prometheus_client's public API."""
        return (
            self.requests.labels(*key),
            self.latency.labels(*key),
            self.rows.labels(*key[:3]),
            self.invalid.labels(*key[:3]),
        )

    def _labelled(self, key: tuple[str, ...]) -> DirectWrites | tuple[Any, ...]:
        # Made under the lock the direct writes take: a new child may grow the shared file.
        with DirectWrites.lock:
            children = self._public(key)
            if os.environ.get(ENV) and DirectWrites.supported(children):
                return DirectWrites(children)
            return children

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

        if not os.environ.get(ENV):
            return generate_latest(self.registry)
        from prometheus_client import multiprocess  # noqa: PLC0415

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)


class DirectWrites:
    """One label set's multiprocess values, written in one locked pass.

    prometheus_client's multiprocess value takes a lock, checks the process id and packs
    into the process's mmap file once per number: five times for one request (the counter,
    each histogram's bucket and sum), ~15 µs, the most expensive line of bookkeeping in a
    prediction. This writes the same five numbers into the same files (`write_value` of the
    value's own `MmapedDict`, the same keys), so `MultiProcessCollector` reads what the public
    API would have written, under one lock and with `bisect` for the bucket.

    It relies on private attributes of prometheus_client's multiprocess `MmapedValue`
    (`_value`, `_file`, `_key`) and of its histograms (`_sum`, `_buckets`, `_upper_bounds`);
    `supported` checks them first, and any other shape goes through the public API. A forked
    process first makes one public call (`Metrics.observe` compares `pid`), which points every
    value at the new process's file. Only `Metrics` writes these values, so its own lock is
    the one that matters; new children are made under it too.
    """

    lock = threading.Lock()

    def __init__(self, children: tuple[Any, ...]) -> None:
        requests, seconds, rows, invalid = children
        self.pid = os.getpid()
        self.requests = requests._value
        self.invalid = invalid._value
        self.seconds = (seconds._sum, seconds._buckets, seconds._upper_bounds)
        self.rows = (rows._sum, rows._buckets, rows._upper_bounds)

    @staticmethod
    def supported(children: tuple[Any, ...]) -> bool:
        requests, seconds, rows, invalid = children
        values = [requests._value, invalid._value]
        for histogram in (seconds, rows):
            if len(histogram._buckets) != len(getattr(histogram, "_upper_bounds", ())):
                return False
            values += [histogram._sum, *histogram._buckets]
        return all(
            getattr(v, "_multiprocess", False) and all(hasattr(v, a) for a in _VALUE_ATTRIBUTES)
            for v in values
        )

    def write(self, seconds: float, rows: int, invalid: bool) -> None:
        with self.lock:
            _add(self.requests, 1.0)
            _observe(self.seconds, seconds)
            _observe(self.rows, rows)
            if invalid:
                _add(self.invalid, 1.0)


_VALUE_ATTRIBUTES = ("_value", "_file", "_key")


def _observe(histogram: tuple[Any, list[Any], list[float]], amount: float) -> None:
    """`Histogram.observe(amount)`: the sum, then the first bucket whose bound is >= amount
    (the last bound is +Inf)."""
    total, buckets, bounds = histogram
    _add(total, amount)
    if amount == amount:  # noqa: PLR0124 - NaN falls in no bucket, as in Histogram.observe
        _add(buckets[bisect.bisect_left(bounds, amount)], 1.0)


def _add(value: Any, amount: float) -> None:
    """`MmapedValue.inc(amount)` minus its own lock and process check (see DirectWrites)."""
    value._value += amount
    value._file.write_value(value._key, value._value, 0.0)


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
        metrics = app.extensions["modelserve.metrics"] = Metrics()
        writer = app.extensions.get("modelserve.history")
        if writer is not None:
            writer.observer = metrics.history_pass
        registry = app.extensions.get("modelserve.registry")
        if registry is not None:
            registry.on_batch = metrics.batched
    app.register_blueprint(bp)
