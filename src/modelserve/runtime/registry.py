"""Loaded models, by name, and how each one is run under a deadline.

Models load once, at start-up; a request never loads a file.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import load_artifact, version_mismatches
from .batching import BatchSettings, MicroBatcher
from .compiled import use_compiled
from .errors import DeadlineExceededError, ModelLoadError, ModelNotFoundError
from .manifest import MANIFEST_NAME, Manifest
from .packaging import manifest_for_files
from .predictor import Engine, KerasEngine, OnnxEngine, Prediction, SklearnEngine
from .replays import load_recorded
from .schema import Columns, InputSchema
from .verify import accelerate

log = logging.getLogger("modelserve.runtime")


@dataclass(eq=False)  # identity: a loaded model is one object, hashable for caches
class LoadedModel:
    """A model ready to answer: its manifest, input schema and engine."""

    manifest: Manifest
    schema: InputSchema
    engine: Engine
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def sha256(self) -> str | None:
        return self.manifest.model_artifact.sha256


def build_engine(manifest: Manifest, objects: Sequence[Any]) -> Engine:
    """The engine for the model artifact's format, checked against the manifest."""
    fmt = manifest.model_artifact.format
    model = objects[-1]
    if fmt == "onnx":
        return OnnxEngine(model, manifest.features, task=manifest.task, classes=manifest.classes)
    if fmt in ("keras", "h5"):
        return KerasEngine(model, manifest.features, task=manifest.task, classes=manifest.classes)
    engine = SklearnEngine(
        model, manifest.features, steps=objects[:-1], frame=manifest.input == "frame"
    )
    if engine.task != manifest.task:
        raise ModelLoadError(
            f"{manifest.name}: manifest says {manifest.task}, model is {engine.task}"
        )
    if manifest.classes and [str(c) for c in manifest.classes] != [str(c) for c in engine.classes]:
        raise ModelLoadError(
            f"{manifest.name}: manifest classes {manifest.classes} "
            f"differ from the model's {engine.classes}"
        )
    manifest.classes = manifest.classes or engine.classes
    return engine


def load_package(
    folder: Path, *, ignore_unknown: bool = False, fast_path: bool = True, recorded: bool = True
) -> LoadedModel:
    """Load a model folder under the safety rules of its manifest.

    With `recorded` (the default), a package's recorded replay (`replays.py`) answers when it
    is still this package's, and the model files are not even opened.
    """
    manifest = Manifest.load(folder)
    notes = version_mismatches(manifest.libraries)
    for note in notes:
        log.warning("%s: %s", manifest.name, note)
    if fast_path and recorded:
        schema = InputSchema(manifest.features, ignore_unknown=ignore_unknown)
        engine, found = load_recorded(manifest, schema)
        if engine is not None:
            model = LoadedModel(manifest, schema, engine, [*notes, found or ""])
            probe(model)
            return model
        notes += [found] if found else []
    objects = [
        load_artifact(
            manifest.path_of(a), a.format, sha256=a.sha256, trusted_types=manifest.trusted_types
        )
        for a in manifest.artifacts
    ]
    return _ready(manifest, objects, ignore_unknown, notes, fast_path=fast_path)


def load_file(
    path: Path,
    *,
    trusted_types: Sequence[str] = (),
    ignore_unknown: bool = False,
    fast_path: bool = True,
) -> LoadedModel:
    """Serve a bare model file the operator named: pin its sha256 now, then load those bytes."""
    inspected = manifest_for_files(path, trusted_types=trusted_types)
    note = f"pinned sha256 {inspected.manifest.model_artifact.sha256} of {path} (operator's file)"
    log.info(note)
    return _ready(
        inspected.manifest, inspected.objects, ignore_unknown, [note], fast_path=fast_path
    )


def load_source(path: Path, **options: Any) -> LoadedModel:
    """A model folder (with model.toml) or a bare model file."""
    if path.is_dir():
        if not (path / MANIFEST_NAME).is_file():
            raise ModelLoadError(f"{path} is a folder without {MANIFEST_NAME}")
        return load_package(
            path,
            ignore_unknown=options.get("ignore_unknown", False),
            fast_path=options.get("fast_path", True),
            recorded=options.get("recorded", True),
        )
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or folder")
    options.pop("recorded", None)  # a bare file has no recorded replay
    return load_file(path, **options)


