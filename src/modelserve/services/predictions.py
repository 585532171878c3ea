"""Validate -> predict -> report: the one path every prediction takes."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, overload

from ..runtime.batching import OverloadedError
from ..runtime.errors import DeadlineExceededError, TooManyRowsError, ValidationError
from ..runtime.predictor import Prediction
from ..runtime.registry import LoadedModel, Registry
from ..runtime.schema import Columns
from ..storage.history import HistoryUnavailableError
from ..storage.tables import new_record_id, utcnow
from . import batch_records
from .answers import Preformatted, answers_json, rows_json
from .logfields import log_fields

log = logging.getLogger("modelserve.predictions")
T = TypeVar("T")


class computed_once(Generic[T]):
    """`functools.cached_property` without its lock (Python 3.11 takes an RLock on each
    access before the value is stored: ~1 µs, and a request reads two). The value is computed
    on first access and stored in the instance's `__dict__`, where later lookups find it
    before this (non-data) descriptor. Two threads could both compute it; an outcome is one
    request's."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> computed_once[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@dataclass(frozen=True)
class Outcome:
    """A served prediction: which model answered, the clean inputs, the answer, the time."""

    model: LoadedModel
    columns: Columns
    prediction: Prediction
    latency_ms: float

    @computed_once
    def rows(self) -> list[dict[str, Any]]:
        """The clean inputs as one dict per row, built only when asked (a batch answer is not)."""
        return self.columns.rows()

    @computed_once
    def answers(self) -> list[dict[str, Any]]:
        """One JSON answer per row, built once for the response and the history records."""
        return rows_json(self.prediction)


@dataclass(frozen=True)
class Caller:
    """Who asks, and through which door. `scopes` is None unless a token is used."""

    source: str
    request_id: str
    log_inputs: bool = False
    user_id: int | None = None
    role: str | None = None
    token_id: int | None = None
    scopes: tuple[str, ...] | None = None
    job_id: str | None = None
    # Metrics: called as observe(model, version, source, outcome, rows, seconds).
    observe: Callable[..., None] | None = None


class Gate(Protocol):
    """Refuses a caller a model (raises), or lets it through."""

    def check(self, model: LoadedModel, caller: Caller) -> None: ...


class Recorder(Protocol):
    """Keeps the history records of finished predictions. A request of `batch_rows` rows or
    more (when it is not 0) is handed over as one batch record."""

    batch_rows: int

    def record(self, rows: list[dict[str, Any]]) -> None: ...


def predict(
    registry: Registry,
    name: str,
    rows: Sequence[object],
    caller: Caller,
    *,
    max_rows: int = 0,
    gate: Gate | None = None,
    recorder: Recorder | None = None,
) -> Outcome:
    """Check access, validate every row, run the model under its deadline, record, log."""
    model = registry.get(name)
    if gate is not None:
        gate.check(model, caller)
    if max_rows and len(rows) > max_rows:
        raise TooManyRowsError(len(rows), max_rows)
    with _logged(model, rows, caller) as started:
        columns = model.schema.validate(rows)
        prediction = registry.run(model, columns)
        outcome = Outcome(model, columns, prediction, (time.perf_counter() - started) * 1000)
        if recorder is not None:
            recorder.record(history_rows(outcome, caller, recorder.batch_rows))
    return outcome


def history_rows(outcome: Outcome, caller: Caller, batch_rows: int = 0) -> list[dict[str, Any]]:
    """The history records of a prediction, with their ids made now (replays never duplicate):
    one per predicted row, or one batch record for a request of `batch_rows` rows or more."""
    n_rows = outcome.columns.n_rows
    if batch_rows and n_rows >= batch_rows:
        return [batch_record(outcome, caller)]
    now = utcnow()
    latency = outcome.latency_ms / max(n_rows, 1)
    names = outcome.columns.names
    # Each row's clean inputs straight from the columns (NaN stored as null), one dict each.
    inputs = (
        dict(zip(names, map(_json_value, row), strict=True))
        for row in zip(*outcome.columns.values, strict=True)
    )
    return [
        _record(outcome, caller, now, clean, answer, latency)
        for clean, answer in zip(inputs, outcome.answers, strict=True)
    ]


def batch_record(outcome: Outcome, caller: Caller) -> dict[str, Any]:
    """One record for every row of the request: counts in columns, the rows in a columnar
    payload built from the validated columns and the numpy answer (no per-row objects)."""
    counts = batch_records.label_counts(outcome.prediction)
    # The request's whole latency; `inputs` is {} and the answer columns empty.
    record = _record(outcome, caller, utcnow(), {}, {}, outcome.latency_ms)
    record["rows"] = outcome.columns.n_rows
    record["label_counts"] = counts
    record["label_keys"] = None if counts is None else batch_records.label_keys(counts)
    record["payload"] = batch_records.encode(outcome.columns, outcome.prediction)
    return record


def _record(
    outcome: Outcome,
    caller: Caller,
    now: datetime,
    inputs: dict[str, Any],
    answer: dict[str, Any],
    latency_ms: float,
) -> dict[str, Any]:
    manifest = outcome.model.manifest
    return {
        "id": new_record_id(),
        "created_at": now,
        "model": manifest.name,
        "version": manifest.version,
        "sha256": outcome.model.sha256,
        "inputs": inputs,
        "label": None if "label" not in answer else str(answer["label"]),
        "probabilities": answer.get("probabilities"),
        "value": answer.get("value"),
        "latency_ms": latency_ms,
        "user_id": caller.user_id,
        "token_id": caller.token_id,
        "source": caller.source,
        "request_id": caller.request_id,
        "job_id": caller.job_id,
    }


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


@contextmanager
def _logged(model: LoadedModel, rows: Sequence[object], caller: Caller) -> Iterator[float]:
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield started
    except ValidationError:
        outcome = "invalid"
        raise
    except DeadlineExceededError:
        outcome = "deadline_exceeded"
        raise
    except OverloadedError:
        outcome = "overloaded"
        raise
    except HistoryUnavailableError:
        outcome = "history_unavailable"
        raise
    except Exception:
        outcome = "error"
        raise
    finally:
        seconds = time.perf_counter() - started
        if caller.observe is not None:
            caller.observe(
                model.name, model.manifest.version, caller.source, outcome, len(rows), seconds
            )
        record: dict[str, Any] = {
            "event": "prediction",
            "model": model.name,
            "version": model.manifest.version,
            "rows": len(rows),
            "latency_ms": round(seconds * 1000, 3),
            "outcome": outcome,
            "source": caller.source,
            "request_id": caller.request_id,
            "user_id": caller.user_id,
            "token_id": caller.token_id,
        }
        if caller.log_inputs:
            record["inputs"] = json.dumps(rows, default=str)[:10_000]
        level = logging.INFO if outcome in ("ok", "invalid") else logging.WARNING
        log_fields(log, level, f"prediction {outcome}", record)


def as_json(outcome: Outcome) -> dict[str, Any]:
    """The JSON body of a prediction answer (a batch's answers as preformatted JSON text)."""
    manifest = outcome.model.manifest
    text = answers_json(outcome.prediction)
    return {
        "model": manifest.name,
        "version": manifest.version,
        "predictions": outcome.answers if text is None else Preformatted(text),
    }
