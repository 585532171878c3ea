"""Trust, but verify: a faster engine is used only if it answers like the original.

`reference_rows` are the package's `reference.csv` (training rows) when it has one, plus rows
generated from the schema (every choice, the ends and middle of every range), so a replay is
checked on the inputs it will meet. `accelerate` swaps in the exact fast path only when its
probabilities or values are within `FAST_PATH_TOLERANCE` of the original's and every label is
the same; otherwise it keeps the original and says why.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ValidationError
from .fastpath import FastEngine, NotReplayable, replay
from .manifest import Feature
from .predictor import Engine, SklearnEngine
from .schema import Columns, InputSchema, example_value

log = logging.getLogger("modelserve.runtime")

FAST_PATH_TOLERANCE = 1e-9
GENERATED_ROWS = 64
REFERENCE_LIMIT = 200


@dataclass(frozen=True)
class Verdict:
    """Whether a candidate engine matches the original, and the evidence."""

    ok: bool
    reason: str
    rows: int = 0
    max_diff: float = 0.0


def reference_rows(schema: InputSchema, folder: Path | None) -> list[dict[str, Any]]:
    """Valid rows to compare engines on: reference.csv (if any), then generated ones."""
    rows: list[dict[str, Any]] = []
    path = folder / "reference.csv" if folder else None
    if path is not None and path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            for raw in csv.DictReader(handle):
                row = {k: v for k, v in raw.items() if k in schema.names and v != ""}
                if _valid(schema, row):
                    rows.append(row)
                if len(rows) >= REFERENCE_LIMIT:
                    break
    return rows + generated_rows(schema.features)


def _valid(schema: InputSchema, row: dict[str, Any]) -> bool:
    try:
        schema.validate([row])
    except ValidationError:
        return False
    return True


def generated_rows(features: Sequence[Feature], n: int = GENERATED_ROWS) -> list[dict[str, Any]]:
    """Deterministic rows spanning each feature's range and choices."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for feat in features:
            if feat.type == "category":
                choices = feat.choices or [example_value(feat)]
                row[feat.name] = choices[i % len(choices)]
            elif feat.type == "text":
                row[feat.name] = example_value(feat)
            else:
                low = feat.min if feat.min is not None else -100.0
                high = feat.max if feat.max is not None else low + 200.0
                edge = {0: low, 1: high}.get(i)
                value = edge if edge is not None else float(rng.uniform(low, high))
                row[feat.name] = round(value) if feat.type == "integer" else value
        rows.append(row)
    return rows


def compare(original: Engine, candidate: Engine, columns: Columns, tolerance: float) -> Verdict:
    """Run both engines on `columns`; the candidate must match within `tolerance`."""
    try:
        want, got = original.run(columns), candidate.run(columns)
    except Exception as exc:  # any failure of either means "do not use it"
        return Verdict(False, f"{type(exc).__name__}: {exc}")
    if want.values is None and list(want.labels) != list(got.labels):  # values: compared below
        return Verdict(False, "a predicted label differs")
    diff = max(_diff(want.probabilities, got.probabilities), _diff(want.values, got.values))
    if not diff <= tolerance:  # NaN fails too
        return Verdict(False, f"differs by {diff:.3g} (> {tolerance:g})", columns.n_rows, diff)
    return Verdict(True, f"matches within {diff:.3g}", columns.n_rows, diff)


def _diff(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None and b is None:
        return 0.0
    if a is None or b is None or np.shape(a) != np.shape(b):
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b)))


def accelerate(
    engine: Engine, schema: InputSchema, folder: Path | None, name: str
) -> tuple[Engine, str]:
    """The verified fast path of `engine` if it has one, else `engine`; and a note saying so."""
    if not isinstance(engine, SklearnEngine):
        return engine, f"{name}: no fast path for this format; the model's own runtime answers"
    try:
        fast = replay(engine)
    except NotReplayable as exc:
        return _refused(engine, name, str(exc))
    rows = reference_rows(schema, folder)
    verdict = compare(engine, fast, schema.validate(rows), FAST_PATH_TOLERANCE)
    if not verdict.ok:
        return _refused(engine, name, verdict.reason)
    fast.handles_missing = _missing_ok(engine, fast, schema)
    note = f"{name}: exact fast path on ({verdict.reason} on {verdict.rows} reference rows)"
    log.info(note)
    return fast, note


def _refused(engine: Engine, name: str, reason: str) -> tuple[Engine, str]:
    note = f"{name}: fast path off, scikit-learn answers ({reason})"
    log.warning(note)
    return engine, note


def _missing_ok(original: Engine, fast: FastEngine, schema: InputSchema) -> bool:
    """Optional features left empty: replay them only if both engines agree on them too."""
    optional = [f.name for f in schema.features if not f.required]
    if not optional:
        return True
    rows = [
        {k: v for k, v in row.items() if k not in optional} for row in reference_rows(schema, None)
    ]
    return compare(original, fast, schema.validate(rows), FAST_PATH_TOLERANCE).ok
