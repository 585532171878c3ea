"""The model package manifest (`model.toml`): what a model is, takes and answers.

A model package is a folder holding the artifact files plus `model.toml`. The manifest is
the single source of truth for the input schema (forms, JSON validation, JSON Schema, CSV
columns), the output classes and their display labels, and the pins that make loading safe.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import tomli_w

from .errors import ManifestError

MANIFEST_NAME = "model.toml"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
FEATURE_TYPES = ("number", "integer", "category", "text")
TASKS = ("classification", "regression")
ROLES = ("preprocess", "model")
INPUT_KINDS = ("frame", "array")
ROLE_NAMES = ("user", "admin")
ACCESS_LEVELS = ("public", "signed-in", *(f"role:{r}" for r in ROLE_NAMES))
FORMAT_BY_SUFFIX = {
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".skops": "skops",
    ".onnx": "onnx",
    ".keras": "keras",
    ".h5": "h5",
    ".hdf5": "h5",
}

Localized = dict[str, str]
Choice = str | int | float
FeatureType = Literal["number", "integer", "category", "text"]


def localized(value: object, what: str) -> Localized:
    """Accept `"text"` or `{en = "...", es = "..."}`; "" keys mean any language."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"": value}
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise ManifestError(f"{what} must be a string or a table of language = text")


def pick(text: Localized, lang: str | None, fallback: str = "") -> str:
    """The text in `lang`, else English, else any language, else `fallback`."""
    for key in (lang, "en", ""):
        if key is not None and key in text:
            return text[key]
    return next(iter(text.values()), fallback)


def _dump_localized(text: Localized) -> str | Localized:
    return text[""] if set(text) == {""} else text


