"""A package's recorded replay answers without scikit-learn, exactly as the full load does, and
only while it is still that package's: anything stale or broken falls back to the model files."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
import scipy.special
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from modelserve.demo import ensure_demo_models
from modelserve.runtime.artifacts import sha256_bytes
from modelserve.runtime.errors import ManifestError, UnsafeArtifactError
from modelserve.runtime.fastpath import FastEngine, expit
from modelserve.runtime.manifest import Manifest
from modelserve.runtime.registry import LoadedModel, load_package
from modelserve.runtime.replays import REPLAY_FILE
from modelserve.runtime.verify import generated_rows
from modelserve.services.catalog import add_model
from tests.support import mixed_pipeline, numeric_pipeline, save


@pytest.fixture
def package(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the exam demo package, free to be tampered with."""
    return Path(shutil.copytree(demo_dir / "exam", tmp_path / "exam"))


def rows_of(model: LoadedModel, n: int = 500) -> list[dict]:
    rng = np.random.default_rng(11)
    rows = generated_rows(model.schema.features, n)
    for row in rows:
        for feat in model.schema.features:
            if feat.numeric and feat.min is not None and feat.max is not None:
                row[feat.name] = float(rng.uniform(feat.min, feat.max))
    return rows


def same_answers(a: LoadedModel, b: LoadedModel, rows: list[dict]) -> None:
    want = b.engine.run(b.schema.validate(rows))
    got = a.engine.run(a.schema.validate(rows))
    assert got.labels == want.labels
    for mine, theirs in ((got.probabilities, want.probabilities), (got.values, want.values)):
        assert (mine is None) is (theirs is None)
        if mine is not None:
            assert mine.tobytes() == theirs.tobytes()  # bit for bit


def recorded(folder: Path) -> LoadedModel:
    model = load_package(folder)
    assert isinstance(model.engine, FastEngine)
    assert model.engine.original is None, model.notes
    return model


@pytest.mark.parametrize("name", ["exam", "exam-legacy", "iris"])
def test_demo_packages_answer_from_their_replay_bit_for_bit(demo_dir: Path, name: str) -> None:
    assert Manifest.load(demo_dir / name).replay is not None
    model = recorded(demo_dir / name)
    assert "scikit-learn not loaded" in model.notes[-1]
    same_answers(model, load_package(demo_dir / name, recorded=False), rows_of(model))


def test_serving_a_recorded_package_never_imports_sklearn_scipy_or_pandas(demo_dir: Path) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from modelserve.runtime.registry import Registry, load_source\n"
        f"folder = Path({str(demo_dir)!r})\n"
        "models = [load_source(folder / n) for n in ('exam', 'exam-legacy', 'iris')]\n"
        "Registry(models).warm_up()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_mixed_and_regression_pipelines_are_recorded_and_answer_alike(tmp_path: Path) -> None:
    pipeline, _, held_out = mixed_pipeline()
    churn = add_model(save(pipeline, tmp_path / "churn.joblib"), tmp_path / "models").folder
    model = recorded(churn)
    same_answers(model, load_package(churn, recorded=False), held_out.to_dict("records"))

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 50, size=(200, 3))
    regression = make_pipeline(SimpleImputer(), MinMaxScaler(clip=True), LinearRegression())
    regression.fit(x, x @ [0.5, -1.5, 2.0] + 3)
    folder = add_model(save(regression, tmp_path / "reg.joblib"), tmp_path / "models").folder
    model = recorded(folder)
    rows = [{f"x{i}": float(v) for i, v in enumerate(r)} for r in rng.uniform(0, 50, (50, 3))]
    same_answers(model, load_package(folder, recorded=False), rows)


def test_a_model_without_a_fast_path_records_nothing(tmp_path: Path) -> None:
    _, x, _ = numeric_pipeline()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, x[:, 0] > 0)
    folder = add_model(save(forest, tmp_path / "forest.joblib"), tmp_path / "models").folder
    assert Manifest.load(folder).replay is None
    assert not (folder / REPLAY_FILE).exists()
    assert not isinstance(load_package(folder).engine, FastEngine)


