"""Exact fast paths: replay the fitted arithmetic of common scikit-learn steps in float64.

scikit-learn spends ~250 µs of every call re-checking its input (`check_array`, dataframe
detection, `check_is_fitted`); the arithmetic of a scaler and a logistic regression is a few
µs. Our schema has already checked every value, so for the steps below we replay the same
float64 operations, in the same order, on a plain array:

    StandardScaler, MinMaxScaler, SimpleImputer (NaN, numeric), OneHotEncoder,
    ColumnTransformer and Pipeline of those, then LogisticRegression or a linear regressor.

A replay is made in two stages. `plan(engine)` reads the fitted numbers out of a
`SklearnEngine` (its separate preprocessing steps included) into a plain, JSON-ready `Plan`,
or raises `NotReplayable` with the reason; `build(plan)` turns a plan into a `FastEngine` with
numpy alone. Both the in-memory replay (`replay`) and a package's recorded one (`replays.py`)
are built by `build` from the same plan, so the engine that was verified is the engine that
answers. A replay is never trusted on its own: `verify.py` compares it with the original on
reference rows before it is used.
"""

from __future__ import annotations

import base64
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .manifest import Choice
from .predictor import Prediction
from .schema import Columns

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    from .predictor import SklearnEngine

Step = Callable[[np.ndarray], np.ndarray]
Rows = list[list[float]]  # a few rows as Python floats, row after row
RowStep = Callable[[Rows], Rows]
Plan = dict[str, Any]  # JSON-ready: numbers, strings, lists, dicts; arrays via `encode_array`
PLAN_FORMAT = 1
REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet")
# Below this exp(x) of a float64 is finite (it overflows from about 709.78).
OVERFLOWS = 709.0
FEW_ROWS = 32  # below this, a loop in Python costs less than numpy's per-call overhead
NUMERIC_KINDS = frozenset("fiub")


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
    """The float64 replay of a verified scikit-learn engine; answers like the original.

    `original` is the scikit-learn engine it was verified against, or None when it was built
    from a package's recorded replay (the original was not even loaded).
    """

    inline = True  # microseconds of bounded arithmetic: no deadline thread needed

    def __init__(
        self,
        plan: Plan,
        steps: list[Step],
        head: Callable[..., Prediction],
        original: SklearnEngine | None = None,
        few: Callable[[Rows], Prediction] | None = None,
    ) -> None:
        self.plan = plan
        self.original = original
        self.task: str = plan["task"]
        self.classes: list[Choice] = list(plan["classes"])
        self.numeric: bool = plan["numeric"]
        self.steps = steps
        self.head = head
        self.few = few
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
        if self.few is not None and 0 < columns.n_rows < FEW_ROWS:
            rows = _plain_rows(columns.values)
            if rows is not None:
                return self.few(rows)
        x = self.matrix(columns)
        if not self.handles_missing and self.original is not None and _has_missing(x):
            return self.original.run(columns)  # the original's own answer (or its own error)
        for step in self.steps:
            x = step(x)
        return self.head(x)


def _plain_rows(values: list[list[Any]]) -> Rows | None:
    """The rows of feature-major `values` when every value is a finite-or-infinite float (no
    NaN: a missing value may need the original, and the imputer's arithmetic), else None."""
    for column in values:
        for value in column:
            if type(value) is not float or value != value:  # noqa: PLR0124 - NaN
                return None
    return [list(row) for row in zip(*values, strict=True)]


def _has_missing(x: np.ndarray) -> bool:
    if x.dtype == np.float64:
        return bool(np.isnan(x).any())
    return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in x.flat)


def replay(engine: SklearnEngine) -> FastEngine:
    """Compile `engine` into a `FastEngine` that falls back on it, or raise `NotReplayable`."""
    return build(plan(engine), original=engine)


# -- plan: read the fitted numbers out of scikit-learn objects -------------------------------


def plan(engine: SklearnEngine) -> Plan:
    """The JSON-ready replay plan of `engine`, or raise `NotReplayable` with the reason."""
    chain = [s for obj in [*engine.steps, engine.estimator] for s in _flatten(obj)]
    *transforms, final = chain
    return {
        "format": PLAN_FORMAT,
        "task": engine.task,
        "classes": list(engine.classes),
        "numeric": engine.numeric,
        "order": _input_order(chain[0], [f.name for f in engine.features]),
        "steps": [_step_plan(t) for t in transforms],
        "head": _head_plan(final),
    }


def _flatten(obj: Any) -> list[Any]:
    if _is(obj, "sklearn.pipeline", "Pipeline"):
        return [
            s for _, step in obj.steps if step not in (None, "passthrough") for s in _flatten(step)
        ]
    return [obj]


