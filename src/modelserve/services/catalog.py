"""Model packages on disk: add, list and check them (the `modelserve models` commands)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..runtime.compiled import CompileResult, NotCompilable, compile_package
from ..runtime.errors import RuntimeFault
from ..runtime.manifest import MANIFEST_NAME, Manifest
from ..runtime.packaging import default_name, manifest_for_files, write_package
from ..runtime.registry import discover, load_source
from ..runtime.replays import load_recorded


@dataclass(frozen=True)
class Added:
    manifest: Manifest
    folder: Path


def add_model(
    model_file: Path,
    models_dir: Path,
    *,
    name: str | None = None,
    preprocess: Sequence[Path] = (),
    reference_csv: Path | None = None,
    trusted_types: Sequence[str] = (),
    overwrite: bool = False,
) -> Added:
    """Copy the operator's files into a package folder with a pinned, inferred manifest."""
    reference = _read_csv(reference_csv) if reference_csv else None
    inspected = manifest_for_files(
        model_file,
        preprocess=preprocess,
        name=name,
        trusted_types=trusted_types,
        reference=reference,
    )
    folder = models_dir / (name or default_name(model_file))
    manifest = write_package(
        inspected, folder, [*preprocess, model_file], reference=reference, overwrite=overwrite
    )
    return Added(manifest, folder)


def _read_csv(path: Path) -> object:
    import pandas as pd  # noqa: PLC0415

    return pd.read_csv(path)


def list_packages(models_dir: Path) -> list[Manifest | tuple[Path, str]]:
    """Each package's manifest, or (folder, reason) when its manifest cannot be read."""
    found: list[Manifest | tuple[Path, str]] = []
    for folder in discover(models_dir):
        try:
            found.append(Manifest.load(folder))
        except RuntimeFault as exc:
            found.append((folder, str(exc)))
    return found


@dataclass(frozen=True)
class Check:
    source: Path
    ok: bool
    detail: str
    notes: tuple[str, ...] = ()


def check_sources(sources: Sequence[Path], *, trusted_types: Sequence[str] = ()) -> list[Check]:
    """Load each source and run one example prediction through it."""
    results = []
    for source in sources:
        try:
            # The model files themselves, always; then whether the recorded replay still holds.
            model = load_source(source, trusted_types=trusted_types, recorded=False)
            model.engine.run(model.schema.validate([model.schema.example_row()]))
            _, replay = load_recorded(model.manifest, model.schema)
        except (RuntimeFault, OSError) as exc:
            results.append(Check(source, False, str(exc)))
            continue
        detail = f"{model.name} {model.manifest.version}: loads and predicts"
        results.append(Check(source, True, detail, (*model.notes, *([replay] if replay else []))))
    return results


def compile_model(ref: str, models_dir: Path) -> CompileResult:
    """`models compile NAME|PATH`: a package name in `models_dir`, or a package folder."""
    folder = Path(ref)
    if not folder.exists() and "/" not in ref:
        folder = models_dir / ref
    if not (folder / MANIFEST_NAME).is_file():
        raise NotCompilable(f"{ref} is not a model package (run `modelserve models add` first)")
    return compile_package(folder)
