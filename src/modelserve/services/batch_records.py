"""Batch records: a request of many rows kept as one history record.

The payload is a JSON head (orjson), never pickle, then a newline and raw little-endian
bytes::

    {"format": 2, "rows": n, "names": [feature, ...], "inputs": [column, ...],
     "labels": [label per row] | {"index": [start, stop], "dtype": "u1", "of": [label, ...]}
               | null,
     "classes": [class, ...] | null,
     "probabilities": [column | {"one_minus": 1}, ...one per class] | null,
     "values": column | null}
    \n
    <the bytes of every [start, stop] above, one after the other>

A column is a JSON list of the row values, or, for a float64 array, ``{"f8": [start, stop]}``:
where its bytes lie after the newline. Labels the engine gave with their class positions
(`Prediction.label_index`) are kept as those positions, a byte a row, and the labels they
point to; a binary classifier's first probability column, when it is 1 - the second bit for
bit, as that formula. Exact to the bit, and cheaper than any text: base64 floats (format 1,
still read) and a text per label made a 10,000-row payload 546 KB instead of ~250 KB and
cost ~0.6 ms more to build, and the history writer's SQLite insert costs in proportion to
the bytes (two writes per 4 KiB page into the WAL, and the checkpoint's copy).
The head never holds a raw newline (orjson escapes them in strings), so the first one ends
it. A missing optional numeric input (NaN, or null in a list) reads back as None, as one-row
records keep it. `label_counts` and `label_keys` go in their own columns so the history list
and its label filter never open a payload. Built from the validated columns and the numpy
answer: no per-row dictionaries (`BatchRows.row` makes them when a reader asks for a row).
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..runtime.predictor import Prediction
from ..runtime.schema import Columns

FORMAT = 2
READABLE = (1, 2)  # format 1: float64 columns as base64 text inside the JSON, no newline
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encode(columns: Columns, prediction: Prediction) -> bytes:
    """Every row's inputs and answer, column by column."""
    blobs: list[memoryview] = []
    body: dict[str, Any] = {
        "format": FORMAT,
        "rows": columns.n_rows,
        "names": columns.names,
        "inputs": _input_columns(columns, blobs),
        "labels": None,
        "classes": None,
        "probabilities": None,
        "values": None,
    }
    if prediction.values is not None:
        body["values"] = _column(np.asarray(prediction.values, dtype=np.float64), blobs)
    else:
        body["labels"] = _label_column(prediction, blobs)
        body["classes"] = [str(c) for c in prediction.classes]
        if prediction.probabilities is not None:
            probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
            body["probabilities"] = _probability_columns(probabilities, blobs)
    try:
        head = orjson.dumps(body, option=_NUMPY)
    except TypeError:
        if body["labels"] is None:
            raise
        # A label JSON cannot carry exactly (an integer beyond 64 bits): keep its text, as a
        # one-row record keeps every label.
        labels = body["labels"]
        if isinstance(labels, dict):
            labels["of"] = [str(label) for label in labels["of"]]
        else:
            body["labels"] = [str(label) for label in labels]
        head = orjson.dumps(body, option=_NUMPY)
    return b"".join([head, b"\n", *blobs])


def _input_columns(columns: Columns, blobs: list[memoryview]) -> list[Any]:
    matrix = columns.matrix  # rows x features, when the bulk check made it
    if matrix is not None and matrix.dtype == np.float64:
        return [_column(column, blobs) for column in matrix.T]
    return [_column(column, blobs) for column in columns.values]


def _label_column(prediction: Prediction, blobs: list[memoryview]) -> Any:
    """The labels as a JSON list, or, when the engine gave each row's class position, those
    positions as bytes and the classes they point to (1 byte a row instead of its text)."""
    index = prediction.label_index
    if index is None:
        return _labels(prediction)
    dtype = "u1" if len(prediction.classes) <= 256 else "<u4"
    return {"index": _blob(index, dtype, blobs), "dtype": dtype, "of": prediction.classes}


def _blob(values: np.ndarray, dtype: str, blobs: list[memoryview]) -> list[int]:
    """Append `values` as `dtype` bytes to `blobs`; where they lie, [start, stop]."""
    start = sum(blob.nbytes for blob in blobs)
    blobs.append(np.ascontiguousarray(values, dtype=dtype).data)
    return [start, start + blobs[-1].nbytes]


def _column(values: Sequence[Any] | np.ndarray, blobs: list[memoryview]) -> Any:
    """A column's JSON: its values, or where its float64 bytes (appended to `blobs`) lie."""
    if isinstance(values, np.ndarray):
        if values.dtype == np.float64:
            return {"f8": _blob(values, "<f8", blobs)}
        if values.dtype.kind in "iub":
            return np.ascontiguousarray(values)
        return values.tolist()
    return values


