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
