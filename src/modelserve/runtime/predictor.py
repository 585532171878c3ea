"""Engines: run validated columns through a loaded model, whatever its format.

Every engine answers with the same `Prediction`: a label per row and, for classifiers that
have them, the class probabilities in the order of `classes`; regressors give `values`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .errors import ModelLoadError
from .manifest import Choice, Feature
from .schema import Columns


@dataclass(frozen=True)
class Prediction:
    """The answer for a batch of rows."""

    classes: list[Choice]
    labels: list[Any]
    probabilities: np.ndarray | None = None
    values: np.ndarray | None = None
    # Each row's label as its position in `classes` (labels[i] is classes[label_index[i]]),
    # from engines that pick labels by index: a 10,000-row answer then writes and counts its
    # labels without hashing them one by one.
    label_index: np.ndarray | None = None


class Engine(Protocol):
    """Turns validated columns into a `Prediction`."""

    task: str
    classes: list[Choice]

    def run(self, columns: Columns) -> Prediction: ...


def plain(value: Any) -> Any:
    """A numpy scalar (or bytes) as the matching plain Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def numeric_matrix(columns: Columns, dtype: type = np.float64) -> np.ndarray:
    """Rows x features, as one contiguous float array."""
    return np.array(columns.values, dtype=dtype).T.copy()


class SklearnEngine:
    """A scikit-learn estimator (or Pipeline), after optional separate preprocessing steps."""

    def __init__(
        self,
        estimator: Any,
        features: Sequence[Feature],
        *,
        steps: Sequence[Any] = (),
        frame: bool = False,
    ) -> None:
        self.estimator = estimator
        self.steps = list(steps)
        self.features = list(features)
        self.frame = frame
        self.numeric = all(f.numeric for f in self.features)
        self.task = "classification" if hasattr(estimator, "classes_") else "regression"
        self.classes: list[Choice] = (
            [plain(c) for c in estimator.classes_] if self.task == "classification" else []
        )
        self.has_proba = self.task == "classification" and hasattr(estimator, "predict_proba")

    def matrix(self, columns: Columns) -> Any:
        """The model input exactly as it was trained on: a DataFrame or an array."""
        if self.frame:
            import pandas as pd  # noqa: PLC0415 - only pipelines that need column names pay

            data = {
                n: pd.Series(v, dtype=_pandas_dtype(f))
                for n, v, f in zip(columns.names, columns.values, self.features, strict=True)
            }
            return pd.DataFrame(data, columns=columns.names)
        if self.numeric:
            return numeric_matrix(columns)
        return np.array(columns.values, dtype=object).T

    def run(self, columns: Columns) -> Prediction:
        x = self.matrix(columns)
        for step in self.steps:
            x = step.transform(x)
        if self.task == "regression":
            values = np.asarray(self.estimator.predict(x), dtype=np.float64).reshape(-1)
            return Prediction([], [float(v) for v in values], values=values)
        labels = [plain(v) for v in self.estimator.predict(x)]
        proba = self.estimator.predict_proba(x) if self.has_proba else None
        return Prediction(self.classes, labels, probabilities=proba)


def _pandas_dtype(feat: Feature) -> str:
    return "float64" if feat.numeric else "object"


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": np.object_,
}


class OnnxEngine:
    """An onnxruntime session: one [n, k] tensor input, or one [n, 1] input per feature."""

    def __init__(
        self, session: Any, features: Sequence[Feature], *, task: str, classes: Sequence[Choice]
    ) -> None:
        self.session = session
        self.features = list(features)
        self.task = task
        self.classes = list(classes)
        inputs = session.get_inputs()
        names = [f.name for f in self.features]
        self.per_column = [i.name for i in inputs] == names
        if not self.per_column and len(inputs) != 1:
            raise ModelLoadError(
                f"ONNX inputs {[i.name for i in inputs]} match neither one tensor "
                f"nor the features {names}"
            )
        self.input_types = [_ONNX_DTYPES.get(i.type, np.float32) for i in inputs]
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in session.get_outputs()]

    def feeds(self, columns: Columns) -> dict[str, np.ndarray]:
        if not self.per_column:
            return {self.input_names[0]: numeric_matrix(columns, self.input_types[0])}
        return {
            name: np.array(values, dtype=dtype).reshape(-1, 1)
            for name, values, dtype in zip(
                self.input_names, columns.values, self.input_types, strict=True
            )
        }

    def run(self, columns: Columns) -> Prediction:
        outputs = self.session.run(self.output_names, self.feeds(columns))
        if self.task == "regression":
            values = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
            return Prediction([], [float(v) for v in values], values=values)
        labels = [plain(v) for v in np.asarray(outputs[0]).reshape(-1)]
        proba = self._probabilities(outputs[1]) if len(outputs) > 1 else None
        return Prediction(self.classes, labels, probabilities=proba)

    def _probabilities(self, raw: Any) -> np.ndarray:
        if isinstance(raw, list):  # ZipMap output: one {class: p} map per row
            return np.array([[row[c] for c in self.classes] for row in raw], dtype=np.float64)
        return np.asarray(raw, dtype=np.float64)


class KerasEngine:
    """A Keras model taking one float tensor of the features in manifest order."""

    def __init__(
        self, model: Any, features: Sequence[Feature], *, task: str, classes: Sequence[Choice]
    ) -> None:
        self.model = model
        self.features = list(features)
        self.task = task
        self.classes = list(classes)

    def run(self, columns: Columns) -> Prediction:
        out = np.asarray(self.model.predict(numeric_matrix(columns, np.float32), verbose=0))
        out = out.reshape(columns.n_rows, -1).astype(np.float64)
        if self.task == "regression":
            values = out[:, 0]
            return Prediction([], [float(v) for v in values], values=values)
        proba = np.column_stack([1.0 - out[:, 0], out[:, 0]]) if out.shape[1] == 1 else out
        labels = [self.classes[i] for i in np.argmax(proba, axis=1)]
        return Prediction(self.classes, labels, probabilities=proba)
