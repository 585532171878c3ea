"""A batch answer written column-wise is the same bytes as one dict per row, through both doors.

The model's engine is replaced by one that answers whatever a case scripts (edge and random
floats, every label type, many classes, regression values), so the comparison covers answers
no fitted model would give on demand. The expected body is the dict-based serialisation
(`answers.rows_json` through the app's JSON provider, as `jsonify` renders it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelserve.runtime.predictor import Prediction
from modelserve.runtime.registry import Registry, load_source
from modelserve.runtime.schema import Columns
from modelserve.services.answers import MIN_ROWS, answers_json, rows_json
from tests.conftest import app_with_tables
from tests.support import numeric_pipeline, save

PATH = "/api/v1/models/scripted/predict"
ROW = {"x0": 0.5, "x1": -1, "x2": 2.25}
EDGE = [
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    1.0,
    0.1,
    1 / 3,
    2 / 3,
    1e-7,
    -1e-7,
    1e-5,
    5e-324,
    2.2250738585072014e-308,
    1e-300,
    1e16,
    1e17,
    1e21,
    1e22,
    123456789.0,
    1.7976931348623157e308,
]
STRANGE_KEYS = ["plain", 'quo"te', "back\\slash", "ñandú", "line\u2028sep", "ctl\x01", "😀", ""]

Make = Callable[[int], Prediction]


def edge_floats(n: int, width: int) -> np.ndarray:
    return np.resize(np.array(EDGE), n * width).reshape(n, width)


def random_bits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Every float64 there is: subnormals, NaN payloads, infinities, huge and tiny values."""
    return rng.integers(0, 2**64, size=(n, width), dtype=np.uint64).view(np.float64)


def classifier(
    classes: list[Any],
    probabilities: Callable[[np.random.Generator, int, int], Any] | None,
    *,
    indexed: bool = False,
) -> Make:
    """Labels drawn from `classes`, probabilities from `probabilities(rng, n, width)`; with
    `indexed`, each label's position in `classes` too, as the fast path gives it."""

    def make(n: int) -> Prediction:
        rng = np.random.default_rng(n)
        index = rng.integers(0, len(classes), n)
        labels = [classes[i] for i in index.tolist()]
        proba = None if probabilities is None else probabilities(rng, n, len(classes))
        return Prediction(
            list(classes), labels, probabilities=proba, label_index=index if indexed else None
        )

    return make


def regressor(values: Callable[[np.random.Generator, int], np.ndarray]) -> Make:
    def make(n: int) -> Prediction:
        array = values(np.random.default_rng(n), n)
        return Prediction([], array.tolist(), values=array)

    return make


def with_labels(make: Make, labels: Callable[[list[Any]], list[Any]]) -> Make:
    """`make`'s answer with its labels replaced by `labels(labels)`."""
    return lambda n: dataclasses.replace(make(n), labels=labels(make(n).labels))


def dirichlet(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return rng.dirichlet(np.ones(width), n)


BINARY = ["Aprobado", "Suspendido"]
CASES: dict[str, Make] = {
    "binary, str labels": classifier(BINARY, dirichlet),
    "edge floats": classifier(BINARY, lambda rng, n, w: edge_floats(n, w)),
    "random float64 bits": classifier(BINARY, random_bits),
    "float32 probabilities": classifier(
        BINARY, lambda rng, n, w: dirichlet(rng, n, w).astype(np.float32)
    ),
    "probabilities as lists": classifier(BINARY, lambda rng, n, w: dirichlet(rng, n, w).tolist()),
    "probabilities stored column by column": classifier(
        BINARY, lambda rng, n, w: np.asfortranarray(random_bits(rng, n, w))
    ),
    "one class": classifier(["only"], random_bits),
    "int labels": classifier([0, 1, 2], dirichlet),
    "bool labels": classifier([False, True], random_bits),
    "int class keys": classifier([10, -20, 30], lambda rng, n, w: edge_floats(n, w)),
    "60 classes": classifier([f"class {i}" for i in range(60)], dirichlet),
    "strange keys and labels": classifier(STRANGE_KEYS, random_bits),
    "labels only": classifier(BINARY, None),
    "int labels only": classifier([7, 8], None),
    "labels not among the classes": with_labels(
        classifier(BINARY, dirichlet), lambda labels: [s.upper() for s in labels]
    ),
    "numpy labels": with_labels(
        classifier([0, 1], dirichlet), lambda labels: [np.int64(v) for v in labels]
    ),
    "int and bool labels mixed": with_labels(
        classifier([0, 1], dirichlet),
        lambda labels: [bool(v) if i % 2 else v for i, v in enumerate(labels)],
    ),
    "float labels": classifier([0.0, -0.0, 1.5], dirichlet),
    "an integer label beyond 64 bits": classifier([2**70, 1], dirichlet),
    "classes with the same key": classifier([1, "1"], dirichlet),
    "more probabilities than classes": classifier(
        BINARY, lambda rng, n, w: dirichlet(rng, n, w + 1)
    ),
    "by index: binary": classifier(BINARY, dirichlet, indexed=True),
    "by index: strange keys and labels": classifier(STRANGE_KEYS, random_bits, indexed=True),
    "by index: int labels only": classifier([7, 8], None, indexed=True),
    "by index: bool labels": classifier([False, True], random_bits, indexed=True),
    "by index: int and bool classes": classifier([0, True], dirichlet, indexed=True),
    "values": regressor(lambda rng, n: rng.normal(0, 1e3, n)),
    "edge values": regressor(lambda rng, n: edge_floats(n, 1).reshape(-1)),
    "random bits values": regressor(lambda rng, n: random_bits(rng, n, 1).reshape(-1)),
    "float32 values": regressor(lambda rng, n: rng.normal(0, 1, n).astype(np.float32)),
    "int values": regressor(lambda rng, n: rng.integers(-(2**62), 2**62, n)),
}
# The cases `answers_json` leaves to the dicts (so do the bodies, by construction).
LEFT_TO_DICTS = {
    "numpy labels",
    "by index: int and bool classes",
    "int and bool labels mixed",
    "float labels",
    "an integer label beyond 64 bits",
    "classes with the same key",
    "more probabilities than classes",
}
SIZES = [1, MIN_ROWS - 1, MIN_ROWS, 257, 3000]


class Scripted:
    """An engine that answers what the current case scripts, for any number of rows."""

    task = "classification"
    inline = True

    def __init__(self) -> None:
        self.classes: list[Any] = []
        self.make: Make = CASES["binary, str labels"]

    def run(self, columns: Columns) -> Prediction:
        return self.make(columns.n_rows)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Scripted]]:
    folder = tmp_path_factory.mktemp("scripted")
    model = load_source(save(numeric_pipeline()[0], folder / "scripted.joblib"))
    engine = Scripted()
    registry = Registry([dataclasses.replace(model, engine=engine)])
    app = app_with_tables(
        {
            "INSTANCE_PATH": str(folder / "i"),
            "REGISTRY": registry,
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{folder / 'a.db'}",
        }
    )
    yield app, engine
    app.extensions["modelserve.executor"].stop()
    app.extensions["modelserve.history"].close()


