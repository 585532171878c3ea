"""What the API serves equals what the file computes in-process, for every format.

1e-9 for float64 paths; 1e-6 where the model itself computes in float32 (ONNX, Keras).
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from flask import Flask
from pandas.api.types import is_numeric_dtype

from modelserve.services.catalog import add_model
from tests.conftest import app_with_tables
from tests.support import mixed_pipeline, numeric_pipeline, save, to_onnx_per_column, to_onnx_tensor


def served(app: Flask, name: str, rows: list[dict]) -> tuple[list, np.ndarray]:
    response = app.test_client().post(f"/api/v1/models/{name}/predict", json={"instances": rows})
    assert response.status_code == 200, response.get_json()
    predictions = response.get_json()["predictions"]
    labels = [p["label"] for p in predictions]
    return labels, np.array([list(p["probabilities"].values()) for p in predictions])


def app_for(tmp_path: Path, *sources: Path, **config: object) -> Flask:
    return app_with_tables(
        {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
            "MODELS": [str(s) for s in sources],
            "TESTING": True,
            **config,
        }
    )


def records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


@pytest.mark.parametrize("suffix", [".joblib", ".pkl", ".skops"])
def test_sklearn_formats_match_predict_proba(tmp_path: Path, suffix: str) -> None:
    pipeline, _, held_out = mixed_pipeline()
    path = save(pipeline, tmp_path / f"churn{suffix}")
    trust = ["sklearn.compose._column_transformer._RemainderColsList"] if suffix == ".skops" else []
    app = app_for(tmp_path, path, TRUSTED_TYPES=trust)
    labels, proba = served(app, "churn", records(held_out))
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), rtol=0, atol=1e-9)
    assert labels == list(pipeline.predict(held_out))


def test_separate_preprocessing_files_are_replayed_in_order(tmp_path: Path, demo_dir: Path) -> None:
    folder = demo_dir / "exam-legacy"
    scaler = joblib.load(folder / "scaler.joblib")
    classifier = joblib.load(folder / "classifier.joblib")
    rows = [{"estudio": s, "sueno": h} for s in (0, 2.5, 6, 11) for h in (3, 7.5, 10)]
    import pandas as pd

    expected = classifier.predict_proba(scaler.transform(pd.DataFrame(rows)))
    _, proba = served(app_for(tmp_path, folder), "exam-legacy", rows)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-9)
    # ...and the one-file pipeline of the same data answers the same.
    _, pipeline_proba = served(app_for(tmp_path, demo_dir / "exam"), "exam", rows)
    np.testing.assert_allclose(pipeline_proba, expected, rtol=0, atol=1e-9)


def test_onnx_per_column_matches_its_session_and_sklearn(tmp_path: Path) -> None:
    import onnxruntime as ort

    pipeline, train, held_out = mixed_pipeline()
    path = to_onnx_per_column(pipeline, train, tmp_path / "churn.onnx")
    labels, proba = served(app_for(tmp_path, path), "churn", records(held_out))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {
        c: held_out[[c]].to_numpy().astype(np.float32 if is_numeric_dtype(held_out[c]) else object)
        for c in held_out.columns
    }
    onnx_labels, onnx_proba = session.run(None, feeds)
    np.testing.assert_allclose(proba, onnx_proba, rtol=0, atol=1e-6)
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), rtol=0, atol=1e-6)
    assert labels == [str(v) for v in onnx_labels]
    features = {
        f["name"]: f
        for f in app_for(tmp_path, path)
        .test_client()
        .get("/api/v1/models/churn")
        .get_json()["features"]
    }
    assert sorted(features["city"]["choices"]) == sorted(train["city"].unique())


@pytest.mark.parametrize("zipmap", [False, True])
def test_onnx_tensor_input_matches_sklearn(tmp_path: Path, zipmap: bool) -> None:
    pipeline, _, held_out = numeric_pipeline()
    path = to_onnx_tensor(pipeline, 3, tmp_path / "num.onnx", zipmap=zipmap)
    rows = [{f"x{i}": float(v) for i, v in enumerate(row)} for row in held_out]
    labels, proba = served(app_for(tmp_path, path), "num", rows)
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), rtol=0, atol=1e-6)
    assert labels == [int(v) for v in pipeline.predict(held_out)]


def test_a_mixed_pipeline_needs_no_handwritten_manifest(tmp_path: Path) -> None:
    pipeline, train, held_out = mixed_pipeline()
    added = add_model(save(pipeline, tmp_path / "churn.joblib"), tmp_path / "models")
    features = {f.name: f for f in added.manifest.features}
    assert features["city"].type == "category"
    assert sorted(features["city"].choices or []) == sorted(train["city"].unique())
    assert features["plan"].choices == ["basic", "pro"]
    assert features["age"].type == "number"
    assert added.manifest.input == "frame"
    _, proba = served(app_for(tmp_path, added.folder), "churn", records(held_out))
    np.testing.assert_allclose(proba, pipeline.predict_proba(held_out), rtol=0, atol=1e-9)
