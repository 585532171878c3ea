"""Model packages: build a manifest for model files, and write package folders.

`manifest_for_files` inspects the operator's own files and pins their sha256; it is what
`modelserve models add` and a bare `modelserve serve model.joblib` both use.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import detect_format, library_versions, load_artifact, sha256_file
from .errors import ManifestError, ModelLoadError
from .introspect import apply_reference, describe
from .manifest import MANIFEST_NAME, Artifact, Manifest
from .replays import record

log = logging.getLogger("modelserve.runtime")

REFERENCE_NAME = "reference.csv"
REFERENCE_ROWS = 200


@dataclass
class Inspected:
    """A manifest inferred from files, with the objects already loaded from them."""

    manifest: Manifest
    objects: list[Any]


def default_name(path: Path) -> str:
    """A valid model name derived from a file name."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", path.stem.lower()).strip("-._")
    return (name or "model")[:64]


def manifest_for_files(
    model_file: Path,
    *,
    preprocess: Sequence[Path] = (),
    name: str | None = None,
    trusted_types: Sequence[str] = (),
    reference: Any | None = None,
) -> Inspected:
    """Inspect the operator's files, pinning each one's sha256 before it is loaded."""
    files = [*preprocess, model_file]
    artifacts = [
        Artifact(file=p.name, format=detect_format(p), role="preprocess", sha256=sha256_file(p))
        for p in files
    ]
    artifacts[-1].role = "model"
    objects = [
        load_artifact(p, a.format, sha256=a.sha256, trusted_types=list(trusted_types))
        for p, a in zip(files, artifacts, strict=True)
    ]
    found = describe(
        objects[-1], artifacts[-1].format, model_file, first_step=objects[0] if preprocess else None
    )
    if reference is not None:
        apply_reference(found.features, reference)
    manifest = Manifest(
        name=name or default_name(model_file),
        features=found.features,
        artifacts=artifacts,
        task=found.task,
        classes=found.classes,
        input=found.input,
        trusted_types=list(trusted_types),
        libraries=library_versions({a.format for a in artifacts}),
        root=model_file.parent,
    )
    manifest.check()
    return Inspected(manifest, objects)


def write_package(
    inspected: Inspected,
    dest: Path,
    sources: Sequence[Path],
    *,
    reference: Any | None = None,
    overwrite: bool = False,
) -> Manifest:
    """Copy the artifact files into `dest`, then write `model.toml` (and reference rows)."""
    if (dest / MANIFEST_NAME).exists() and not overwrite:
        raise ManifestError(f"{dest} already holds a model; pass --force to replace it")
    dest.mkdir(parents=True, exist_ok=True)
    for source in sources:
        target = dest / source.name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        if sha256_file(target) != _pinned(inspected.manifest, source.name):
            raise ModelLoadError(f"{source.name} changed while it was being copied")
    if reference is not None:
        names = [f.name for f in inspected.manifest.features]
        present = [n for n in names if n in reference.columns]
        reference[present].head(REFERENCE_ROWS).to_csv(dest / REFERENCE_NAME, index=False)
    inspected.manifest.root = dest
    inspected.manifest.replay = None
    inspected.manifest.save(dest)
    inspected.manifest.replay, note = record(dest)
    log.info(note)
    return inspected.manifest


def _pinned(manifest: Manifest, file: str) -> str | None:
    return next((a.sha256 for a in manifest.artifacts if a.file == file), None)
