"""MLflow scoring-server payloads, without Flask: each accepted shape turned into rows.

JSON bodies carry exactly one of `dataframe_split`, `dataframe_records`, `instances`,
`inputs` (and optionally `params`, which these models do not take); `text/csv` bodies are a
header line of feature names and one line per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..runtime.predictor import Prediction

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class PayloadError(ValueError):
    """The body is not one of MLflow's shapes; the message says why (a 400 answer)."""


def json_rows(body: Any, names: Sequence[str]) -> list[Any]:
    """Rows keyed by feature name from an MLflow JSON body."""
    keys = [k for k in FORMATS if isinstance(body, dict) and k in body]
    if len(keys) != 1 or set(body) - {keys[0], "params"}:
        found = list(body) if isinstance(body, dict) else type(body).__name__
        raise PayloadError(
            f"The input must be a JSON object with exactly one of the fields {list(FORMATS)} "
            f"(and optionally 'params'); received {found}."
        )
    data = body[keys[0]]
    if keys[0] == "dataframe_split":
        return _split(data, names)
    if keys[0] == "dataframe_records":
        if not isinstance(data, list) or not data:
            raise PayloadError("'dataframe_records' must be a non-empty list of records")
        return data
    return _tensor(data, names, keys[0])


def _split(data: Any, names: Sequence[str]) -> list[Any]:
    """{"columns": [...], "data": [[...], ...]} (pandas' split orientation; index ignored)."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise PayloadError("'dataframe_split' must be an object with 'columns' and 'data'")
    columns = data.get("columns", list(names))
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise PayloadError("'dataframe_split.columns' must be a list of column names")
    return _positional(data["data"], columns, "dataframe_split.data")


def _tensor(data: Any, names: Sequence[str], key: str) -> list[Any]:
    """TF-serving shapes: records, rows in feature order, columns by name, or scalars."""
    if isinstance(data, dict):
        return _columns(data, key)
    if not isinstance(data, list) or not data:
        raise PayloadError(f"'{key}' must be a non-empty list or an object of columns")
    if all(isinstance(row, dict) for row in data):
        return data
    if all(isinstance(row, list) for row in data):
        return _positional(data, names, key)
    if len(names) == 1 and not any(isinstance(v, list | dict) for v in data):
        return [{names[0]: value} for value in data]
    raise PayloadError(
        f"'{key}' must hold records (objects) or rows (lists of the features "
        f"{', '.join(names)} in this order)"
    )


def _columns(data: dict[str, Any], key: str) -> list[Any]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in data.values()}
    if len(lengths) != 1 or min(lengths) < 1:
        raise PayloadError(f"'{key}' as an object must map each feature to a list, same length")
    (n,) = lengths
    return [{name: values[i] for name, values in data.items()} for i in range(n)]


def _positional(data: Any, columns: Sequence[str], key: str) -> list[Any]:
    if not isinstance(data, list) or not data:
        raise PayloadError(f"'{key}' must be a non-empty list of rows")
    width = len(columns)
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise PayloadError(
                f"'{key}' row {index} must be a list of {width} values: {', '.join(columns)}"
            )
    return [dict(zip(columns, row, strict=True)) for row in data]


def csv_rows(text: str) -> list[Any]:
    """A header line of feature names, then one line per row (values as text)."""
    reader = csv.reader(io.StringIO(text))
    try:
        lines = [line for line in reader if line]
    except csv.Error as exc:
        raise PayloadError(f"the CSV body could not be read: {exc}") from None
    if len(lines) < 2:
        raise PayloadError("the CSV body needs a header line and at least one row")
    header, *data = lines
    return _positional(data, header, "csv")


def predictions_of(prediction: Prediction) -> list[Any]:
    """What MLflow's scikit-learn flavour answers: the predicted label or value per row."""
    if prediction.values is not None:
        return [float(v) for v in prediction.values]
    return list(prediction.labels)
