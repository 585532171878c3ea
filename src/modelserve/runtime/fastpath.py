"""Exact fast paths: replay the fitted arithmetic of common scikit-learn steps in float64.

scikit-learn spends ~250 µs of every call re-checking its input (`check_array`, dataframe
detection, `check_is_fitted`); the arithmetic of a scaler and a logistic regression is a few
µs. Our schema has already checked every value, so for the steps below we replay the same
float64 operations, in the same order, on a plain array:

    StandardScaler, MinMaxScaler, SimpleImputer (NaN, numeric), OneHotEncoder,
    ColumnTransformer and Pipeline of those, then LogisticRegression or a linear regressor.

`replay(engine)` compiles a `SklearnEngine` (its separate preprocessing steps included) or
raises `NotReplayable` with the reason. A replay is never trusted on its own: `verify.py`
compares it with the original on reference rows before it is used.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from .manifest import Choice
from .predictor import Prediction, SklearnEngine
from .schema import Columns

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

Step = Callable[[np.ndarray], np.ndarray]
REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet")


def _is(obj: Any, package: str, name: str) -> bool:
    """`type(obj) is package.name`, without importing `package` when it is not imported yet.

    An object can only be an instance of a class whose module has been imported (unpickling a
    model imports what it needs), so the scikit-learn packages no loaded model uses are never
    imported: `sklearn.impute` alone costs ~150 ms of start-up.
    """
    module = sys.modules.get(package)
    return module is not None and type(obj) is getattr(module, name, None)


class NotReplayable(Exception):
    """This estimator (or one of its steps) has no exact replay; the message says why."""


class FastEngine:
    """The float64 replay of a verified scikit-learn engine; answers like the original."""

    inline = True  # microseconds of bounded arithmetic: no deadline thread needed

    def __init__(
        self, original: SklearnEngine, steps: list[Step], head: Callable[..., Prediction]
    ) -> None:
        self.original = original
        self.task = original.task
        self.classes: list[Choice] = original.classes
        self.numeric = original.numeric
        self.steps = steps
        self.head = head
        self.handles_missing = True  # set by verification

    def matrix(self, columns: Columns) -> np.ndarray:
        if self.numeric and columns.matrix is not None:
            return columns.matrix
        if self.numeric:
            return np.array(columns.values, dtype=np.float64).T
        x = np.empty((columns.n_rows, len(columns.values)), dtype=object)
        for j, values in enumerate(columns.values):
            x[:, j] = values
        return x

    def run(self, columns: Columns) -> Prediction:
        x = self.matrix(columns)
        if not self.handles_missing and _has_missing(x):
            return self.original.run(columns)  # the original's own answer (or its own error)
        for step in self.steps:
            x = step(x)
        return self.head(x)


def _has_missing(x: np.ndarray) -> bool:
    if x.dtype == np.float64:
        return bool(np.isnan(x).any())
    return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in x.flat)


def replay(engine: SklearnEngine) -> FastEngine:
    """Compile `engine` into a `FastEngine`, or raise `NotReplayable`."""
    chain = [s for obj in [*engine.steps, engine.estimator] for s in _flatten(obj)]
    *transforms, final = chain
    order = _input_order(chain[0], [f.name for f in engine.features])
    steps = ([order] if order else []) + [_transform(t) for t in transforms]
    return FastEngine(engine, steps, _head(final, engine.classes))


def _flatten(obj: Any) -> list[Any]:
    if _is(obj, "sklearn.pipeline", "Pipeline"):
        return [
            s for _, step in obj.steps if step not in (None, "passthrough") for s in _flatten(step)
        ]
    return [obj]


def _input_order(first: Any, names: Sequence[str]) -> Step | None:
    """Reorder manifest columns into the order the first step was fitted on."""
    fitted = getattr(first, "feature_names_in_", None)
    if fitted is None or list(fitted) == list(names):
        return None
    if set(fitted) - set(names):
        raise NotReplayable(f"fitted on columns {list(fitted)} the schema does not have")
    index = [list(names).index(n) for n in fitted]
    return lambda x: x[:, index]


def _transform(step: Any) -> Step:
    if _is(step, "sklearn.preprocessing", "StandardScaler"):
        return _standard_scaler(step)
    if _is(step, "sklearn.preprocessing", "MinMaxScaler"):
        return _minmax_scaler(step)
    if _is(step, "sklearn.impute", "SimpleImputer"):
        return _imputer(step)
    if _is(step, "sklearn.preprocessing", "OneHotEncoder"):
        return _one_hot(step)
    if _is(step, "sklearn.compose", "ColumnTransformer"):
        return _column_transformer(step)
    raise NotReplayable(f"no exact replay of {type(step).__name__}")


def _floats(x: np.ndarray) -> np.ndarray:
    return x if x.dtype == np.float64 else x.astype(np.float64)


def _standard_scaler(scaler: StandardScaler) -> Step:
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def run(x: np.ndarray) -> np.ndarray:
        # The same two float64 operations as sklearn's in-place ones, on new arrays.
        x = _floats(x)
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return run


def _minmax_scaler(scaler: MinMaxScaler) -> Step:
    scale, low = scaler.scale_, scaler.min_
    bounds = scaler.feature_range if scaler.clip else None

    def run(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)
        x *= scale
        x += low
        if bounds is not None:
            np.clip(x, bounds[0], bounds[1], out=x)
        return x

    return run


def _imputer(imputer: SimpleImputer) -> Step:
    missing = imputer.missing_values
    stats = imputer.statistics_
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise NotReplayable(f"SimpleImputer(missing_values={missing!r}) is not NaN")
    if imputer.add_indicator or stats.dtype.kind != "f" or np.isnan(stats).any():
        raise NotReplayable("SimpleImputer with indicators, non-numeric or empty columns")

    def run(x: np.ndarray) -> np.ndarray:
        x = _floats(x)
        mask = np.isnan(x)
        return np.where(mask, stats, x) if mask.any() else x

    return run


def _one_hot(encoder: OneHotEncoder) -> Step:
    if getattr(encoder, "_infrequent_enabled", False):
        raise NotReplayable("OneHotEncoder with infrequent categories")
    lookups = []
    for cats in encoder.categories_:
        if any(isinstance(c, float) and math.isnan(c) for c in cats):
            raise NotReplayable("OneHotEncoder with a NaN category")
        lookups.append({c: i for i, c in enumerate(cats)})
    drops = encoder.drop_idx_ if encoder.drop_idx_ is not None else [None] * len(lookups)
    strict = encoder.handle_unknown == "error"
    widths = [len(c) for c in lookups]
    offsets = np.cumsum([0, *widths])
    keep = np.ones(offsets[-1], dtype=bool)
    for j, drop in enumerate(drops):
        if drop is not None:
            keep[offsets[j] + int(drop)] = False
    dtype = encoder.dtype

    def run(x: np.ndarray) -> np.ndarray:
        out = np.zeros((x.shape[0], offsets[-1]), dtype=dtype)
        for j, lookup in enumerate(lookups):
            for i, value in enumerate(x[:, j].tolist()):
                hit = lookup.get(value)
                if hit is not None:
                    out[i, offsets[j] + hit] = 1
                elif strict:
                    raise ValueError(f"Found unknown category {value!r} in column {j}")
        return out if keep.all() else out[:, keep]

    return run


def _column_transformer(ct: ColumnTransformer) -> Step:
    indices = getattr(ct, "_transformer_to_input_indices", None)
    if indices is None:
        raise NotReplayable("ColumnTransformer without resolved column indices")
    parts: list[tuple[list[int], Step | None]] = []
    for name, trans, _ in ct.transformers_:
        index = list(indices.get(name, []))
        if trans == "drop" or not index:
            continue
        if trans == "passthrough":
            parts.append((index, None))
        else:
            chain = [_transform(s) for s in _flatten(trans)]
            parts.append((index, _chained(chain)))

    def run(x: np.ndarray) -> np.ndarray:
        blocks = [
            _floats(x[:, index]) if step is None else _floats(step(x[:, index]))
            for index, step in parts
        ]
        return np.hstack(blocks)

    return run


def _chained(steps: list[Step]) -> Step:
    def run(x: np.ndarray) -> np.ndarray:
        for step in steps:
            x = step(x)
        return x

    return run


def _head(final: Any, classes: list[Choice]) -> Callable[[np.ndarray], Prediction]:
    if _is(final, "sklearn.linear_model", "LogisticRegression"):
        return _logistic(final, classes)
    if any(_is(final, "sklearn.linear_model", name) for name in REGRESSORS):
        return _linear(final)
    raise NotReplayable(f"no exact replay of {type(final).__name__}")


def _logistic(model: LogisticRegression, classes: list[Choice]) -> Callable[..., Prediction]:
    """One decision per row: the label as `predict` takes it, the probabilities from it."""
    coef_t, intercept = model.coef_.T, model.intercept_
    binary = len(model.classes_) <= 2
    ovr = getattr(model, "multi_class", "auto") == "ovr" or (
        getattr(model, "multi_class", "auto") in ("auto", "deprecated", "warn")
        and model.solver == "liblinear"
        and hasattr(model, "multi_class")
    )
    # Labels by index in one numpy take: the same objects as classes[i], ~10x faster per row.
    by_index = np.empty(len(classes), dtype=object)
    by_index[:] = classes

    def run(x: np.ndarray) -> Prediction:
        scores = _floats(x) @ coef_t
        scores += intercept
        if binary:
            decision = scores[:, 0]
            labels = by_index[(decision > 0).view(np.int8)].tolist()
            proba = np.empty((decision.shape[0], 2))
            expit(decision, out=proba[:, 1])
            np.subtract(1, proba[:, 1], out=proba[:, 0])
            return Prediction(classes, labels, probabilities=proba)
        labels = by_index[scores.argmax(axis=1)].tolist()
        return Prediction(classes, labels, probabilities=_ovr(scores) if ovr else _softmax(scores))

    return run


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1).reshape(-1, 1)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1).reshape(-1, 1)
    return scores


def _ovr(scores: np.ndarray) -> np.ndarray:
    prob = expit(scores)
    total = prob.sum(axis=1)
    zero = total == 0
    prob[zero, :] = 1
    total[zero] = prob.shape[1]
    prob /= total.reshape(-1, 1)
    return prob


def _linear(model: Any) -> Callable[[np.ndarray], Prediction]:
    coef, intercept = np.asarray(model.coef_), model.intercept_
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise NotReplayable("a multi-output regressor")
    coef = coef.reshape(-1)

    def run(x: np.ndarray) -> Prediction:
        values = np.asarray(_floats(x) @ coef + intercept, dtype=np.float64).reshape(-1)
        return Prediction([], values.tolist(), values=values)

    return run