def _input_order(first: Any, names: Sequence[str]) -> list[int] | None:
    """Where each column the first step was fitted on sits in the manifest's order."""
    fitted = getattr(first, "feature_names_in_", None)
    if fitted is None or list(fitted) == list(names):
        return None
    if set(fitted) - set(names):
        raise NotReplayable(f"fitted on columns {list(fitted)} the schema does not have")
    return [list(names).index(n) for n in fitted]


def _step_plan(step: Any) -> Plan:
    if _is(step, "sklearn.preprocessing", "StandardScaler"):
        return _standard_scaler_plan(step)
    if _is(step, "sklearn.preprocessing", "MinMaxScaler"):
        return _minmax_plan(step)
    if _is(step, "sklearn.impute", "SimpleImputer"):
        return _imputer_plan(step)
    if _is(step, "sklearn.preprocessing", "OneHotEncoder"):
        return _one_hot_plan(step)
    if _is(step, "sklearn.compose", "ColumnTransformer"):
        return _column_transformer_plan(step)
    raise NotReplayable(f"no exact replay of {type(step).__name__}")


def _standard_scaler_plan(scaler: StandardScaler) -> Plan:
    return {
        "kind": "standard_scaler",
        "mean": encode_array(scaler.mean_) if scaler.with_mean else None,
        "scale": encode_array(scaler.scale_) if scaler.with_std else None,
    }


def _minmax_plan(scaler: MinMaxScaler) -> Plan:
    bounds = [float(b) for b in scaler.feature_range] if scaler.clip else None
    return {
        "kind": "minmax",
        "scale": encode_array(scaler.scale_),
        "min": encode_array(scaler.min_),
        "clip": bounds,
    }


def _imputer_plan(imputer: SimpleImputer) -> Plan:
    missing = imputer.missing_values
    stats = imputer.statistics_
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise NotReplayable(f"SimpleImputer(missing_values={missing!r}) is not NaN")
    if imputer.add_indicator or stats.dtype.kind != "f" or np.isnan(stats).any():
        raise NotReplayable("SimpleImputer with indicators, non-numeric or empty columns")
    return {"kind": "imputer", "statistics": encode_array(stats)}


def _one_hot_plan(encoder: OneHotEncoder) -> Plan:
    if getattr(encoder, "_infrequent_enabled", False):
        raise NotReplayable("OneHotEncoder with infrequent categories")
    categories = [cats.tolist() for cats in encoder.categories_]
    for cats in categories:
        if any(isinstance(c, float) and math.isnan(c) for c in cats):
            raise NotReplayable("OneHotEncoder with a NaN category")
        if any(not isinstance(c, str | int | float | bool) for c in cats):
            raise NotReplayable("OneHotEncoder with categories that are not text or numbers")
    drops = encoder.drop_idx_ if encoder.drop_idx_ is not None else [None] * len(categories)
    return {
        "kind": "one_hot",
        "categories": categories,
        "drop": [None if d is None else int(d) for d in drops],
        "strict": encoder.handle_unknown == "error",
        "dtype": np.dtype(encoder.dtype).str,
    }


def _column_transformer_plan(ct: ColumnTransformer) -> Plan:
    indices = getattr(ct, "_transformer_to_input_indices", None)
    if indices is None:
        raise NotReplayable("ColumnTransformer without resolved column indices")
    parts: list[Plan] = []
    for name, trans, _ in ct.transformers_:
        index = [int(i) for i in indices.get(name, [])]
        if trans == "drop" or not index:
            continue
        steps = None if trans == "passthrough" else [_step_plan(s) for s in _flatten(trans)]
        parts.append({"index": index, "steps": steps})
    return {"kind": "columns", "parts": parts}


def _head_plan(final: Any) -> Plan:
    if _is(final, "sklearn.linear_model", "LogisticRegression"):
        return _logistic_plan(final)
    if any(_is(final, "sklearn.linear_model", name) for name in REGRESSORS):
        return _linear_plan(final)
    raise NotReplayable(f"no exact replay of {type(final).__name__}")


def _logistic_plan(model: LogisticRegression) -> Plan:
    multi_class = getattr(model, "multi_class", "auto")
    ovr = multi_class == "ovr" or (
        multi_class in ("auto", "deprecated", "warn")
        and model.solver == "liblinear"
        and hasattr(model, "multi_class")
    )
    return {
        "kind": "logistic",
        "coef": encode_array(model.coef_),
        "intercept": encode_array(np.asarray(model.intercept_)),
        "binary": len(model.classes_) <= 2,
        "ovr": ovr,
    }


