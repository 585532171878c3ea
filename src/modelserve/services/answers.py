"""The JSON of prediction answers: one object per row, as dicts or as ready-made JSON text.

`rows_json` builds one dict per row (`{"label", "probabilities"}` or `{"value"}`): the
reference shape, used by forms, protocols, history and small answers. For a batch that costs
~2 µs a row, more than everything else a 10,000-row request does, so `answers_json` writes
the same JSON text column by column instead: every float of the answer formatted by one
orjson call on a float64 array (orjson prints numpy floats exactly as it prints Python
floats: shortest round-trip repr, NaN and infinities as null), each distinct label
serialised once, and the row texts interleaved by list slicing and joined once. It returns
None whenever the answer is anything but the common case, and the caller then serialises
`rows_json`, so the body is the same bytes either way (tests/api/test_answers_json.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ..runtime.predictor import Prediction

# Below this many rows, one dict per row is cheaper than numpy's per-call costs.
MIN_ROWS = 32
NUMPY = orjson.OPT_SERIALIZE_NUMPY
# Label types whose equal values always have the same JSON text (not float: 0.0 == -0.0).
TEXT_LABELS = frozenset({str, int, bool})


class Preformatted:
    """A value already written as JSON text; `jsonio` splices it into the body as it is."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text

    def value(self) -> Any:
        """The value the text stands for (for serialisers that cannot splice text)."""
        return orjson.loads(self.text)


def rows_json(prediction: Prediction) -> list[dict[str, Any]]:
    """One {"label", "probabilities"} (or {"value"}) object per row."""
    if prediction.values is not None:
        return [{"value": float(v)} for v in prediction.values]
    keys = [str(c) for c in prediction.classes]
    if prediction.probabilities is None:
        return [{"label": label} for label in prediction.labels]
    # Column-wise tolist() gives plain floats in one call per class: ~2 us a row instead of 3.
    columns = np.asarray(prediction.probabilities, dtype=np.float64).T.tolist()
    # One column per class, n values each: equal lengths by construction.
    maps = [dict(zip(keys, probs, strict=False)) for probs in zip(*columns, strict=False)]
    return [
        {"label": label, "probabilities": p}
        for label, p in zip(prediction.labels, maps, strict=True)
    ]


def answers_json(prediction: Prediction) -> bytes | None:
    """`orjson.dumps(rows_json(prediction))` written column-wise, or None when the answer is
    small or unusual (then serialise `rows_json`, which decides every odd case)."""
    try:
        if prediction.values is not None:
            return _values_json(prediction.values)
        return _labels_json(prediction)
    except (TypeError, ValueError, OverflowError):  # e.g. an integer label beyond 64 bits
        return None


def _values_json(values: Any) -> bytes | None:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) < MIN_ROWS or array.dtype.kind not in "biuf":
        return None
    # float(v) of a float32 or an int is its float64 value: convert before formatting.
    inner = orjson.dumps(np.ascontiguousarray(array, dtype=np.float64), option=NUMPY)[1:-1]
    return b'[{"value":' + inner.replace(b",", b'},{"value":') + b"}]"


def _labels_json(prediction: Prediction) -> bytes | None:
    labels = prediction.labels
    n = len(labels)
    kinds = set(map(type, labels))
    if n < MIN_ROWS or len(kinds) != 1 or not kinds <= TEXT_LABELS:
        return None
    label_text = {label: orjson.dumps(label) for label in set(labels)}
    if prediction.probabilities is None:
        heads = {label: b'{"label":' + text + b"}" for label, text in label_text.items()}
        return b"[" + b",".join(map(heads.__getitem__, labels)) + b"]"
    keys = [orjson.dumps(str(c)) for c in prediction.classes]
    columns = _float_columns(prediction.probabilities, n, len(keys))
    if columns is None or len(set(keys)) != len(keys):  # a repeated key keeps one entry
        return None
    heads = {
        label: b'{"label":' + text + b',"probabilities":{' + keys[0] + b":"
        for label, text in label_text.items()
    }
    return _interleave(list(map(heads.__getitem__, labels)), columns, keys)


def _float_columns(probabilities: Any, n: int, width: int) -> list[list[bytes]] | None:
    """The JSON text of each value, class by class, when the matrix is n rows x width."""
    matrix = np.asarray(probabilities, dtype=np.float64)
    if width == 0 or matrix.shape != (n, width):
        return None
    # One formatting call; floats never contain "]" or ",".
    text = orjson.dumps(np.ascontiguousarray(matrix.T), option=NUMPY)
    return [column.split(b",") for column in text[2:-2].split(b"],[")]


def _interleave(heads: list[bytes], columns: list[list[bytes]], keys: list[bytes]) -> bytes:
    """[head, p0, ,"k1":, p1, ..., }},] per row, laid out by slice assignment, joined once."""
    n = len(heads)
    step = 2 * len(columns) + 1
    pieces: list[bytes] = [b""] * (n * step)
    pieces[0::step] = heads
    for j, column in enumerate(columns):
        pieces[2 * j + 1 :: step] = column
        if j + 1 < len(columns):
            pieces[2 * j + 2 :: step] = [b"," + keys[j + 1] + b":"] * n
    pieces[step - 1 :: step] = [b"}},"] * n
    pieces[0] = b"[" + pieces[0]
    pieces[-1] = b"}}]"
    return b"".join(pieces)
