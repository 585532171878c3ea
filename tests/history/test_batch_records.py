"""A request of many rows is one history record holding all of them.

Through the real doors, on SQLite and on PostgreSQL: the record's rows are exactly what the
API answered, it is seen by its owner and admins only, found by the label filter, expanded
by the exports (formula cells neutralised), paged on its detail page, purged like any other.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import math
from collections import Counter
from datetime import timedelta

import numpy as np
import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from modelserve.extensions import db
from modelserve.runtime.predictor import Prediction
from modelserve.runtime.schema import Columns
from modelserve.services import accounts, batch_records
from modelserve.storage.tables import PredictionRecord, utcnow
from tests.auth.test_tokens import bearer, issue
from tests.conftest import PASSWORD, sign_in
from tests.history.test_history import records

PREDICT = "/api/v1/models/exam/predict"
ROWS = 10_000


@pytest.fixture
def app(make_app, database_url: str) -> Flask:
    return make_app(DATABASE_URL=database_url)


def instances(n: int = ROWS) -> list[dict[str, float]]:
    """Rows on both sides of the boundary, with floats that need all their digits."""
    return [{"estudio": (i * 0.37) % 24, "sueno": (i % 97) / 7} for i in range(n)]


def post_batch(app: Flask, token: str, rows: list[dict[str, float]]) -> list[dict]:
    response = app.test_client().post(PREDICT, json={"instances": rows}, headers=bearer(token))
    assert response.status_code == 200
    return response.get_json()["predictions"]


def batch_record(app: Flask) -> PredictionRecord:
    [record] = records(app)
    assert record.rows > 1
    return record


def test_a_large_request_is_one_record_holding_exactly_the_answer(app: Flask, users) -> None:
    sent = instances()
    answered = post_batch(app, issue(app, "bob"), sent)
    record = batch_record(app)
    assert (record.rows, record.model, record.version, record.source) == (
        ROWS,
        "exam",
        "1.0.0",
        "api",
    )
    assert record.user.username == "bob" and record.token_id is not None
    assert len(record.sha256) == 64 and record.latency_ms > 0 and record.request_id
    assert record.label_counts == dict(Counter(a["label"] for a in answered).most_common())
    assert set(record.label_counts) == {"Aprobado", "Suspendido"}
    stored = batch_records.decode(record.payload)
    for i in range(ROWS):
        inputs, answer = stored.row(i)
        assert answer == answered[i]  # labels and probabilities, to the last bit
        assert inputs == sent[i]


def test_smaller_requests_keep_one_record_per_row(make_app, users) -> None:
    app = make_app(HISTORY_BATCH_ROWS=100)
    with app.app_context():
        accounts.create_user(db.session, "ada", PASSWORD, role="admin")
    post_batch(app, issue(app, "ada"), instances(99))
    assert [r.rows for r in records(app)] == [1] * 99
    post_batch(app, issue(app, "ada"), instances(100))
    assert len(records(app)) == 100


def test_the_api_pages_a_batch_records_rows_as_it_answered(app: Flask, users) -> None:
    answered = post_batch(app, issue(app, "bob"), instances())
    record = batch_record(app)
    reader = bearer(issue(app, "bob", scopes=("history:read",)))
    client = app.test_client()
    listing = client.get("/api/v1/history", headers=reader).get_json()
    [entry] = listing["records"]
    assert listing["total"] == 1 and entry["rows"] == ROWS and entry["inputs"] is None
    assert entry["label_counts"] == record.label_counts
    detail = client.get(f"/api/v1/history/{record.id}?page=3", headers=reader).get_json()
    assert (detail["page"], detail["pages"]) == (3, ROWS // 100)
    assert [p["row"] for p in detail["predictions"]] == list(range(200, 300))
    assert [{k: p[k] for k in ("label", "probabilities")} for p in detail["predictions"]] == (
        answered[200:300]
    )


def test_only_its_owner_and_admins_see_it(app: Flask, users) -> None:
    post_batch(app, issue(app, "bob"), instances(500))
    record_id = batch_record(app).id
    with app.app_context():
        accounts.create_user(db.session, "carol", PASSWORD)
    bob, ada, carol = app.test_client(), app.test_client(), app.test_client()
    for client, name in ((bob, "bob"), (ada, "ada"), (carol, "carol")):
        sign_in(client, name)
    listed = bob.get("/history").get_data(as_text=True)
    assert "500 rows" in listed and "Aprobado × " in listed and "Suspendido × " in listed
    assert bob.get(f"/history/{record_id}").status_code == 200
    assert ada.get(f"/history/{record_id}").status_code == 200
    assert record_id not in carol.get("/history").get_data(as_text=True)
    assert carol.get(f"/history/{record_id}").status_code == 404
    assert carol.get("/history/export.jsonl").get_data(as_text=True) == ""
    reader = bearer(issue(app, "carol", scopes=("history:read",)))
    assert app.test_client().get(f"/api/v1/history/{record_id}", headers=reader).status_code == 404


def test_the_detail_page_shows_the_rows_paged_and_escaped(app: Flask, users) -> None:
    post_batch(app, issue(app, "bob"), instances(250))
    record = batch_record(app)
    _relabel(app, record.id, {0: "<script>alert('x')</script>"})
    client = app.test_client()
    sign_in(client, "bob")
    first = client.get(f"/history/{record.id}").get_data(as_text=True)
    assert 'id="record-rows"' in first and "Rows 1–100 of 250" in first
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in first and "<script>alert" not in first
    )
    last = client.get(f"/history/{record.id}?page=3").get_data(as_text=True)
    assert "Rows 201–250 of 250" in last and f'href="/history/{record.id}?page=2"' in last
    assert client.get(f"/history/{record.id}?page=x").status_code == 200


def test_the_list_shows_the_five_most_frequent_labels(app: Flask, users) -> None:
    post_batch(app, issue(app, "bob"), instances(200))
    with app.app_context():
        record = db.session.scalar(db.select(PredictionRecord))
        record.label_counts = {f"class-{i}": 100 - i for i in range(7)}
        db.session.commit()
    client = app.test_client()
    sign_in(client, "bob")
    listed = client.get("/history").get_data(as_text=True)
    assert "class-4 × 96" in listed and "class-5" not in listed and " · …" in listed


def test_the_label_filter_finds_batch_records_and_exports_only_matching_rows(
    app: Flask, client: FlaskClient, users
) -> None:
    token = issue(app, "bob")
    answered = post_batch(app, token, instances(300))
    post_batch(app, token, [{"estudio": 1, "sueno": 1}])  # a one-row record: Suspendido
    sign_in(client, "bob")
    assert "2 records" in client.get("/history?label=Suspendido").get_data(as_text=True)
    assert "1 record<" in client.get("/history?label=Aprobado").get_data(as_text=True)
    assert "0 records" in client.get("/history?label=Aprob").get_data(as_text=True)
    assert "0 records" in client.get("/history?label=%25").get_data(as_text=True)
    text = client.get("/history/export.csv?label=Aprobado").get_data(as_text=True)
    exported = list(csv.DictReader(io.StringIO(text)))
    wanted = [i for i, a in enumerate(answered) if a["label"] == "Aprobado"]
    record = next(r for r in records(app) if r.rows > 1)
    assert [row["id"] for row in exported] == [f"{record.id}-{i}" for i in wanted]
    assert {row["label"] for row in exported} == {"Aprobado"}


def test_exports_expand_a_batch_record_into_its_rows(app: Flask, users) -> None:
    sent = instances(150)
    answered = post_batch(app, issue(app, "bob"), sent)
    record = batch_record(app)
    _relabel(app, record.id, {7: '=HYPERLINK("http://evil")'})
    with app.app_context():
        stored = db.session.get(PredictionRecord, record.id)
        stored.request_id = "+cmd"
        db.session.commit()
    client = app.test_client()
    sign_in(client, "ada")
    lines = client.get("/history/export.jsonl").get_data(as_text=True).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == [f"{record.id}-{i}" for i in range(150)]
    assert [r["inputs"] for r in rows] == sent
    assert [r["probabilities"] for r in rows] == [a["probabilities"] for a in answered]
    assert rows[7]["label"] == '=HYPERLINK("http://evil")' and rows[0]["request_id"] == "+cmd"
    assert math.isclose(sum(r["latency_ms"] for r in rows), record.latency_ms)
    table = client.get("/history/export.csv").get_data(as_text=True)
    cells = list(csv.DictReader(io.StringIO(table)))
    assert len(cells) == 150 and cells[7]["label"] == '\'=HYPERLINK("http://evil")'
    assert {c["request_id"] for c in cells} == {"'+cmd"}
    assert json.loads(cells[3]["inputs"]) == sent[3]


def test_purge_deletes_a_batch_record_like_any_other(app: Flask, runner, users) -> None:
    token = issue(app, "bob")
    post_batch(app, token, instances(200))
    with app.app_context():
        old = db.session.scalar(db.select(PredictionRecord))
        old.created_at = utcnow() - timedelta(days=91)
        db.session.commit()
    post_batch(app, token, instances(200))
    result = runner.invoke(args=["history", "purge", "--older-than", "90d"])
    assert result.exit_code == 0 and "deleted 1 records" in result.output
    assert [r.rows for r in records(app)] == [200]


def test_sync_mode_answers_503_while_the_database_is_down(make_app, database_url: str) -> None:
    app = make_app(DATABASE_URL=database_url, HISTORY="sync")
    writer = app.extensions["modelserve.history"]
    working, broken = writer._engine, create_engine("postgresql+psycopg://nobody@127.0.0.1:1/x")
    writer._engine = lambda: broken
    try:
        down = app.test_client().post(PREDICT, json={"instances": instances(500)})
    finally:
        writer._engine = working
        broken.dispose()
    assert down.status_code == 503 and "Retry-After" in down.headers
    assert records(app) == []
    assert app.test_client().post(PREDICT, json={"instances": instances(500)}).status_code == 200
    assert [r.rows for r in records(app)] == [500]


def _relabel(app: Flask, record_id: str, labels: dict[int, str]) -> None:
    """Give some rows of a stored batch record other labels (text no model answers)."""
    with app.app_context():
        record = db.session.get(PredictionRecord, record_id)
        head, newline, raw = record.payload.partition(b"\n")
        body = orjson.loads(head)
        body["labels"] = batch_records.decode(record.payload).labels  # a list, even if indexed
        for index, label in labels.items():
            body["labels"][index] = label
        record.payload = orjson.dumps(body) + newline + raw
        db.session.commit()


# -- the payload itself, without an application --------------------------------------------
def test_the_payload_round_trips_text_missing_values_and_regressions() -> None:
    columns = Columns(
        ["x", "colour", "note"],
        [np.array([0.1, np.nan, 1e-300]), ["red", None, "ünï"], ["a", "b", None]],
        3,
    )
    values = np.array([1 / 3, -0.0, 2.5e10])
    stored = batch_records.decode(batch_records.encode(columns, Prediction([], [], values=values)))
    assert [stored.row(i) for i in range(3)] == [
        ({"x": 0.1, "colour": "red", "note": "a"}, {"value": 1 / 3}),
        ({"x": None, "colour": None, "note": "b"}, {"value": -0.0}),
        ({"x": 1e-300, "colour": "ünï", "note": None}, {"value": 2.5e10}),
    ]
    labelled = Prediction(
        [0, 1], [1, 0, 1], probabilities=np.array([[0.2, 0.8], [0.9, 0.1]] * 2)[:3]
    )
    assert batch_records.label_counts(labelled) == {"1": 2, "0": 1}
    assert batch_records.decode(batch_records.encode(columns, labelled)).row(2)[1] == {
        "label": 1,
        "probabilities": {"0": 0.2, "1": 0.8},
    }


def test_a_label_json_cannot_carry_exactly_is_kept_as_its_text() -> None:
    columns = Columns(["x"], [np.array([1.0, 2.0])], 2)
    huge = 2**70
    prediction = Prediction([huge, 1], [huge, 1], probabilities=np.array([[0.6, 0.4]] * 2))
    stored = batch_records.decode(batch_records.encode(columns, prediction))
    assert [stored.row(i)[1]["label"] for i in range(2)] == [str(huge), "1"]
    assert batch_records.label_counts(prediction) == {str(huge): 1, "1": 1}


def test_label_keys_match_whole_labels_only() -> None:
    keys = batch_records.label_keys(["a\nb", "50%", "x"])
    assert batch_records.label_key("a\nb") in keys and batch_records.label_key("50%") in keys
    for other in ("a", "b", "50", "%", "x\n"):
        assert batch_records.label_key(other) not in keys


def test_float_columns_are_stored_as_raw_bytes_exact_to_the_bit() -> None:
    bits = np.random.default_rng(5).integers(0, 2**64, size=(300, 2), dtype=np.uint64)
    floats = bits.view(np.float64)
    floats[np.isnan(floats)] = 0.5  # NaN reads back as None, as one-row records keep it
    columns = Columns(["a", "b"], [], 300, matrix=floats)
    prediction = Prediction(["x", "y"], ["x", "y"] * 150, probabilities=floats[:, ::-1])
    payload = batch_records.encode(columns, prediction)
    head, _, raw = payload.partition(b"\n")
    assert orjson.loads(head)["format"] == 2 and len(raw) == 4 * 300 * 8
    stored = batch_records.decode(payload)
    for got, want in [
        *zip(stored.inputs, floats.T, strict=True),
        *zip(stored.probabilities or [], floats[:, ::-1].T, strict=True),
    ]:
        assert np.array_equal(np.array(got).view(np.uint64), want.view(np.uint64))


def test_records_written_in_format_1_still_read() -> None:
    """Before format 2 a float64 column was base64 text inside the JSON, with no newline."""

    def f8(*values: float) -> dict[str, str]:
        return {"f8": base64.b64encode(np.array(values, dtype="<f8").tobytes()).decode()}

    payload = orjson.dumps(
        {
            "format": 1,
            "rows": 2,
            "names": ["x", "note"],
            "inputs": [f8(0.1, math.nan), ["a", None]],
            "labels": ["no", "yes"],
            "classes": ["no", "yes"],
            "probabilities": [f8(0.75, 1 / 3), f8(0.25, 2 / 3)],
            "values": None,
        }
    )
    stored = batch_records.decode(payload)
    assert [stored.row(i) for i in range(2)] == [
        ({"x": 0.1, "note": "a"}, {"label": "no", "probabilities": {"no": 0.75, "yes": 0.25}}),
        ({"x": None, "note": None}, {"label": "yes", "probabilities": {"no": 1 / 3, "yes": 2 / 3}}),
    ]


@pytest.mark.parametrize("classes", [["b", "a", "c"], [0, False, 2], list(range(40))])
def test_label_counts_from_the_label_index_are_the_counts_of_the_labels(classes: list) -> None:
    index = np.random.default_rng(len(classes)).integers(0, len(classes) - 1, 500)
    labels = [classes[i] for i in index.tolist()]
    indexed = Prediction(classes, labels, np.zeros((500, len(classes))), label_index=index)
    counts = batch_records.label_counts(indexed)
    assert counts == batch_records.label_counts(Prediction(classes, labels, indexed.probabilities))
    assert sum((counts or {}).values()) == 500


@pytest.mark.parametrize(
    "classes", [["no", "yes"], [0, 2**70, 5], [f"c{i}" for i in range(300)], [True, False]]
)
def test_labels_kept_as_class_positions_read_back_as_the_labels(classes: list) -> None:
    index = np.random.default_rng(len(classes)).integers(0, len(classes), 400)
    labels = [classes[i] for i in index.tolist()]
    columns = Columns(["x"], [np.arange(400.0)], 400)
    by_text = Prediction(classes, labels, np.zeros((400, len(classes))))
    by_index = dataclasses.replace(by_text, label_index=index)
    head = orjson.loads(batch_records.encode(columns, by_index).partition(b"\n")[0])
    assert isinstance(head["labels"], dict)
    stored = batch_records.decode(batch_records.encode(columns, by_index))
    assert stored.labels == batch_records.decode(batch_records.encode(columns, by_text)).labels
    assert stored.labels == (labels if 2**70 not in classes else [str(v) for v in labels])


def test_a_binary_first_probability_that_is_one_minus_the_second_is_kept_as_that() -> None:
    second = np.random.default_rng(9).random(300)
    second[:3] = [0.0, 1.0, 5e-324]
    complement = np.column_stack([np.subtract(1, second), second])
    off_by_one_ulp = complement.copy()
    off_by_one_ulp[7, 0] = np.nextafter(off_by_one_ulp[7, 0], 2)
    columns = Columns(["x"], [np.arange(300.0)], 300)
    for matrix, stored_columns in [(complement, 1), (off_by_one_ulp, 2)]:
        prediction = Prediction(["no", "yes"], ["yes"] * 300, matrix)
        payload = batch_records.encode(columns, prediction)
        head, _, raw = payload.partition(b"\n")
        assert len(raw) == (1 + stored_columns) * 300 * 8
        assert (orjson.loads(head)["probabilities"][0] == {"one_minus": 1}) == (stored_columns == 1)
        got = np.array(batch_records.decode(payload).probabilities).T
        assert np.array_equal(got.view(np.uint64), matrix.view(np.uint64))