def _linear_plan(model: Any) -> Plan:
    coef = np.asarray(model.coef_)
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise NotReplayable("a multi-output regressor")
    return {
        "kind": "linear",
        "coef": encode_array(coef.reshape(-1)),
        "intercept": encode_array(np.asarray(model.intercept_, dtype=np.float64)),
    }


def encode_array(values: np.ndarray) -> Plan:
    """A numeric array, exact to the bit: dtype, shape and base64 of its C-ordered bytes."""
    values = np.asarray(values)
    if values.dtype.kind not in NUMERIC_KINDS:
        raise NotReplayable(f"fitted values of type {values.dtype} are not numbers")
    data = np.ascontiguousarray(values)
    return {
        "dtype": data.dtype.str,
        "shape": list(data.shape),
        "data": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def decode_array(spec: Plan) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    if dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"replay arrays hold numbers, not {dtype}")
    raw = base64.b64decode(spec["data"], validate=True)
    return np.frombuffer(raw, dtype=dtype).reshape(spec["shape"]).copy()


# -- build: turn a plan into numpy closures ---------------------------------------------------


def build(plan: Plan, original: SklearnEngine | None = None) -> FastEngine:
    """The `FastEngine` of `plan` (numpy only; a malformed plan raises ValueError/KeyError)."""
    if plan.get("format") != PLAN_FORMAT:
        raise ValueError(f"replay plan format {plan.get('format')!r} is not {PLAN_FORMAT}")
    order = plan["order"]
    steps = ([_reorder([int(i) for i in order])] if order else []) + [
        _transform(s) for s in plan["steps"]
    ]
    classes = list(plan["classes"])
    few = _few_rows(plan, classes) if plan["numeric"] else None
    return FastEngine(plan, steps, _head(plan["head"], classes), original, few)


# -- a few rows as Python floats ------------------------------------------------------------
#
# numpy's fixed cost per call (~3-5 µs) is most of a single-row prediction. For a few rows
# without missing values, the steps below replay the very same IEEE float64 operations, in the
# same order, on Python floats (each `+ - * /` of two floats is correctly rounded in both), so
# a row gives the same bits alone as in a batch; only `exp` stays numpy's own ufunc, which
# the batch path calls too. A step or head without such a replay (or that could raise where
# numpy would not, like a division by a zero scale) leaves the engine to numpy for all rows.


def _few_rows(plan: Plan, classes: list[Choice]) -> Callable[[Rows], Prediction] | None:
    """The whole replay for a few NaN-free float rows, or None when a part has none."""
    steps: list[RowStep] = []
    if plan["order"]:
        index = [int(i) for i in plan["order"]]
        steps.append(lambda rows: [[row[i] for i in index] for row in rows])
    for spec in plan["steps"]:
        step = _row_step(spec)
        if step is None:
            return None
        steps.append(step)
    head = _row_head(plan["head"], classes)
    if head is None:
        return None

    def run(rows: Rows) -> Prediction:
        for step in steps:
            rows = step(rows)
        return head(rows)

    return run


def _float64_list(spec: Plan | None) -> list[float] | None:
    """A plan's float64 vector as Python floats (None for anything else)."""
    if spec is None:
        return None
    array = decode_array(spec)
    return array.tolist() if array.dtype == np.float64 and array.ndim == 1 else None  # type: ignore[no-any-return]


def _row_step(spec: Plan) -> RowStep | None:
    if spec["kind"] == "imputer":  # a NaN-free row is left as it is (`np.where` is not called)
        return lambda rows: rows
    if spec["kind"] != "standard_scaler":
        return None
    mean, scale = _float64_list(spec["mean"]), _float64_list(spec["scale"])
    if (spec["mean"] is not None and mean is None) or (spec["scale"] is not None and scale is None):
        return None
    if scale is not None and 0.0 in scale:  # Python raises where numpy gives inf
        return None

    def run(rows: Rows) -> Rows:
        if mean is not None:
            rows = [[v - m for v, m in zip(row, mean, strict=True)] for row in rows]
        if scale is not None:
            rows = [[v / s for v, s in zip(row, scale, strict=True)] for row in rows]
        return rows

    return run


def _row_head(spec: Plan, classes: list[Choice]) -> Callable[[Rows], Prediction] | None:
    """The binary logistic and the linear heads, as `_logistic` and `_linear` compute them."""
    coef = decode_array(spec["coef"])
    intercept = decode_array(spec["intercept"])
    if coef.dtype != np.float64 or intercept.dtype != np.float64:
        return None
    binary = spec["kind"] == "logistic" and spec["binary"] and len(classes) == 2
    if binary and coef.shape[0] == 1 and intercept.size == 1:
        return _row_logistic(_row_dot(coef.T), float(intercept[0]), classes)
    if spec["kind"] == "linear" and intercept.size == 1:
        return _row_linear(_row_dot(coef.reshape(-1, 1)), float(intercept.reshape(-1)[0]))
    return None