@dataclass
class Feature:
    """One input column of the model."""

    name: str
    type: FeatureType = "number"
    required: bool = True
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[Choice] | None = None
    unit: str | None = None
    max_length: int = 1000
    label: Localized = field(default_factory=dict)
    help: Localized = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        return self.type in ("number", "integer")

    def title(self, lang: str | None) -> str:
        return pick(self.label, lang, self.name)

    def check(self) -> None:
        if not re.fullmatch(r"[^\x00-\x1f]{1,200}", self.name):
            raise ManifestError(
                f"feature name {self.name!r} is empty, too long or has control characters"
            )
        if self.type not in FEATURE_TYPES:
            raise ManifestError(
                f"feature {self.name!r}: type must be one of {', '.join(FEATURE_TYPES)}"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ManifestError(f"feature {self.name!r}: min is greater than max")
        if self.type == "category" and not self.choices:
            raise ManifestError(
                f"feature {self.name!r}: a category needs a non-empty 'choices' list"
            )
        if self.step is not None and self.step <= 0:
            raise ManifestError(f"feature {self.name!r}: step must be positive")

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if not self.required:
            out["required"] = False
        for key in ("min", "max", "step", "choices", "unit"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.type == "text":
            out["max_length"] = self.max_length
        if self.label:
            out["label"] = _dump_localized(self.label)
        if self.help:
            out["help"] = _dump_localized(self.help)
        return out

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> Feature:
        known = {
            "name",
            "type",
            "required",
            "min",
            "max",
            "step",
            "choices",
            "unit",
            "max_length",
            "label",
            "help",
        }
        _no_unknown(data, known, f"feature {data.get('name')!r}")
        if not isinstance(data.get("name"), str):
            raise ManifestError("every [[features]] entry needs a string 'name'")
        feat = cls(
            name=data["name"],
            type=data.get("type", "number"),
            required=_typed(data.get("required", True), bool, "required"),
            min=_num(data.get("min"), "min"),
            max=_num(data.get("max"), "max"),
            step=_num(data.get("step"), "step"),
            choices=_choices(data["choices"]) if "choices" in data else None,
            unit=_typed(data.get("unit"), str, "unit") if "unit" in data else None,
            max_length=_typed(data.get("max_length", 1000), int, "max_length"),
            label=localized(data.get("label"), "label"),
            help=localized(data.get("help"), "help"),
        )
        feat.check()
        return feat


@dataclass
class Artifact:
    """One file of the package: the model, or a preprocessing step replayed before it."""

    file: str
    format: str
    role: str = "model"
    sha256: str | None = None

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "format": self.format, "role": self.role}
        if self.sha256:
            out["sha256"] = self.sha256
        return out

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> Artifact:
        _no_unknown(data, {"file", "format", "role", "sha256"}, "artifact")
        file = data.get("file")
        if not isinstance(file, str) or not file or Path(file).name != file:
            raise ManifestError(
                f"artifact file {file!r} must be a plain file name inside the package"
            )
        role = data.get("role", "model")
        if role not in ROLES:
            raise ManifestError(f"artifact {file}: role must be one of {', '.join(ROLES)}")
        sha = data.get("sha256")
        if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", str(sha)):
            raise ManifestError(f"artifact {file}: sha256 must be 64 lowercase hex digits")
        expected = FORMAT_BY_SUFFIX.get(Path(file).suffix.lower())
        fmt = data.get("format", expected)
        if expected is None or fmt != expected:
            # The format decides the safety rule, so it must be the one the file name says.
            raise ManifestError(
                f"artifact {file}: format must be {expected or 'a known one'}, "
                f"as its suffix says (got {fmt!r})"
            )
        return cls(file=file, format=fmt, role=role, sha256=sha)


@dataclass
class Compiled:
    """`[compiled]`: an ONNX translation of the model (`modelserve models compile`), used
    only while it is a translation of this very model file (`source_sha256`) and only after
    it matches the original again at load."""

    file: str
    sha256: str
    source_sha256: str
    tolerance: float

    def to_toml(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": "onnx",
            "sha256": self.sha256,
            "source_sha256": self.source_sha256,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_toml(cls, data: object) -> Compiled:
        _no_unknown(data, {"file", "format", "sha256", "source_sha256", "tolerance"}, "[compiled]")
        data = cast(dict[str, Any], data)
        artifact = Artifact.from_toml(
            {"file": data.get("file"), "format": data.get("format", "onnx"), "role": "model"}
        )
        if artifact.format != "onnx":
            raise ManifestError("[compiled] format must be onnx")
        pins = [data.get("sha256"), data.get("source_sha256")]
        if not all(isinstance(p, str) and re.fullmatch(r"[0-9a-f]{64}", p) for p in pins):
            raise ManifestError("[compiled] needs sha256 and source_sha256 (64 hex digits)")
        tolerance = _num(data.get("tolerance", 1e-6), "[compiled] tolerance")
        return cls(artifact.file, str(pins[0]), str(pins[1]), float(tolerance or 0.0))


@dataclass
class Replay:
    """`[replay]`: the package's recorded exact fast path (`replays.py`), pinned by sha256."""

    file: str
    sha256: str

    def to_toml(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256}

    @classmethod
    def from_toml(cls, data: object) -> Replay:
        _no_unknown(data, {"file", "sha256"}, "[replay]")
        data = cast(dict[str, Any], data)
        file, sha = data.get("file"), data.get("sha256")
        if not isinstance(file, str) or not re.fullmatch(
            r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\.json", file
        ):
            raise ManifestError("[replay] file must be a .json file name in the package folder")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ManifestError("[replay] needs sha256 (64 hex digits)")
        return cls(file, sha)


@dataclass
class Manifest:
    """Everything `model.toml` says about one model."""

    name: str
    features: list[Feature]
    artifacts: list[Artifact]
    version: str = "1"
    title: Localized = field(default_factory=dict)
    description: Localized = field(default_factory=dict)
    task: str = "classification"
    classes: list[Choice] = field(default_factory=list)
    class_labels: dict[str, Localized] = field(default_factory=dict)
    input: str = "array"
    trusted_types: list[str] = field(default_factory=list)
    libraries: dict[str, str] = field(default_factory=dict)
    access: str = "public"
    compiled: Compiled | None = None
    replay: Replay | None = None
    root: Path | None = None

    def check(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise ManifestError(
                f"model name {self.name!r} must be 1-64 lowercase letters, digits, '.', '_' or '-'"
            )
        if self.access not in ACCESS_LEVELS:
            raise ManifestError(f"access must be one of {', '.join(ACCESS_LEVELS)}")
        if self.task not in TASKS:
            raise ManifestError(f"task must be one of {', '.join(TASKS)}")
        if self.input not in INPUT_KINDS:
            raise ManifestError(f"input must be one of {', '.join(INPUT_KINDS)}")
        names = [f.name for f in self.features]
        if not names or len(set(names)) != len(names):
            raise ManifestError("features must be a non-empty list of distinct names")
        if [a.role for a in self.artifacts].count("model") != 1 or self.artifacts[
            -1
        ].role != "model":
            raise ManifestError("exactly one artifact has role 'model', and it comes last")

    @property
    def model_artifact(self) -> Artifact:
        return self.artifacts[-1]

    def path_of(self, artifact: Artifact) -> Path:
        if self.root is None:
            raise ManifestError(f"model {self.name!r} has no folder")
        return self.root / artifact.file

    def title_in(self, lang: str | None) -> str:
        return pick(self.title, lang, self.name)

    def class_label(self, cls: Choice, lang: str | None) -> str:
        return pick(self.class_labels.get(str(cls), {}), lang, str(cls))

    def to_toml(self) -> str:
        doc: dict[str, Any] = {"name": self.name, "version": self.version, "task": self.task}
        if self.title:
            doc["title"] = _dump_localized(self.title)
        if self.description:
            doc["description"] = _dump_localized(self.description)
        doc["access"] = self.access
        doc["input"] = self.input
        if self.trusted_types:
            doc["trusted_types"] = self.trusted_types
        doc["artifacts"] = [a.to_toml() for a in self.artifacts]
        doc["features"] = [f.to_toml() for f in self.features]
        output: dict[str, Any] = {}
        if self.classes:
            output["classes"] = self.classes
        if self.class_labels:
            output["labels"] = {k: _dump_localized(v) for k, v in self.class_labels.items()}
        if output:
            doc["output"] = output
        if self.libraries:
            doc["libraries"] = self.libraries
        if self.compiled is not None:
            doc["compiled"] = self.compiled.to_toml()
        if self.replay is not None:
            doc["replay"] = self.replay.to_toml()
        return tomli_w.dumps(doc)

    def save(self, folder: Path) -> Path:
        path = folder / MANIFEST_NAME
        path.write_text(self.to_toml(), encoding="utf-8")
        return path

    @classmethod
    def from_toml(cls, text: str, root: Path | None = None) -> Manifest:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"model.toml is not valid TOML: {exc}") from exc
        known = {
            "name",
            "version",
            "title",
            "description",
            "task",
            "access",
            "input",
            "trusted_types",
            "artifacts",
            "features",
            "output",
            "libraries",
            "compiled",
            "replay",
        }
        _no_unknown(data, known, "model.toml")
        output = data.get("output", {})
        _no_unknown(output, {"classes", "labels"}, "[output]")
        manifest = cls(
            name=str(data.get("name", "")),
            version=str(data.get("version", "1")),
            title=localized(data.get("title"), "title"),
            description=localized(data.get("description"), "description"),
            task=str(data.get("task", "classification")),
            access=str(data.get("access", "public")),
            input=str(data.get("input", "array")),
            trusted_types=[str(t) for t in data.get("trusted_types", [])],
            artifacts=[Artifact.from_toml(a) for a in _tables(data, "artifacts")],
            features=[Feature.from_toml(f) for f in _tables(data, "features")],
            classes=list(output.get("classes", [])),
            class_labels={
                str(k): localized(v, f"label of class {k}")
                for k, v in output.get("labels", {}).items()
            },
            libraries={str(k): str(v) for k, v in data.get("libraries", {}).items()},
            compiled=Compiled.from_toml(data["compiled"]) if "compiled" in data else None,
            replay=Replay.from_toml(data["replay"]) if "replay" in data else None,
            root=root,
        )
        manifest.check()
        return manifest

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        if not path.is_file():
            raise ManifestError(f"{folder} has no {MANIFEST_NAME}")
        return cls.from_toml(path.read_text(encoding="utf-8"), root=folder)


def _tables(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ManifestError(f"'{key}' must be an array of tables ([[{key}]])")
    return cast(list[dict[str, Any]], value)


def _no_unknown(data: object, known: set[str], where: str) -> None:
    if not isinstance(data, dict):
        raise ManifestError(f"{where} must be a table")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _num(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ManifestError(f"{what} must be a finite number")
    return float(value)


def _typed(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{what} must be of type {kind.__name__}")
    return value


def _choices(value: object) -> list[Choice]:
    ok = isinstance(value, list) and all(
        isinstance(c, str | int | float) and not isinstance(c, bool) for c in value
    )
    if not ok:
        raise ManifestError("choices must be a list of strings or numbers")
    return cast(list[Choice], value)
