"""The JSON of prediction answers: one object per row, as dicts or as ready-made JSON text.

`rows_json` builds one dict per row (`{"label", "probabilities"}` or `{"value"}`): the
reference shape, used by forms, protocols, history and small answers. For a batch that costs
~2 µs a row, more than everything else a 10,000-row request does, so `answers_json` writes
the same JSON text without them: every float of the answer formatted by one orjson call on
a flat float64 array in row order (orjson prints numpy floats exactly as it prints Python
floats: shortest round-trip repr, NaN and infinities as null) and split once, each distinct
label's head written once, and the pieces interleaved by list slicing and joined once. It returns
None whenever the answer is anything but the common case, and the caller then serialises
`rows_json`, so the body is the same bytes either way (tests/api/test_answers_json.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
    if probabilities.ndim == 2 and probabilities.shape[1] > 0 and len(probabilities) < MIN_ROWS:
        # A few rows: one tolist() of rows costs half of transposing and zipping columns.
        rows: Iterable[Any] = probabilities.tolist()
    else:
        # Column-wise tolist() gives plain floats in one call per class: ~2 us a row, not 3.
        # One column per class, n values each: equal lengths by construction.
        rows = zip(*probabilities.T.tolist(), strict=False)
    maps = [dict(zip(keys, probs, strict=False)) for probs in rows]
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
    n = len(prediction.labels)
    if n < MIN_ROWS:
        return None
    if prediction.probabilities is None:
        heads = _per_row(prediction, lambda text: b'{"label":' + text + b"}")
        return None if heads is None else b"[" + b",".join(heads) + b"]"
    keys = [orjson.dumps(str(c)) for c in prediction.classes]
    values = _float_texts(prediction.probabilities, n, len(keys))
    if values is None or len(set(keys)) != len(keys):  # a repeated key keeps one entry
        return None
    # Each head closes the row before it ("}},"); the first opens the list instead.
    head = b',"probabilities":{' + keys[0] + b":"
    heads = _per_row(prediction, lambda text: b'}},{"label":' + text + head)
    if heads is None:
        return None
    heads[0] = b"[" + heads[0][3:]
    return _interleave(heads, values, keys)


def _per_row(prediction: Prediction, head: Callable[[bytes], bytes]) -> list[bytes] | None:
    """`head(JSON text of the row's label)` for every row, each distinct label written once;
    None unless every label has one type whose equal values have one text."""
    index = prediction.label_index
    if index is not None:
        classes = prediction.classes
        kinds = set(map(type, classes))
        if len(kinds) == 1 and kinds <= TEXT_LABELS:
            made = np.empty(len(classes), dtype=object)
            made[:] = [head(orjson.dumps(c)) for c in classes]
            return made[index].tolist()  # type: ignore[no-any-return]
    labels = prediction.labels
    kinds = set(map(type, labels))
    if len(kinds) != 1 or not kinds <= TEXT_LABELS:
        return None
    texts = {label: head(orjson.dumps(label)) for label in set(labels)}
    return list(map(texts.__getitem__, labels))


def _float_texts(probabilities: Any, n: int, width: int) -> list[bytes] | None:
    """The JSON text of each value, row after row, when the matrix is n rows x width."""
    matrix = np.asarray(probabilities, dtype=np.float64)
    if width == 0 or matrix.shape != (n, width):
        return None
    # One formatting call on the values in row order (a flat array: orjson writes no inner
    # brackets), one split; floats never contain ",".
    values = orjson.dumps(np.ascontiguousarray(matrix).ravel(), option=NUMPY).split(b",")
    values[0] = values[0][1:]  # "[" of the array
    values[-1] = values[-1][:-1]  # "]"
    return values


def _interleave(heads: list[bytes], values: list[bytes], keys: list[bytes]) -> bytes:
    """Per row [head, v0, ,"k1":, v1, ...], laid out by slice assignment, joined once."""
    n, width = len(heads), len(keys)
    step = 2 * width
    end = n * step
    pieces: list[bytes] = [b""] * (end + 1)
    pieces[0:end:step] = heads
    for j in range(width):
        pieces[2 * j + 1 : end : step] = values[j::width]
        if j:
            pieces[2 * j : end : step] = [b"," + keys[j] + b":"] * n
    pieces[end] = b"}}]"
    return b"".join(pieces)