def _row_dot(coef_t: np.ndarray) -> Callable[[list[float]], list[float]]:
    """One row of `_dotter`'s few-rows sum: (x0 c0 + x1 c1) + x2 c2 ..."""
    listed = coef_t.tolist()
    first, rest = listed[0], list(enumerate(listed[1:], start=1))

    def dot(row: list[float]) -> list[float]:
        acc = [row[0] * c for c in first]
        for j, coefs in rest:
            value = row[j]
            acc = [a + value * c for a, c in zip(acc, coefs, strict=True)]
        return acc

    return dot


def _row_logistic(
    dot: Callable[[list[float]], list[float]], intercept: float, classes: list[Choice]
) -> Callable[[Rows], Prediction]:
    negative, positive = classes

    def run(rows: Rows) -> Prediction:
        decisions = [dot(row)[0] + intercept for row in rows]
        labels = [positive if d > 0 else negative for d in decisions]
        # exp into the same strided column as `_logistic`'s: numpy picks its exp kernel
        # (SIMD or the C library's) by the output's layout, and the bits must not differ.
        proba = np.empty((len(rows), 2))
        minus = [-d for d in decisions]
        if max(minus) < OVERFLOWS:
            np.exp(minus, out=proba[:, 1])
        else:  # exp overflows to inf, and expit gives 0, as in `expit`
            with np.errstate(over="ignore"):
                np.exp(minus, out=proba[:, 1])
        probabilities = [1 / (e + 1) for e in proba[:, 1].tolist()]
        proba[:] = [[1 - p, p] for p in probabilities]
        return Prediction(classes, labels, proba)

    return run


def _row_linear(
    dot: Callable[[list[float]], list[float]], offset: float
) -> Callable[[Rows], Prediction]:
    def run(rows: Rows) -> Prediction:
        values = np.array([dot(row)[0] + offset for row in rows], dtype=np.float64)
        return Prediction([], values.tolist(), values=values)

    return run


def _reorder(index: list[int]) -> Step:
    return lambda x: x[:, index]


def _transform(spec: Plan) -> Step:
    builders: dict[str, Callable[[Plan], Step]] = {
        "standard_scaler": _standard_scaler,
        "minmax": _minmax_scaler,
        "imputer": _imputer,
        "one_hot": _one_hot,
        "columns": _column_transformer,
    }
    return builders[spec["kind"]](spec)


def _floats(x: np.ndarray) -> np.ndarray:
    return x if x.dtype == np.float64 else x.astype(np.float64)


def _standard_scaler(spec: Plan) -> Step:
    mean = None if spec["mean"] is None else decode_array(spec["mean"])
    scale = None if spec["scale"] is None else decode_array(spec["scale"])

    def run(x: np.ndarray) -> np.ndarray:
        # The same two float64 operations as sklearn's in-place ones, on new arrays.
        x = _floats(x)
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return run


def _minmax_scaler(spec: Plan) -> Step:
    scale, low, bounds = decode_array(spec["scale"]), decode_array(spec["min"]), spec["clip"]

    def run(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)
        x *= scale
        x += low
        if bounds is not None:
            np.clip(x, bounds[0], bounds[1], out=x)
        return x

    return run


def _imputer(spec: Plan) -> Step:
    stats = decode_array(spec["statistics"])

    def run(x: np.ndarray) -> np.ndarray:
        x = _floats(x)
        mask = np.isnan(x)
        return np.where(mask, stats, x) if mask.any() else x

    return run


def _one_hot(spec: Plan) -> Step:
    lookups = [{c: i for i, c in enumerate(cats)} for cats in spec["categories"]]
    strict: bool = spec["strict"]
    widths = [len(c) for c in lookups]
    offsets = np.cumsum([0, *widths])
    keep = np.ones(offsets[-1], dtype=bool)
    for j, drop in enumerate(spec["drop"]):
        if drop is not None:
            keep[offsets[j] + int(drop)] = False
    dtype = np.dtype(spec["dtype"])

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


def _column_transformer(spec: Plan) -> Step:
    parts: list[tuple[list[int], Step | None]] = [
        (
            [int(i) for i in part["index"]],
            None if part["steps"] is None else _chained([_transform(s) for s in part["steps"]]),
        )
        for part in spec["parts"]
    ]

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


