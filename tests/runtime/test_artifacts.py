"""Safe loading: what loads freely, what needs a pin or a reviewed type list, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.runtime.artifacts import load_artifact, sha256_file
from modelserve.runtime.errors import ModelLoadError, UnsafeArtifactError
from modelserve.runtime.packaging import manifest_for_files
from modelserve.runtime.registry import load_package, load_source
from modelserve.services.catalog import add_model
from tests.support import numeric_pipeline, save


@pytest.fixture(scope="module")
def pipeline():
    return numeric_pipeline()[0]


@pytest.mark.parametrize("suffix", [".joblib", ".pkl"])
def test_code_running_formats_need_a_pinned_sha256(tmp_path: Path, pipeline, suffix: str) -> None:
    path = save(pipeline, tmp_path / f"m{suffix}")
    fmt = "joblib" if suffix == ".joblib" else "pickle"
    with pytest.raises(UnsafeArtifactError, match="must pin their sha256"):
        load_artifact(path, fmt, sha256=None)
    assert load_artifact(path, fmt, sha256=sha256_file(path)) is not None


def test_a_changed_file_is_refused(tmp_path: Path, pipeline) -> None:
    folder = add_model(save(pipeline, tmp_path / "m.joblib"), tmp_path / "models").folder
    (folder / "m.joblib").write_bytes((folder / "m.joblib").read_bytes() + b"\0")
    with pytest.raises(UnsafeArtifactError, match="does not match the pinned"):
        load_package(folder)


def test_skops_loads_only_reviewed_types(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    _, x, _ = numeric_pipeline()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, x[:, 0] > 0)
    path = save(forest, tmp_path / "forest.skops")
    with pytest.raises(UnsafeArtifactError, match=r"sklearn\.tree\._tree\.Tree"):
        load_source(path)
    model = load_source(path, trusted_types=["sklearn.tree._tree.Tree"])
    assert model.manifest.trusted_types == ["sklearn.tree._tree.Tree"]


def test_a_skops_pipeline_of_default_types_needs_no_review(tmp_path: Path, pipeline) -> None:
    model = load_source(save(pipeline, tmp_path / "m.skops"))
    assert model.manifest.model_artifact.format == "skops"


def test_a_bare_joblib_is_pinned_on_the_spot_and_says_so(tmp_path: Path, pipeline) -> None:
    path = save(pipeline, tmp_path / "m.joblib")
    model = load_source(path)
    assert model.sha256 == sha256_file(path)
    assert any("pinned sha256" in note for note in model.notes)


def test_garbage_and_unknown_files_get_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="cannot load onnx file"):
        load_source(junk)
    other = tmp_path / "model.txt"
    other.write_text("x")
    with pytest.raises(ModelLoadError, match="unknown model file type"):
        load_source(other)
    with pytest.raises(ModelLoadError, match=r"without model\.toml"):
        load_source(tmp_path)


def test_the_sha256_is_taken_before_loading(tmp_path: Path, pipeline) -> None:
    path = save(pipeline, tmp_path / "m.joblib")
    inspected = manifest_for_files(path)
    assert inspected.manifest.model_artifact.sha256 == sha256_file(path)
    assert inspected.manifest.libraries["scikit-learn"]


def test_an_optional_feature_the_model_cannot_miss_fails_at_load(tmp_path: Path, pipeline) -> None:
    folder = add_model(save(pipeline, tmp_path / "m.joblib"), tmp_path / "models").folder
    toml = (folder / "model.toml").read_text()
    (folder / "model.toml").write_text(
        toml.replace(
            'name = "x0", type = "number"', 'name = "x0", type = "number", required = false'
        )
    )
    with pytest.raises(ModelLoadError, match="cannot predict without x0"):
        load_package(folder)