def _ready(
    manifest: Manifest,
    objects: Sequence[Any],
    ignore_unknown: bool,
    notes: list[str],
    *,
    fast_path: bool = True,
) -> LoadedModel:
    engine = build_engine(manifest, objects)
    schema = InputSchema(manifest.features, ignore_unknown=ignore_unknown)
    model = LoadedModel(manifest, schema, engine, notes)
    probe(model)
    if fast_path:
        package = manifest.root if _is_package(manifest.root) else None
        model.engine, note = accelerate(engine, schema, package, manifest.name)
        model.notes.append(note)
        if model.engine is engine:  # no exact fast path: a verified compiled one, if recorded
            model.engine, compiled_note = use_compiled(manifest, engine, schema, package)
            model.notes += [compiled_note] if compiled_note else []
        elif manifest.compiled is not None:
            model.notes.append(f"{manifest.name}: compiled ONNX not needed (exact fast path)")
    return model


def probe(model: LoadedModel) -> None:
    """Predict example rows now, so a model that cannot answer fails at load, not per request:
    one full row, and one with every optional feature missing."""
    example = model.schema.example_row()
    optional = [f.name for f in model.manifest.features if not f.required]
    rows = (
        [example, {k: v for k, v in example.items() if k not in optional}]
        if optional
        else [example]
    )
    for row in rows:
        try:
            answer = model.engine.run(model.schema.validate([row]))
        except Exception as exc:  # any library error: report it as this model's load error
            what = f"without {', '.join(optional)}" if row is not example else "an example row"
            raise ModelLoadError(f"{model.name}: cannot predict {what}: {exc}") from exc
        _check_answer(model, answer)


def _check_answer(model: LoadedModel, answer: Prediction) -> None:
    width = None if answer.probabilities is None else answer.probabilities.shape[-1]
    if (
        model.manifest.task == "classification"
        and width is not None
        and width != len(answer.classes)
    ):
        raise ModelLoadError(
            f"{model.name}: the model gives {width} probabilities but the "
            f"manifest lists {len(answer.classes)} classes"
        )
    if len(answer.labels) != 1:
        raise ModelLoadError(f"{model.name}: one row in, {len(answer.labels)} answers out")


def _is_package(folder: Path | None) -> bool:
    return folder is not None and (folder / MANIFEST_NAME).is_file()


def discover(folder: Path) -> list[Path]:
    """The model packages directly inside `folder` (each a sub-folder with model.toml)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / MANIFEST_NAME).is_file())


class Registry:
    """The models this process serves, and a per-process pool that enforces deadlines."""

    def __init__(
        self,
        models: Sequence[LoadedModel],
        *,
        timeout: float | None = None,
        threads: int = 4,
        batching: BatchSettings | None = None,
    ) -> None:
        self.models = {m.name: m for m in models}
        if len(self.models) != len(models):
            raise ModelLoadError("two models share a name; give one --name")
        self.timeout = timeout
        self.threads = threads
        self.ready = False
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self.batching = batching
        # on_batch(model name, requests in a micro-batched call, requests still waiting)
        self.on_batch: Callable[[str, int, int], None] | None = None
        self._batchers: dict[tuple[int, str], MicroBatcher] = {}

    def __iter__(self) -> Iterator[LoadedModel]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def get(self, name: str) -> LoadedModel:
        try:
            return self.models[name]
        except KeyError:
            raise ModelNotFoundError(name) from None

    def run(self, model: LoadedModel, columns: Columns) -> Prediction:
        """Predict, through the model's micro-batcher when batching is on."""
        if self.batching is None:
            return self.run_alone(model, columns)
        return self.batcher(model).run(columns, self.timeout)

    def batcher(self, model: LoadedModel) -> MicroBatcher:
        """This process's batcher of `model` (locks and threads do not survive fork)."""
        key = (os.getpid(), model.name)
        found = self._batchers.get(key)
        if found is None:
            assert self.batching is not None
            runner = lambda columns: self.run_alone(model, columns)  # noqa: E731
            observer = functools.partial(self._batched, model.name)
            batcher = MicroBatcher(runner, self.batching, observer)
            found = self._batchers.setdefault(key, batcher)
        return found

    def _batched(self, name: str, requests: int, waiting: int) -> None:
        if self.on_batch is not None:  # read per call: the app may set it after the batcher
            self.on_batch(name, requests, waiting)

    def run_alone(self, model: LoadedModel, columns: Columns) -> Prediction:
        """Run the engine; past the deadline raise `DeadlineExceededError`.

        A verified fast path runs inline: its bounded arithmetic takes microseconds, and a
        hand-off to the deadline thread would cost more than the prediction itself.
        """
        if not self.timeout or getattr(model.engine, "inline", False):
            return model.engine.run(columns)
        future = self._executor().submit(model.engine.run, columns)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DeadlineExceededError(self.timeout) from None

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        # Threads do not survive fork: a pre-forked worker builds its own pool.
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, "predict")
            self._pool_pid = os.getpid()
        return self._pool

    def warm_up(self) -> None:
        """Predict one example row per model; only then is the registry ready."""
        for model in self:
            example = model.schema.example_row()
            model.engine.run(model.schema.validate([example]))
        self.ready = True
