"""model.toml: round trip, and clear errors for broken manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.runtime.errors import ManifestError
from modelserve.runtime.manifest import Manifest

GOOD = """
name = "exam"
version = "2"
title = { es = "Examen", en = "Exam" }
[[artifacts]]
file = "model.joblib"
format = "joblib"
sha256 = "%s"
[[features]]
name = "estudio"
min = 0
max = 24
label = { es = "Horas de estudio", en = "Hours of study" }
[output]
classes = ["Aprobado", "Suspendido"]
labels = { Aprobado = { es = "Aprobado", en = "Pass" } }
""" % ("a" * 64)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    manifest = Manifest.from_toml(GOOD)
    manifest.save(tmp_path)
    again = Manifest.load(tmp_path)
    assert again.to_toml() == manifest.to_toml()
    assert again.title_in("es") == "Examen"
    assert again.features[0].title("en") == "Hours of study"
    assert again.class_label("Aprobado", "en") == "Pass"
    assert again.class_label("Suspendido", "en") == "Suspendido"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('name = "exam"', 'name = "Bad Name!"'), "model name"),
        (('file = "model.joblib"', 'file = "../x.joblib"'), "plain file name"),
        (("min = 0", "min = 30"), "min is greater than max"),
        (('version = "2"', 'version = "2"\nbogus = 1'), "unknown key"),
        (("sha256 = ", "sha256 = 'x' #"), "64 lowercase hex"),
        (('name = "estudio"', 'name = "estudio"\ntype = "color"'), "type must be one of"),
        (("[output]", "[output"), "not valid TOML"),
    ],
)
def test_broken_manifests_are_explained(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_toml(GOOD.replace(*change, 1))


def test_a_category_needs_choices() -> None:
    text = GOOD.replace('name = "estudio"', 'name = "estudio"\ntype = "category"')
    with pytest.raises(ManifestError, match="choices"):
        Manifest.from_toml(text)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no model\.toml"):
        Manifest.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("min = 0", "min = nan"), "finite number"),
        (("min = 0", 'min = 0\nrequired = "no"'), "required must be of type bool"),
        (("min = 0", 'min = 0\nmax_length = "big"'), "max_length must be of type int"),
        (("min = 0", 'min = 0\nchoices = "abc"'), "choices must be a list"),
        (("min = 0", "min = 0\nchoices = [true]"), "choices must be a list"),
        (('version = "2"', 'version = "2"\naccess = "private"'), "access must be one of"),
        (('format = "joblib"', 'format = "onnx"'), "format must be joblib"),
    ],
)
def test_manifest_values_are_type_checked(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_toml(GOOD.replace(*change, 1))


def test_a_name_with_a_newline_is_refused() -> None:
    with pytest.raises(ManifestError, match="model name"):
        Manifest.from_toml(GOOD.replace('name = "exam"', 'name = "exam\\n"', 1))
