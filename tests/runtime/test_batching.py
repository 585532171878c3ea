"""Micro-batching: concurrent callers share model calls, and each gets its own answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from modelserve import create_app
from modelserve.runtime.batching import BatchSettings, MicroBatcher, OverloadedError
from modelserve.runtime.registry import Registry, load_source


class Gate:
    """Wraps an engine run: each call waits until the test opens the gate (a busy model)."""

    def __init__(self, run) -> None:
        self.run, self.open, self.calls = run, threading.Event(), []
        self.entered = threading.Event()

    def __call__(self, columns):
        self.calls.append(columns.n_rows)
        self.entered.set()
        assert self.open.wait(10)
        return self.run(columns)


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.001)


def test_batched_answers_equal_unbatched(demo_dir: Path) -> None:
    model = load_source(demo_dir / "iris")
    rng = np.random.default_rng(7)
    requests = [
        [
            {f.name: float(rng.uniform(0.5, 8)) for f in model.schema.features}
            for _ in range(int(rng.integers(1, 4)))
        ]
        for _ in range(40)
    ]
    columns = [model.schema.validate(rows) for rows in requests]
    alone = [model.engine.run(c) for c in columns]
    gate = Gate(model.engine.run)
    batcher = MicroBatcher(gate, BatchSettings(max_rows=64, max_wait_us=2000, max_queue=100))
    with ThreadPoolExecutor(len(columns)) as pool:
        first = pool.submit(batcher.run, columns[0], 10)
        assert gate.entered.wait(10)  # the first call is busy: everyone else queues up
        rest = [pool.submit(batcher.run, c, 10) for c in columns[1:]]
        wait_for(lambda: len(batcher._pending) == len(rest))
        gate.open.set()
        together = [first.result(), *(f.result() for f in rest)]
    assert batcher.largest_batch > 1 and len(gate.calls) < len(columns)
    for mine, solo in zip(together, alone, strict=True):
        assert mine.labels == solo.labels
        np.testing.assert_allclose(mine.probabilities, solo.probabilities, rtol=0, atol=1e-12)


def test_a_full_queue_refuses_at_once(demo_dir: Path) -> None:
    model = load_source(demo_dir / "exam")
    columns = model.schema.validate([{"estudio": 5, "sueno": 7}])
    gate = Gate(model.engine.run)
    batcher = MicroBatcher(gate, BatchSettings(max_rows=8, max_wait_us=0, max_queue=2))
    with ThreadPoolExecutor(4) as pool:
        busy = pool.submit(batcher.run, columns, 10)
        assert gate.entered.wait(10)
        waiting = [pool.submit(batcher.run, columns, 10) for _ in range(2)]
        wait_for(lambda: len(batcher._pending) == 2)
        with pytest.raises(OverloadedError):
            batcher.run(columns, 10)
        gate.open.set()
        assert all(f.result().labels for f in [busy, *waiting])


def test_overload_is_a_503_with_retry_after(tmp_path: Path, demo_dir: Path, monkeypatch) -> None:
    registry = Registry(
        [load_source(demo_dir / "exam")], timeout=10, batching=BatchSettings(max_queue=0)
    )
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "REGISTRY": registry, "TESTING": True})
    response = app.test_client().post(
        "/api/v1/models/exam/predict", json={"estudio": 5, "sueno": 7}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/problem+json"


def test_a_registry_with_batching_answers_like_one_without(demo_dir: Path) -> None:
    model = load_source(demo_dir / "exam")
    batched = Registry([model], timeout=10, batching=BatchSettings())
    columns = model.schema.validate([{"estudio": 2, "sueno": 9}, {"estudio": 8, "sueno": 5}])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: batched.run(model, columns), range(32)))
    solo = model.engine.run(columns)
    assert all(a.labels == solo.labels for a in answers)


def test_a_failing_observer_leaves_no_caller_waiting(demo_dir: Path) -> None:
    """The observer (the app's metrics) runs before the call: if it raises, every request
    still gets its answer, and the batcher still serves later requests."""
    model = load_source(demo_dir / "exam")

    def broken(requests: int, waiting: int) -> None:
        raise RuntimeError("metrics are down")

    batcher = MicroBatcher(model.engine.run, BatchSettings(max_wait_us=2000), broken)
    columns = model.schema.validate([{"estudio": 6, "sueno": 8}])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: batcher.run(columns, 10), range(40)))
    alone = model.engine.run(columns)
    assert all(list(a.labels) == list(alone.labels) for a in answers)
    assert list(batcher.run(columns, 10).labels) == list(alone.labels)