def _head(spec: Plan, classes: list[Choice]) -> Callable[[np.ndarray], Prediction]:
    if spec["kind"] == "logistic":
        return _logistic(spec, classes)
    if spec["kind"] == "linear":
        return _linear(spec)
    raise ValueError(f"no replay head of kind {spec['kind']!r}")


def _logistic(spec: Plan, classes: list[Choice]) -> Callable[..., Prediction]:
    """One decision per row: the label as `predict` takes it, the probabilities from it."""
    coef_t, intercept = decode_array(spec["coef"]).T, decode_array(spec["intercept"])
    dot = _dotter(coef_t)
    binary, ovr = bool(spec["binary"]), bool(spec["ovr"])
    # Labels by index in one numpy take: the same objects as classes[i], ~10x faster per row.
    by_index = np.empty(len(classes), dtype=object)
    by_index[:] = classes
    pair = by_index.tolist()

    def run(x: np.ndarray) -> Prediction:
        scores = dot(_floats(x))
        scores += intercept
        if binary:
            decision = scores[:, 0]
            labels, index = _binary_labels(decision, by_index, pair)
            proba = np.empty((decision.shape[0], 2))
            expit(decision, out=proba[:, 1])
            np.subtract(1, proba[:, 1], out=proba[:, 0])
            return Prediction(classes, labels, proba, label_index=index)
        index = scores.argmax(axis=1)
        proba = _ovr(scores) if ovr else _softmax(scores)
        return Prediction(classes, by_index[index].tolist(), proba, label_index=index)

    return run


def _binary_labels(
    decision: np.ndarray, by_index: np.ndarray, pair: list[Any]
) -> tuple[list[Any], np.ndarray | None]:
    """pair[1] (the second class) where decision > 0, else pair[0] (NaN too), as `predict`
    takes them, and each row's class position when there are many rows. A few rows compare as
    Python floats (the same IEEE comparison) instead of in four numpy calls, whose fixed cost
    is most of a single-row request's model time."""
    if len(decision) < FEW_ROWS:
        negative, positive = pair
        return [positive if d > 0 else negative for d in decision.tolist()], None
    index = (decision > 0).view(np.int8)
    return by_index[index].tolist(), index


def _dotter(coef_t: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """`x @ coef_t`, summed feature after feature: (x0 c0 + x1 c1) + x2 c2 ..., each product and
    sum rounded once. A row's answer then never depends on the rows beside it: BLAS picks its
    kernel (blocking, fused multiply-adds) by the matrix's shape, so a row alone and the same
    row in a batch could differ in the last bit (iris did), and micro-batched callers must get
    exactly what they would have got alone. Verification still holds it to the original.

    A few rows are summed as Python floats (the same IEEE operations in the same order) instead
    of in 2p numpy calls, whose fixed cost would be most of a single-row prediction."""
    listed = coef_t.tolist()
    first, rest = listed[0], list(enumerate(listed[1:], start=1))
    width = coef_t.shape[1]

    def dot(x: np.ndarray) -> np.ndarray:
        if len(x) < FEW_ROWS:
            sums = []
            for row in x.tolist():
                acc = [row[0] * c for c in first]
                for j, coefs in rest:
                    value = row[j]
                    acc = [a + value * c for a, c in zip(acc, coefs, strict=True)]
                sums.append(acc)
            return np.array(sums, dtype=np.float64).reshape(-1, width)
        columns = np.ascontiguousarray(x.T)  # one pass per feature over contiguous values
        out = np.multiply.outer(columns[0], coef_t[0])
        for j in range(1, len(coef_t)):
            out += np.multiply.outer(columns[j], coef_t[j])
        return out

    return dot


def expit(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The logistic function as `scipy.special.expit` computes it in float64: 1 / (1 + exp(-x)),
    the same IEEE operations in the same order (importing SciPy for it would cost each server
    ~0.7 s of start-up and ~27 MiB). Verification still compares the result with the original.
    """
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -709: expit gives 0
        e = np.exp(np.negative(x), out=out)
    e += 1
    return np.divide(1, e, out=e)


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


def _linear(spec: Plan) -> Callable[[np.ndarray], Prediction]:
    coef = decode_array(spec["coef"])
    intercept = decode_array(spec["intercept"])
    offset = intercept.reshape(-1)[0] if intercept.size == 1 else intercept
    dot = _dotter(coef.reshape(-1, 1))

    def run(x: np.ndarray) -> Prediction:
        values = dot(_floats(x)).reshape(-1) + offset
        return Prediction([], values.tolist(), values=values)

    return run
