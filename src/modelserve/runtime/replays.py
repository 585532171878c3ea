"""Recorded replays: a package's verified exact fast path, served without scikit-learn.

Recording (`record`, run by `write_package`, so by `modelserve models add` and the demo
models): the package is loaded the full way (the pinned artifacts, scikit-learn, the fast path
verified against the original on the reference rows). When the exact fast path is on and
needs no fallback, `replay.json` keeps:

- the replay plan: the fitted numbers, as bytes exact to the bit (`fastpath.plan`);
- the sha256 of every artifact it was read from, and the features it expects;
- the original's own answers on the reference rows, and on them with optional inputs empty.

`model.toml` pins the file under `[replay]`.

Loading (`load_recorded`): the replay answers only if it is still this package's. Every
artifact pin and the feature list must match, the file must match its pin, and the replay,
run again here, must give every recorded label and every recorded probability or value
within `FAST_PATH_TOLERANCE`. It is checked against the original's recorded answers instead
of the original itself. So the model files are not opened, and scikit-learn (with SciPy's
stats and pandas, which it imports) is never imported. That makes start-up about 2 s shorter,
and the shared memory of a server ~100 MiB smaller. Anything else gives a note saying why, and
the registry loads the package the full way.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .artifacts import check_pinned, library_versions, sha256_bytes
from .errors import RuntimeFault
from .fastpath import FastEngine, build, decode_array, encode_array
from .manifest import Choice, Feature, Manifest, Replay
from .predictor import Engine, Prediction
from .schema import Columns, InputSchema
from .verify import FAST_PATH_TOLERANCE, compare, reference_rows

log = logging.getLogger("modelserve.runtime")

REPLAY_FILE = "replay.json"
RECORD_FORMAT = 1
REPLAYED_FORMATS = frozenset({"joblib", "pickle", "skops"})


class StaleReplay(Exception):
    """The recorded replay is not (or no longer) this package's; the message says why."""


def features_digest(features: list[Feature]) -> str:
    """What a replay depends on in the manifest: each feature's name, type, choices and
    whether it is required, in order."""
    shape = [[f.name, f.type, f.choices, f.required] for f in features]
    return hashlib.sha256(orjson.dumps(shape)).hexdigest()


def record(folder: Path) -> tuple[Replay | None, str]:
    """Record the package's verified fast path into `replay.json` and `model.toml`.

    Returns the `[replay]` entry written (None when there is nothing to record) and a note.
    """
    from .registry import load_package  # noqa: PLC0415 - the registry imports this module

    manifest = Manifest.load(folder)
    if manifest.model_artifact.format not in REPLAYED_FORMATS:
        return _unrecorded(folder, manifest, "only scikit-learn models have a replay")
    try:
        model = load_package(folder, recorded=False)
    except RuntimeFault as exc:
        return _unrecorded(folder, manifest, str(exc))
    engine = model.engine
    if not isinstance(engine, FastEngine) or engine.original is None:
        return _unrecorded(folder, manifest, "no exact fast path")
    if not engine.handles_missing:
        return _unrecorded(folder, manifest, "empty optional inputs need scikit-learn")
    original = engine.original
    try:
        cases = [_case(original, rows, model.schema) for rows in _cases(model.schema, folder)]
    except Exception as exc:  # the original failing on a reference row: record nothing
        return _unrecorded(folder, manifest, f"the original cannot answer a reference row: {exc}")
    doc: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "plan": engine.plan,
        "sources": [a.sha256 for a in manifest.artifacts],
        "features": features_digest(manifest.features),
        "libraries": library_versions({manifest.model_artifact.format}),
        "cases": cases,
    }
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    (folder / REPLAY_FILE).write_bytes(data)
    manifest.replay = Replay(REPLAY_FILE, sha256_bytes(data))
    manifest.save(folder)
    rows = sum(len(c["rows"]) for c in cases)
    return manifest.replay, f"{manifest.name}: replay recorded ({rows} reference rows)"


