"""Safe loading of model artifacts, by format.

- ONNX loads freely: it is data, not code.
- skops loads only the types listed in the manifest's `trusted_types` (reviewed by the
  operator); never `trusted=True`.
- joblib and pickle execute code while loading, so they load only when the manifest pins
  their sha256 and the bytes we load are exactly the pinned bytes.
- Keras `.keras` loads with `safe_mode=True`; legacy `.h5` additionally needs a pinned sha256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from .errors import ModelLoadError, UnsafeArtifactError
from .manifest import FORMAT_BY_SUFFIX

PINNED_FORMATS = frozenset({"joblib", "pickle", "h5"})


def detect_format(path: Path) -> str:
    """The artifact format implied by the file suffix."""
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMAT_BY_SUFFIX))
        raise ModelLoadError(f"{path.name}: unknown model file type (known: {known})")
    return fmt


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


LIBRARIES_BY_FORMAT = {
    "joblib": ("scikit-learn", "numpy", "joblib"),
    "pickle": ("scikit-learn", "numpy"),
    "skops": ("scikit-learn", "numpy", "skops"),
    "onnx": ("onnxruntime",),
    "keras": ("keras",),
    "h5": ("keras", "h5py"),
}


def library_versions(formats: set[str]) -> dict[str, str]:
    """Installed versions of the libraries that artifacts of `formats` depend on."""
    found: dict[str, str] = {}
    for fmt in sorted(formats):
        for name in LIBRARIES_BY_FORMAT.get(fmt, ()):
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def version_mismatches(recorded: dict[str, str]) -> list[str]:
    """Human notes for each library whose installed version differs from the recorded one."""
    installed = library_versions(set(LIBRARIES_BY_FORMAT))
    return [
        f"{name} {want} was recorded but {installed.get(name, 'nothing')} is installed"
        for name, want in sorted(recorded.items())
        if installed.get(name) != want
    ]


def load_artifact(
    path: Path, fmt: str, *, sha256: str | None, trusted_types: list[str] | None = None
) -> Any:
    """Load one artifact under the safety rules of its format."""
    if not path.is_file():
        raise ModelLoadError(f"{path.name}: file not found")
    if fmt in PINNED_FORMATS and not sha256:
        raise UnsafeArtifactError(
            f"{path.name}: {fmt} files run code when loaded; the manifest must pin their sha256 "
            "(`modelserve models add` does this for files you trust)"
        )
    loader = _LOADERS.get(fmt)
    if loader is None:
        raise ModelLoadError(f"{path.name}: unsupported format {fmt!r}")
    try:
        return loader(path, sha256, trusted_types or [])
    except (UnsafeArtifactError, ModelLoadError):
        raise
    except Exception as exc:  # a broken file raises anything; report it, don't crash
        raise ModelLoadError(f"{path.name}: cannot load {fmt} file: {exc}") from exc


def _verified_bytes(path: Path, sha256: str | None) -> bytes:
    data = path.read_bytes()
    if sha256 is not None:
        _check_pin(path, sha256_bytes(data), sha256)
    return data


def check_pinned(path: Path, sha256: str) -> None:
    """Raise `UnsafeArtifactError` unless the file's bytes are still the pinned ones."""
    if not path.is_file():
        raise ModelLoadError(f"{path.name}: file not found")
    _check_pin(path, sha256_file(path), sha256)


def _check_pin(path: Path, found: str, sha256: str) -> None:
    if found != sha256:
        raise UnsafeArtifactError(
            f"{path.name}: sha256 {found} does not match the pinned {sha256}; "
            "the file changed since it was added"
        )


def _load_joblib(path: Path, sha256: str | None, _trusted: list[str]) -> Any:
    import joblib  # noqa: PLC0415 - only joblib users pay its import

    return joblib.load(io.BytesIO(_verified_bytes(path, sha256)))


def _load_pickle(path: Path, sha256: str | None, _trusted: list[str]) -> Any:
    # The bytes were pinned by the operator with `models add`: this is their own file.
    return pickle.loads(_verified_bytes(path, sha256))  # noqa: S301


def _load_skops(path: Path, sha256: str | None, trusted: list[str]) -> Any:
    import skops.io as sio  # noqa: PLC0415

    data = _verified_bytes(path, sha256)
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in trusted]
    if untrusted:
        raise UnsafeArtifactError(
            f"{path.name}: skops file contains types not in trusted_types: {', '.join(untrusted)}. "
            "Review them, then list them in the manifest (or pass --trust TYPE)."
        )
    return sio.loads(data, trusted=list(trusted) or None)


def _load_onnx(path: Path, sha256: str | None, _trusted: list[str]) -> Any:
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        _verified_bytes(path, sha256), options, providers=["CPUExecutionProvider"]
    )


def _load_keras(path: Path, sha256: str | None, _trusted: list[str]) -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras  # noqa: PLC0415
    except ImportError as exc:
        raise ModelLoadError(
            f"{path.name}: Keras models need the optional extra: pip install 'modelserve[keras]'"
        ) from exc
    if sha256 is None:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    # Load the verified bytes themselves, from a private copy, never the path again.
    data = _verified_bytes(path, sha256)
    with tempfile.TemporaryDirectory(prefix="modelserve-") as folder:
        private = Path(folder) / f"model{path.suffix}"
        private.write_bytes(data)
        return keras.saving.load_model(private, compile=False, safe_mode=True)


_LOADERS = {
    "joblib": _load_joblib,
    "pickle": _load_pickle,
    "skops": _load_skops,
    "onnx": _load_onnx,
    "keras": _load_keras,
    "h5": _load_keras,
}