def falls_back(folder: Path, reason: str) -> None:
    model = load_package(folder)
    assert isinstance(model.engine, FastEngine)
    assert model.engine.original is not None  # loaded from the model files, verified again
    assert any(f"recorded replay not used ({reason}" in n for n in model.notes), model.notes


def rewrite(folder: Path, change) -> None:
    """Edit replay.json, and pin the edited bytes, as a careless hand would."""
    doc = json.loads((folder / REPLAY_FILE).read_text())
    change(doc)
    data = orjson.dumps(doc)
    (folder / REPLAY_FILE).write_bytes(data)
    text = (folder / "model.toml").read_text()
    old = Manifest.load(folder).replay.sha256
    (folder / "model.toml").write_text(text.replace(old, sha256_bytes(data)))


def test_an_edited_replay_file_is_not_used(package: Path) -> None:
    (package / REPLAY_FILE).write_bytes((package / REPLAY_FILE).read_bytes() + b" ")
    falls_back(package, "replay.json does not match its pinned sha256")


def test_a_replay_whose_numbers_changed_fails_its_recorded_answers(package: Path) -> None:
    def shift_mean(doc: dict) -> None:
        mean = doc["plan"]["steps"][0]["mean"]
        values = np.frombuffer(base64.b64decode(mean["data"])) + 1e-3
        mean["data"] = base64.b64encode(values.tobytes()).decode()

    rewrite(package, shift_mean)
    falls_back(package, "the replay now differs by")


def test_a_replay_of_other_files_is_not_used(package: Path) -> None:
    rewrite(package, lambda doc: doc["sources"].__setitem__(0, "0" * 64))
    falls_back(package, "recorded from other model files")


def test_a_replay_of_other_features_is_not_used(package: Path) -> None:
    manifest = Manifest.load(package)
    manifest.features[0].type = "integer"  # the operator asks for whole hours
    manifest.save(package)
    falls_back(package, "recorded for other features")


def test_a_changed_model_file_is_refused_even_with_a_replay(package: Path) -> None:
    (package / "model.joblib").write_bytes((package / "model.joblib").read_bytes() + b"\0")
    with pytest.raises(UnsafeArtifactError, match="does not match the pinned"):
        load_package(package)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('file = "../x.json"\nsha256 = "' + "a" * 64 + '"', "file must be a .json file"),
        ('file = "replay.json"\nsha256 = "abc"', "needs sha256"),
        ('file = "replay.json"\nsha256 = "' + "a" * 64 + '"\nextra = 1', "unknown key"),
    ],
)
def test_a_malformed_replay_entry_is_a_manifest_error(
    package: Path, entry: str, message: str
) -> None:
    text = (package / "model.toml").read_text()
    head = text[: text.index("[replay]")]
    (package / "model.toml").write_text(head + "[replay]\n" + entry + "\n")
    with pytest.raises(ManifestError, match=message):
        Manifest.load(package)


def test_expit_is_scipys_bit_for_bit() -> None:
    x = np.random.default_rng(3).normal(0, 40, 200_000)
    x = np.concatenate([x, [-1e4, -745.2, -709.8, -0.0, 0.0, 36.8, 709.8, 1e4, np.inf, -np.inf]])
    column = np.empty((x.size, 2))
    expit(x, out=column[:, 1])
    assert column[:, 1].tobytes() == scipy.special.expit(x).tobytes()
    assert expit(x.copy()).tobytes() == scipy.special.expit(x).tobytes()


def test_the_demo_records_the_replay_of_a_package_trained_before_replays(
    demo_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    for name in ("exam", "exam-legacy", "iris"):
        shutil.copytree(demo_dir / name, models / name)
    manifest = Manifest.load(models / "iris")
    manifest.replay = None  # as written before replays were recorded
    manifest.save(models / "iris")
    (models / "iris" / REPLAY_FILE).unlink()
    ensure_demo_models(models)
    assert Manifest.load(models / "iris").replay is not None
    recorded(models / "iris")