def _unrecorded(folder: Path, manifest: Manifest, reason: str) -> tuple[None, str]:
    """No replay: and a replay recorded earlier, of other files, is removed with its pin."""
    if manifest.replay is not None:
        (folder / manifest.replay.file).unlink(missing_ok=True)
        manifest.replay = None
        manifest.save(folder)
    return None, f"{manifest.name}: no replay recorded ({reason})"


def _cases(schema: InputSchema, folder: Path) -> list[list[dict[str, Any]]]:
    """The reference rows, then the same rows with every optional input left empty."""
    rows = reference_rows(schema, folder)
    optional = {f.name for f in schema.features if not f.required}
    if not optional:
        return [rows]
    return [rows, [{k: v for k, v in row.items() if k not in optional} for row in rows]]


def _case(original: Engine, rows: list[dict[str, Any]], schema: InputSchema) -> dict[str, Any]:
    answer = original.run(schema.validate(rows))
    return {
        "rows": rows,
        "labels": answer.labels if answer.values is None else [],
        "probabilities": None
        if answer.probabilities is None
        else encode_array(answer.probabilities),
        "values": None if answer.values is None else encode_array(answer.values),
    }


@dataclass
class _Recorded:
    """The original's recorded answer, standing in for the original in `verify.compare`."""

    task: str
    classes: list[Choice]
    answer: Prediction

    def run(self, columns: Columns) -> Prediction:
        return self.answer


def load_recorded(manifest: Manifest, schema: InputSchema) -> tuple[FastEngine | None, str | None]:
    """The package's recorded replay, checked again here; or None and why it is not used."""
    if manifest.replay is None or manifest.root is None:
        return None, None
    for artifact in manifest.artifacts:  # a changed model file is refused, replay or not
        if artifact.sha256 is not None:
            check_pinned(manifest.path_of(artifact), artifact.sha256)
    try:
        engine, rows, worst = _checked(manifest, manifest.root / manifest.replay.file, schema)
    except Exception as exc:  # a stale or broken record, whatever it raises: load the files
        note = f"{manifest.name}: recorded replay not used ({exc}); loading the model files"
        log.warning(note)
        return None, note
    manifest.classes = manifest.classes or engine.classes
    note = (
        f"{manifest.name}: exact fast path on (recorded replay: the original's answers again "
        f"within {worst:.3g} on {rows} reference rows; scikit-learn not loaded)"
    )
    log.info(note)
    return engine, note


def _checked(manifest: Manifest, path: Path, schema: InputSchema) -> tuple[FastEngine, int, float]:
    assert manifest.replay is not None
    data = path.read_bytes()
    if sha256_bytes(data) != manifest.replay.sha256:
        raise StaleReplay(f"{path.name} does not match its pinned sha256")
    doc = orjson.loads(data)
    if doc.get("format") != RECORD_FORMAT:
        raise StaleReplay(f"record format {doc.get('format')!r} is not {RECORD_FORMAT}")
    sources = [a.sha256 for a in manifest.artifacts]
    if None in sources or doc["sources"] != sources:
        raise StaleReplay("recorded from other model files")
    if doc["features"] != features_digest(manifest.features):
        raise StaleReplay("recorded for other features")
    engine = build(doc["plan"])
    if engine.task != manifest.task:
        raise StaleReplay(f"recorded for a {engine.task} model")
    if manifest.classes and [str(c) for c in manifest.classes] != [str(c) for c in engine.classes]:
        raise StaleReplay(f"recorded for classes {engine.classes}")
    rows, worst = 0, 0.0
    for case in doc["cases"]:
        recorded = _Recorded(engine.task, engine.classes, _answer(engine, case))
        verdict = compare(recorded, engine, schema.validate(case["rows"]), FAST_PATH_TOLERANCE)
        if not verdict.ok:
            raise StaleReplay(f"the replay now {verdict.reason or 'fails'}")
        rows, worst = rows + verdict.rows, max(worst, verdict.max_diff)
    return engine, rows, worst


def _answer(engine: FastEngine, case: dict[str, Any]) -> Prediction:
    probabilities = case["probabilities"]
    values = case["values"]
    return Prediction(
        engine.classes,
        list(case["labels"]),
        probabilities=None if probabilities is None else decode_array(probabilities),
        values=None if values is None else decode_array(values),
    )
