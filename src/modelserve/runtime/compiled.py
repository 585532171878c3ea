"""Compiled models: a scikit-learn pipeline translated to ONNX, used only where it is faithful.

`compile_package` converts a package's fitted pipeline with skl2onnx (the optional `onnx`
extra), runs both on the model's reference rows (`reference.csv`, the schema's example row
and rows generated across every range and choice, then the same rows with optional inputs
left empty) and keeps the translation only if every label is identical and every
probability or value is within `COMPILED_TOLERANCE` (1e-6: ONNX computes in float32). It then
writes `model.onnx` next to the model and records it under `[compiled]` in `model.toml`;
otherwise it raises `NotCompilable` with the reason and writes nothing.

At load, `use_compiled` checks the translation again, against the model file it was made
from, before it answers instead of scikit-learn. It is only tried when the exact float64
fast path (`fastpath.py`, 1e-9) is not available: that one is both closer and faster.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import load_artifact
from .errors import RuntimeFault
from .manifest import Compiled, Manifest
from .predictor import Engine, OnnxEngine, SklearnEngine
from .schema import InputSchema
from .verify import Verdict, compare, reference_rows

log = logging.getLogger("modelserve.runtime")

COMPILED_TOLERANCE = 1e-6
COMPILED_FILE = "model.onnx"


class NotCompilable(RuntimeFault):
    """The model cannot be compiled, or its translation is not faithful; the message says why."""


@dataclass(frozen=True)
class CompileResult:
    folder: Path
    verdict: Verdict


def compile_package(folder: Path) -> CompileResult:
    """Translate the package's model to ONNX, verify it, write and record it (or refuse)."""
    from .registry import load_package  # noqa: PLC0415 - the registry imports this module

    model = load_package(folder, fast_path=False)
    manifest, original = model.manifest, model.engine
    if not isinstance(original, SklearnEngine):
        raise NotCompilable(f"{manifest.name}: only scikit-learn models are compiled")
    if manifest.model_artifact.sha256 is None:
        raise NotCompilable(f"{manifest.name}: the model file has no sha256 pin")
    data = convert(original)
    candidate = onnx_engine(data, manifest)
    verdict = verify(original, candidate, model.schema, folder)
    if not verdict.ok:
        raise NotCompilable(f"{manifest.name}: not compiled: the ONNX translation {verdict.reason}")
    (folder / COMPILED_FILE).write_bytes(data)
    manifest.compiled = Compiled(
        COMPILED_FILE,
        hashlib.sha256(data).hexdigest(),
        manifest.model_artifact.sha256,
        COMPILED_TOLERANCE,
    )
    manifest.save(folder)
    return CompileResult(folder, verdict)


def convert(engine: SklearnEngine) -> bytes:
    """skl2onnx's translation: one float tensor of every feature when all are numbers, else
    one [n, 1] input per feature; labels and a probabilities tensor (no ZipMap)."""
    if engine.steps:
        raise NotCompilable("separate preprocessing files are not compiled")
    try:
        from skl2onnx import convert_sklearn  # noqa: PLC0415
        from skl2onnx.common.data_types import (  # noqa: PLC0415
            FloatTensorType,
            Int64TensorType,
            StringTensorType,
        )
    except ImportError as exc:
        raise NotCompilable("compiling needs skl2onnx: pip install 'modelserve[onnx]'") from exc
    features = engine.features
    if engine.numeric:
        inputs: list[tuple[str, Any]] = [("input", FloatTensorType([None, len(features)]))]
    else:
        inputs = []
        for f in features:
            choices = f.choices or []
            if f.numeric:
                kind = FloatTensorType([None, 1])
            elif choices and all(isinstance(c, int) for c in choices):
                kind = Int64TensorType([None, 1])
            else:
                kind = StringTensorType([None, 1])
            inputs.append((f.name, kind))
    final = engine.estimator.steps[-1][1] if hasattr(engine.estimator, "steps") else None
    options = {id(final or engine.estimator): {"zipmap": False}} if engine.has_proba else None
    try:
        proto = convert_sklearn(engine.estimator, initial_types=inputs, options=options)
    except Exception as exc:  # skl2onnx raises many kinds for what it cannot translate
        raise NotCompilable(f"skl2onnx cannot translate it: {type(exc).__name__}: {exc}") from exc
    return bytes(proto.SerializeToString())


def onnx_engine(data: bytes, manifest: Manifest) -> OnnxEngine:
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return OnnxEngine(session, manifest.features, task=manifest.task, classes=manifest.classes)


def verify(
    original: Engine, candidate: Engine, schema: InputSchema, folder: Path | None
) -> Verdict:
    """Both engines on the reference rows, then on them with optional inputs left empty."""
    rows = [schema.example_row(), *reference_rows(schema, folder)]
    verdict = compare(original, candidate, schema.validate(rows), COMPILED_TOLERANCE)
    optional = [f.name for f in schema.features if not f.required]
    if not verdict.ok or not optional:
        return verdict
    sparse = [{k: v for k, v in row.items() if k not in optional} for row in rows]
    missing = compare(original, candidate, schema.validate(sparse), COMPILED_TOLERANCE)
    if not missing.ok:
        return Verdict(False, f"{missing.reason} when optional inputs are empty")
    worst = max(verdict.max_diff, missing.max_diff)
    return Verdict(True, f"matches within {worst:.3g}", verdict.rows + missing.rows, worst)


def use_compiled(
    manifest: Manifest, original: Engine, schema: InputSchema, folder: Path | None
) -> tuple[Engine, str | None]:
    """The recorded ONNX translation if it still is this model's and still matches it."""
    compiled = manifest.compiled
    if compiled is None or folder is None or not isinstance(original, SklearnEngine):
        return original, None
    name = manifest.name
    if compiled.source_sha256 != manifest.model_artifact.sha256:
        return _kept(original, f"{name}: compiled ONNX not used (made from another model file)")
    try:
        session = load_artifact(folder / compiled.file, "onnx", sha256=compiled.sha256)
        candidate = OnnxEngine(
            session, manifest.features, task=manifest.task, classes=manifest.classes
        )
    except (RuntimeFault, OSError) as exc:
        return _kept(original, f"{name}: compiled ONNX not used ({exc})")
    verdict = verify(original, candidate, schema, folder)
    if not verdict.ok:
        return _kept(original, f"{name}: compiled ONNX not used ({verdict.reason})")
    note = f"{name}: compiled ONNX answers ({verdict.reason} on {verdict.rows} reference rows)"
    log.info(note)
    return candidate, note


def _kept(original: Engine, note: str) -> tuple[Engine, str]:
    log.warning(note)
    return original, note
