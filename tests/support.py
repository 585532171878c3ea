"""Small models in every supported format, trained on generated data for the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

CITIES = ["Madrid", "Sevilla", "Bilbao"]
PLANS = ["basic", "pro"]


def mixed_data(rows: int = 300, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric and categorical columns, and a churn-like yes/no target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "income": rng.normal(30_000, 8_000, rows).round(0),
            "city": rng.choice(CITIES, rows),
            "plan": rng.choice(PLANS, rows),
        }
    )
    score = (frame["age"] - 45) / 15 + (frame["plan"] == "pro") * 1.2 - (frame["city"] == "Bilbao")
    target = np.where(score + rng.normal(0, 0.7, rows) > 0, "yes", "no")
    return frame, target


def mixed_pipeline() -> tuple[Pipeline, pd.DataFrame, pd.DataFrame]:
    """A ColumnTransformer + OneHotEncoder + LogisticRegression pipeline, and held-out rows."""
    frame, target = mixed_data()
    train, held_out = frame.iloc[:240], frame.iloc[240:]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ]
    )
    pipeline = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    return pipeline.fit(train, target[:240]), train, held_out


def numeric_pipeline() -> tuple[Pipeline, np.ndarray, np.ndarray]:
    """A scaler + logistic regression on a plain float array (no column names)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 3))
    y = np.where(x @ [1.0, -2.0, 0.5] + rng.normal(0, 0.5, 200) > 0, 1, 0)
    return (
        make_pipeline(StandardScaler(), LogisticRegression()).fit(x[:150], y[:150]),
        x[:150],
        x[150:],
    )


def save(obj: object, path: Path) -> Path:
    """Save with the library the file suffix names."""
    if path.suffix == ".joblib":
        joblib.dump(obj, path)
    elif path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(obj))
    elif path.suffix == ".skops":
        import skops.io as sio

        sio.dump(obj, path)
    else:
        raise ValueError(path.suffix)
    return path


def to_onnx_per_column(pipeline: Pipeline, frame: pd.DataFrame, path: Path) -> Path:
    """skl2onnx with one input per column (strings for categories), probabilities as a tensor."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (
            c,
            FloatTensorType([None, 1])
            if is_numeric_dtype(frame[c])
            else StringTensorType([None, 1]),
        )
        for c in frame.columns
    ]
    options = {id(pipeline.steps[-1][1]): {"zipmap": False}}
    onx = convert_sklearn(pipeline, initial_types=inputs, options=options, target_opset=17)
    path.write_bytes(onx.SerializeToString())
    return path


def to_onnx_tensor(pipeline: Pipeline, width: int, path: Path, *, zipmap: bool = False) -> Path:
    """skl2onnx with one [n, width] float tensor input."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(pipeline.steps[-1][1]): {"zipmap": zipmap}}
    onx = convert_sklearn(
        pipeline,
        initial_types=[("input", FloatTensorType([None, width]))],
        options=options,
        target_opset=17,
    )
    path.write_bytes(onx.SerializeToString())
    return path
