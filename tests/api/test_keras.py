"""Keras 3 models (the optional `modelserve[keras]` extra), on the torch CPU backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelserve.runtime.errors import ModelLoadError
from modelserve.runtime.registry import load_source
from tests.api.test_fidelity import app_for, served

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras


def exam_network(units: int = 2) -> tuple[object, np.ndarray]:
    from modelserve.demo import exam_data

    frame, target = exam_data()
    x = frame.to_numpy(dtype=np.float32)
    y = (target == "Aprobado").astype(np.float32)
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(units, activation="softmax" if units > 1 else "sigmoid"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy" if units > 1 else "binary_crossentropy",
    )
    model.fit(x, y, epochs=3, verbose=0)
    return model, x[:40]


@pytest.mark.parametrize(("suffix", "units"), [(".keras", 2), (".keras", 1), (".h5", 2)])
def test_keras_served_matches_model_predict(tmp_path: Path, suffix: str, units: int) -> None:
    model, held_out = exam_network(units)
    path = tmp_path / f"net{suffix}"
    model.save(path)
    rows = [{"x0": float(a), "x1": float(b)} for a, b in held_out]
    labels, proba = served(app_for(tmp_path, path), "net", rows)
    direct = np.asarray(
        keras.saving.load_model(path).predict(held_out, verbose=0), dtype=np.float64
    )
    if units == 1:
        direct = np.column_stack([1 - direct[:, 0], direct[:, 0]])
    np.testing.assert_allclose(proba, direct, rtol=0, atol=1e-6)
    assert labels == [int(i) for i in np.argmax(direct, axis=1)]


def test_safe_mode_refuses_a_python_lambda(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            keras.layers.Lambda(lambda t: t * 2),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ModelLoadError, match=r"lambda|Lambda|unsafe|safe_mode"):
        load_source(path)
