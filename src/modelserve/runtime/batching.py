"""Adaptive micro-batching for threaded servers: concurrent requests share one model call.

Under gthread (or waitress), several threads of one process may predict with the same model
at once. Each call pays the model's per-call overhead (~250 µs for scikit-learn); one call
on their rows together pays it once. The first caller becomes the *leader*: if other
requests are in flight it waits up to `max_wait_us` for them to join (never when it is alone,
so a quiet server adds no latency), runs up to `max_rows` rows in one call, and hands each
caller exactly the slice of the answer for its own rows. Followers wait under their deadline.
A full queue refuses at once with `OverloadedError` (503 with Retry-After). An `observer`,
when given, hears of every call formed: how many requests it serves and how many are left
waiting (the app turns that into Prometheus metrics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import DeadlineExceededError, RuntimeFault
from .predictor import Prediction
from .schema import Columns

log = logging.getLogger("modelserve.batching")


class OverloadedError(RuntimeFault):
    """The batching queue is full: the client should retry shortly."""

    def __init__(self, queued: int) -> None:
        super().__init__(f"{queued} requests already waiting")
        self.queued = queued


@dataclass(frozen=True)
class BatchSettings:
    max_rows: int = 256
    max_wait_us: int = 500
    max_queue: int = 512


@dataclass(eq=False)
class _Job:
    columns: Columns
    done: threading.Event = field(default_factory=threading.Event)
    result: Prediction | None = None
    error: BaseException | None = None


# observer(requests in the call, requests still waiting), outside the batcher's lock.
BatchObserver = Callable[[int, int], None]


class MicroBatcher:
    """Coalesces concurrent `run` calls for one model into calls of `runner`."""

    def __init__(
        self,
        runner: Callable[[Columns], Prediction],
        settings: BatchSettings,
        observer: BatchObserver | None = None,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.observer = observer
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._leading = False
        self._in_flight = 0
        self.largest_batch = 0  # jobs in the largest call so far (for tests and metrics)

    def run(self, columns: Columns, timeout: float | None) -> Prediction:
        job = _Job(columns)
        with self._lock:
            if len(self._pending) >= self.settings.max_queue:
                raise OverloadedError(len(self._pending))
            self._pending.append(job)
            self._in_flight += 1
            lead = not self._leading
            self._leading = self._leading or lead
        try:
            if lead:
                self._lead()
            if not job.done.wait(timeout):
                raise DeadlineExceededError(timeout or 0)
        finally:
            with self._lock:
                self._in_flight -= 1
                if not job.done.is_set() and job in self._pending:
                    self._pending.remove(job)  # gave up: nobody should compute it
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _lead(self) -> None:
        """Serve batches until nobody is waiting, then step down."""
        while True:
            self._gather()
            with self._lock:
                batch = self._take()
                waiting = len(self._pending)
                if not batch:
                    self._leading = False
                    return
            if self.observer is not None:
                try:
                    self.observer(len(batch), waiting)
                except Exception:  # metrics must never leave the batch's callers waiting
                    log.exception("micro-batch observer failed")
            self._serve(batch)

    def _gather(self) -> None:
        """Wait for followers only while requests are in flight that have not queued yet."""
        deadline = time.perf_counter() + self.settings.max_wait_us / 1e6
        while time.perf_counter() < deadline:
            with self._lock:
                rows = sum(j.columns.n_rows for j in self._pending)
                others_coming = self._in_flight > len(self._pending)
            if rows >= self.settings.max_rows or not others_coming:
                return
            time.sleep(0)  # yield the GIL to the threads still validating

    def _take(self) -> list[_Job]:
        batch: list[_Job] = []
        rows = 0
        limit = self.settings.max_rows
        while self._pending and (not batch or rows + self._pending[0].columns.n_rows <= limit):
            job = self._pending.pop(0)
            batch.append(job)
            rows += job.columns.n_rows
        return batch

    def _serve(self, batch: list[_Job]) -> None:
        self.largest_batch = max(self.largest_batch, len(batch))
        try:
            answer = self.runner(_concat([j.columns for j in batch]))
        except BaseException as exc:  # every caller in the batch gets the same failure
            for job in batch:
                job.error = exc
                job.done.set()
            return
        start = 0
        for job in batch:
            job.result = _slice(answer, start, start + job.columns.n_rows)
            start += job.columns.n_rows
            job.done.set()


def _concat(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    values = [[v for part in parts for v in part.values[j]] for j in range(len(parts[0].names))]
    return Columns(parts[0].names, values, sum(p.n_rows for p in parts))


def _slice(answer: Prediction, start: int, stop: int) -> Prediction:
    return Prediction(
        answer.classes,
        answer.labels[start:stop],
        probabilities=None if answer.probabilities is None else answer.probabilities[start:stop],
        values=None if answer.values is None else answer.values[start:stop],
        label_index=None if answer.label_index is None else answer.label_index[start:stop],
    )