def _probability_columns(matrix: np.ndarray, blobs: list[memoryview]) -> list[Any]:
    """One column per class. Of two, the first is kept as ``{"one_minus": 1}`` when it is
    1 - the second bit for bit (as binary classifiers give it): a quarter fewer bytes."""
    columns = list(matrix.T)
    if len(columns) == 2:
        first, second = columns
        if np.array_equal(np.subtract(1, second).view(np.uint64), first.view(np.uint64)):
            return [{"one_minus": 1}, _column(second, blobs)]
    return [_column(column, blobs) for column in columns]


def _read_columns(columns: list[Any], blob: memoryview) -> list[list[Any]]:
    """The columns' values; a float64 column's NaN (a missing value) as None."""
    arrays = [_array(column, blob) for column in columns]
    for j, column in enumerate(columns):
        if isinstance(column, dict) and "one_minus" in column:
            # IEEE subtraction is exact: the same bits that were checked when written.
            arrays[j] = np.subtract(1, arrays[column["one_minus"]])
    return [_listed(array) for array in arrays]


def _array(column: Any, blob: memoryview) -> Any:
    """A float64 column's array; any other column as stored (a JSON list or a placeholder)."""
    if not isinstance(column, dict) or "f8" not in column:
        return column
    where = column["f8"]
    if isinstance(where, str):  # format 1
        return np.frombuffer(base64.b64decode(where), dtype="<f8")
    start, stop = where
    return np.frombuffer(blob[start:stop], dtype="<f8")


def _listed(array: Any) -> list[Any]:
    if not isinstance(array, np.ndarray):
        return array  # type: ignore[no-any-return]
    values: list[Any] = array.tolist()
    if np.isnan(array).any():
        values = [None if math.isnan(v) else v for v in values]
    return values


def _read_labels(labels: Any, blob: memoryview) -> list[Any] | None:
    if not isinstance(labels, dict):
        return labels
    start, stop = labels["index"]
    table = np.empty(len(labels["of"]), dtype=object)
    table[:] = labels["of"]
    return table[np.frombuffer(blob[start:stop], dtype=labels["dtype"])].tolist()  # type: ignore[no-any-return]


def _labels(prediction: Prediction) -> list[Any]:
    labels = prediction.labels
    return labels.tolist() if isinstance(labels, np.ndarray) else labels


def label_counts(prediction: Prediction) -> dict[str, int] | None:
    """How many rows got each label (most frequent first); None for a regression."""
    if prediction.values is not None:
        return None
    labels = _labels(prediction)
    classes = prediction.classes
    index = prediction.label_index
    if index is not None and len(set(classes)) == len(classes):
        # Distinct classes: a class's count is how often its index occurs.
        found = np.bincount(index, minlength=len(classes)).tolist()
        counts = Counter(dict(zip(classes, found, strict=True)))
    elif len(classes) <= 16:  # one C-level pass per class beats hashing every label
        counts = Counter({c: labels.count(c) for c in classes})
        if counts.total() != len(labels):  # a label that is not a class: count them all
            counts = Counter(labels)
    else:
        counts = Counter(labels)
    return {str(label): n for label, n in counts.most_common() if n}


def label_keys(labels: Iterable[str]) -> str:
    """The searchable text of a record's labels: each one escaped, on its own line."""
    return "\n" + "".join(f"{_escape(label)}\n" for label in labels)


def label_key(label: str) -> str:
    """What `label_keys` holds for one label (a record has it iff its text contains this)."""
    return f"\n{_escape(label)}\n"


def _escape(label: str) -> str:
    # Injective and newline-free: a match of "\n<key>\n" can only be one whole label.
    return label.replace("%", "%25").replace("\n", "%0A")


@dataclass(frozen=True)
class BatchRows:
    """A decoded payload: its rows one by one, as one-row records hold them."""

    n_rows: int
    names: list[str]
    inputs: list[list[Any]]
    labels: list[Any] | None
    classes: list[str] | None
    probabilities: list[list[float]] | None
    values: list[float] | None

    def row(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(inputs, answer) of one row; the answer exactly as the API gave it."""
        inputs = {name: column[index] for name, column in zip(self.names, self.inputs, strict=True)}
        if self.values is not None:
            return inputs, {"value": self.values[index]}
        assert self.labels is not None and self.classes is not None
        answer: dict[str, Any] = {"label": self.labels[index]}
        if self.probabilities is not None:
            answer["probabilities"] = {
                key: column[index]
                for key, column in zip(self.classes, self.probabilities, strict=True)
            }
        return inputs, answer


def decode(payload: bytes) -> BatchRows:
    head, _, _ = payload.partition(b"\n")
    body = orjson.loads(head)
    if body.get("format") not in READABLE:
        raise ValueError(f"unknown batch record format {body.get('format')!r}")
    blob = memoryview(payload)[len(head) + 1 :]
    probabilities = body["probabilities"]
    return BatchRows(
        n_rows=body["rows"],
        names=body["names"],
        inputs=_read_columns(body["inputs"], blob),
        labels=_read_labels(body["labels"], blob),
        classes=body["classes"],
        probabilities=None if probabilities is None else _read_columns(probabilities, blob),
        values=None if body["values"] is None else _read_columns([body["values"]], blob)[0],
    )
