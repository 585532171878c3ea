"""`modelserve models compile`: a faithful ONNX translation is kept and served, others refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler

from modelserve.cli import main
from modelserve.runtime.manifest import Manifest
from modelserve.runtime.registry import Registry, load_source
from tests.support import mixed_pipeline, save

COLUMNS = ["a", "b", "c"]


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def add(model: object, train: pd.DataFrame, name: str, tmp_path: Path) -> Path:
    reference = tmp_path / f"{name}.csv"
    train.to_csv(reference, index=False)
    result = run(
        "models", "add", save(model, tmp_path / f"{name}.joblib"), "--reference", reference
    )
    assert result.exit_code == 0, result.output
    return reference


def training(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(0, 10, size=(300, 3)), columns=COLUMNS)


def test_a_logistic_pipeline_compiles_and_answers_through_the_api(
    tmp_instance: Path, tmp_path: Path, make_app
) -> None:
    train = training()
    labels = np.where(train["a"] - 0.5 * train["b"] + 0.1 * train["c"] > 2.5, "yes", "no")
    # RobustScaler has no exact float64 replay, so the compiled ONNX is what can speed it up.
    pipeline = make_pipeline(RobustScaler(), LogisticRegression()).fit(train, labels)
    add(pipeline, train, "churn", tmp_path)

    result = run("models", "compile", "churn")

    assert result.exit_code == 0, result.output
    assert "compiled" in result.output and "reference rows" in result.output
    folder = tmp_instance / "models" / "churn"
    compiled = Manifest.load(folder).compiled
    assert compiled is not None and (folder / compiled.file).is_file()
    model = load_source(folder)
    assert any("compiled ONNX answers" in note for note in model.notes), model.notes
    client = make_app(REGISTRY=Registry([model])).test_client()
    rows = training(seed=11).head(50)
    response = client.post(
        "/api/v1/models/churn/predict", json={"instances": rows.to_dict("records")}
    )
    assert response.status_code == 200, response.get_json()
    answers = response.get_json()["predictions"]
    want = pipeline.predict_proba(rows)
    got = np.array([[a["probabilities"][c] for c in ("no", "yes")] for a in answers])
    assert np.max(np.abs(got - want)) <= 1e-6
    assert [a["label"] for a in answers] == list(pipeline.predict(rows))


def test_a_forest_whose_translation_differs_is_refused_with_the_reason(
    tmp_instance: Path, tmp_path: Path
) -> None:
    train = training()
    # Every leaf holds 1000.1 or 2000.1, which float32 (ONNX's tree arithmetic) cannot hold:
    # the nearest float32 values are 2.4e-5 away from both, so no row can match within 1e-6.
    target = np.where(train["a"] < 5, 1000.1, 2000.1)
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(train, target)
    add(forest, train, "prices", tmp_path)

    result = run("models", "compile", "prices")

    assert result.exit_code == 1
    assert "not compiled" in result.output and "differs by" in result.output
    assert "(> 1e-06)" in result.output
    folder = tmp_instance / "models" / "prices"
    assert not (folder / "model.onnx").exists()
    assert Manifest.load(folder).compiled is None


def test_a_mixed_pipeline_compiles_with_one_input_per_column(
    tmp_instance: Path, tmp_path: Path
) -> None:
    pipeline, train, _ = mixed_pipeline()
    add(pipeline, train, "mixed", tmp_path)
    result = run("models", "compile", tmp_instance / "models" / "mixed")
    assert result.exit_code == 0, result.output
    model = load_source(tmp_instance / "models" / "mixed")
    # Its exact float64 replay is closer and faster, so that one answers.
    assert any("exact fast path on" in note for note in model.notes), model.notes


def test_a_tampered_compiled_file_is_not_used(tmp_instance: Path, tmp_path: Path) -> None:
    train = training()
    labels = np.where(train["a"] > 5, "yes", "no")
    add(
        make_pipeline(RobustScaler(), LogisticRegression()).fit(train, labels), train, "t", tmp_path
    )
    assert run("models", "compile", "t").exit_code == 0
    folder = tmp_instance / "models" / "t"
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    model = load_source(folder)
    assert type(model.engine).__name__ == "SklearnEngine"
    assert any("compiled ONNX not used" in note and "sha256" in note for note in model.notes)


def test_only_packages_are_compiled(tmp_instance: Path, tmp_path: Path) -> None:
    result = run("models", "compile", "nothing-here")
    assert result.exit_code == 1 and "is not a model package" in result.output
