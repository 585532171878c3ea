"""Infer a manifest's features, task and classes from a fitted model object.

What inspection can know: feature names (`feature_names_in_`, ONNX input names), which
columns are categorical and their categories (`OneHotEncoder`/`OrdinalEncoder` categories,
also inside a `ColumnTransformer`), class labels (`classes_`), and, given reference data,
the training range of each numeric column. What it cannot know (units, translated labels,
help text) the operator adds to `model.toml` afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import Choice, Feature, FeatureType
from .predictor import plain

MAX_INFERRED_CHOICES = 50


@dataclass
class Description:
    """What inspection found out about a model object."""

    features: list[Feature]
    task: str
    classes: list[Choice] = field(default_factory=list)
    input: str = "array"


def describe(obj: Any, fmt: str, path: Path, first_step: Any | None = None) -> Description:
    """Describe a loaded artifact; `first_step` is the first separate preprocessing object."""
    if fmt == "onnx":
        return describe_onnx(obj, path)
    if fmt in ("keras", "h5"):
        return describe_keras(obj)
    return describe_sklearn(obj, first_step if first_step is not None else obj)


def describe_sklearn(estimator: Any, entry: Any) -> Description:
    """Features come from the object that sees raw rows first (`entry`)."""
    names = getattr(entry, "feature_names_in_", None)
    frame = names is not None
    if names is None:
        count = getattr(entry, "n_features_in_", None)
        if count is None:
            raise ValueError("the model has neither feature_names_in_ nor n_features_in_")
        names = [f"x{i}" for i in range(int(count))]
    names = [str(n) for n in names]
    categories = find_categories(entry, names)
    features = [
        Feature(name=n, type="category", choices=categories[n])
        if n in categories
        else Feature(name=n, type="number")
        for n in names
    ]
    if hasattr(estimator, "classes_"):
        classes = [plain(c) for c in estimator.classes_]
        return Description(features, "classification", classes, "frame" if frame else "array")
    return Description(features, "regression", [], "frame" if frame else "array")


def find_categories(obj: Any, names: list[str]) -> dict[str, list[Choice]]:
    """Categories of each categorical column, found through Pipelines and ColumnTransformers."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    if isinstance(obj, Pipeline):
        return find_categories(obj.steps[0][1], names)
    if isinstance(obj, ColumnTransformer):
        found: dict[str, list[Choice]] = {}
        for _name, transformer, columns in obj.transformers_:
            selected = _column_names(columns, names)
            if selected and not isinstance(transformer, str):
                found.update(find_categories(transformer, selected))
        return found
    encoder = _encoder(obj)
    if encoder is None:
        return {}
    return {
        name: [plain(c) for c in cats if not _is_missing(c)]
        for name, cats in zip(names, encoder.categories_, strict=False)
    }


def _encoder(obj: Any) -> Any | None:
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder  # noqa: PLC0415

    if isinstance(obj, OneHotEncoder | OrdinalEncoder):
        return obj
    if isinstance(obj, Pipeline):
        for _name, step in obj.steps:
            if isinstance(step, OneHotEncoder | OrdinalEncoder):
                return step
    return None


def _column_names(columns: Any, names: list[str]) -> list[str]:
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    if isinstance(columns, slice):
        return names[columns]
    values = list(columns) if columns is not None else []
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return [n for n, keep in zip(names, values, strict=False) if keep]
    out = []
    for value in values:
        if isinstance(value, int | np.integer) and 0 <= int(value) < len(names):
            out.append(names[int(value)])
        elif isinstance(value, str) and value in names:
            out.append(value)
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def describe_onnx(session: Any, path: Path) -> Description:
    """Features from the graph inputs; classes from the classifier node's attributes."""
    import onnx  # noqa: PLC0415

    graph = onnx.load_model(str(path), load_external_data=False).graph
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(inputs) == 1 and _width(inputs[0].shape) not in (None, 1):
        width = _width(inputs[0].shape) or 0
        features = [Feature(name=f"x{i}", type="number") for i in range(width)]
    else:
        categories = _onnx_categories(graph)
        features = [
            Feature(name=i.name, type="category", choices=categories[i.name])
            if i.name in categories
            else Feature(name=i.name, type=_onnx_feature_type(i.type))
            for i in inputs
        ]
    classes = _onnx_classes(graph)
    task = "classification" if classes or len(outputs) > 1 else "regression"
    return Description(features, task, classes)


def _width(shape: list[Any]) -> int | None:
    return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None


def _onnx_feature_type(onnx_type: str) -> FeatureType:
    if onnx_type == "tensor(string)":
        return "text"
    return "integer" if "int" in onnx_type else "number"


def _onnx_categories(graph: Any) -> dict[str, list[Choice]]:
    """Categories of string inputs fed straight into a OneHotEncoder node."""
    inputs = {i.name for i in graph.input}
    found: dict[str, list[Choice]] = {}
    for node in graph.node:
        if node.op_type == "OneHotEncoder" and node.input and node.input[0] in inputs:
            for attr in node.attribute:
                if attr.name == "cats_strings":
                    found[node.input[0]] = [s.decode() for s in attr.strings]
    return found


def _onnx_classes(graph: Any) -> list[Choice]:
    """Class labels stored as attributes of the classifier node (skl2onnx writes them)."""
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "classlabels_strings":
                return [s.decode() for s in attr.strings]
            if attr.name in ("classlabels_int64s", "classlabels_ints"):
                return list(attr.ints)
    return []


def describe_keras(model: Any) -> Description:
    """k float inputs x0..x{k-1}; softmax/sigmoid outputs are classes 0..n-1."""
    width = int(model.inputs[0].shape[-1])
    units = int(model.outputs[0].shape[-1])
    activation = getattr(getattr(model.layers[-1], "activation", None), "__name__", "")
    features = [Feature(name=f"x{i}", type="number") for i in range(width)]
    if activation in ("softmax", "sigmoid"):
        return Description(features, "classification", list(range(max(units, 2))))
    return Description(features, "regression")


def apply_reference(features: list[Feature], reference: Any) -> None:
    """Set numeric ranges (and missing categories) from a reference DataFrame."""
    from pandas.api.types import (  # noqa: PLC0415 - only `models add` with reference rows
        is_bool_dtype,
        is_integer_dtype,
        is_numeric_dtype,
    )

    for feat in features:
        if feat.name not in reference.columns:
            continue
        column = reference[feat.name].dropna()
        numeric = is_numeric_dtype(column) and not is_bool_dtype(column)
        if feat.numeric and len(column) and numeric:
            feat.min, feat.max = float(column.min()), float(column.max())
            if is_integer_dtype(column):
                feat.type = "integer"
        elif feat.type in ("number", "text") and not numeric:
            values = sorted({str(v) for v in column})
            if len(values) <= MAX_INFERRED_CHOICES:
                feat.type, feat.choices = "category", list(values)