def expected_body(app: Flask, prediction: Prediction, *, indent: bool = False) -> bytes:
    """What the dict-per-row answer renders to: `jsonify(as_json(...))` before the change."""
    manifest = app.extensions["modelserve.registry"].get("scripted").manifest
    reference = {
        "model": manifest.name,
        "version": manifest.version,
        "predictions": rows_json(prediction),
    }
    return app.json.dumps_bytes(reference, indent=indent) + b"\n"  # type: ignore[attr-defined]


def post_both_doors(client: FlaskClient, n: int) -> list[bytes]:
    """The body from the fast lane (anonymous, no cookie) and from the Flask path (a cookie)."""
    body = {"instances": [ROW] * n}
    bodies = []
    for cookie in (False, True):
        if cookie:
            client.set_cookie("unrelated", "1")
        response = client.post(PATH, json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        bodies.append(response.get_data())
    return bodies


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", CASES)
def test_a_batch_answer_is_the_same_bytes_as_one_dict_per_row(
    scripted: tuple[Flask, Scripted], case: str, n: int
) -> None:
    app, engine = scripted
    engine.make = CASES[case]
    expected = expected_body(app, CASES[case](n))
    assert post_both_doors(app.test_client(), n) == [expected, expected]


def test_the_pretty_debug_answer_is_indented_as_before(scripted: tuple[Flask, Scripted]) -> None:
    app, engine = scripted
    engine.make = CASES["edge floats"]
    app.debug = True
    try:
        bodies = post_both_doors(app.test_client(), 300)
    finally:
        app.debug = False
    expected = expected_body(app, CASES["edge floats"](300), indent=True)
    assert b'\n  "predictions": [\n    {\n      "label": ' in expected
    assert bodies == [expected, expected]


@pytest.mark.parametrize("case", CASES)
def test_only_the_unusual_answers_are_left_to_the_dicts(case: str) -> None:
    """So the comparisons above exercise the column-wise text, not only the fallback."""
    assert (answers_json(CASES[case](MIN_ROWS)) is None) == (case in LEFT_TO_DICTS)
    assert answers_json(CASES[case](MIN_ROWS - 1)) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_few_rows_are_the_same_dicts_as_inside_many(dtype: type) -> None:
    """Fewer than MIN_ROWS rows take their floats row-wise, more column-wise: equal dicts."""
    n, classes = MIN_ROWS + 8, ["a", "b", 3]
    with np.errstate(over="ignore"):  # the largest doubles are inf as float32
        proba = edge_floats(n, len(classes)).astype(dtype)
    labels = [classes[i % 3] for i in range(n)]
    together = rows_json(Prediction(classes, labels, proba))
    for i in range(n):
        alone = rows_json(Prediction(classes, labels[i : i + 1], proba[i : i + 1]))
        assert repr(alone) == repr(together[i : i + 1])
    few = rows_json(Prediction(classes, labels[:5], proba[:5]))
    assert repr(few) == repr(together[:5])
