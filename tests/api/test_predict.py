"""The JSON API through the Flask test client: answers, and a clear problem for bad input."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

URL = "/api/v1/models/exam/predict"
PROBLEM = "application/problem+json"


def post(client: FlaskClient, body: object, **kwargs: object):
    return client.post(URL, json=body, **kwargs)


def test_list_and_describe_models(client: FlaskClient) -> None:
    models = client.get("/api/v1/models").get_json()["models"]
    assert {m["name"] for m in models} == {"exam", "exam-legacy", "iris"}
    exam = next(m for m in models if m["name"] == "exam")
    assert exam == {
        "name": "exam",
        "version": "1.0.0",
        "title": "Will I pass the exam?",
        "task": "classification",
    }
    detail = client.get("/api/v1/models/exam").get_json()
    assert detail["classes"] == ["Aprobado", "Suspendido"]
    schema = detail["input_schema"]
    assert schema["required"] == ["estudio", "sueno"]
    assert schema["properties"]["estudio"]["maximum"] == 24
    assert len(detail["sha256"]) == 64


def test_one_row(client: FlaskClient) -> None:
    body = post(client, {"estudio": 8, "sueno": 8}).get_json()
    assert body["model"] == "exam" and body["version"] == "1.0.0"
    [prediction] = body["predictions"]
    assert prediction["label"] == "Aprobado"
    assert set(prediction["probabilities"]) == {"Aprobado", "Suspendido"}
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)


def test_many_rows_keep_their_order(client: FlaskClient) -> None:
    rows = [{"estudio": 0, "sueno": 3}, {"estudio": 10, "sueno": 9}]
    labels = [p["label"] for p in post(client, {"instances": rows}).get_json()["predictions"]]
    assert labels == ["Suspendido", "Aprobado"]


def test_iris_has_three_classes(client: FlaskClient) -> None:
    row = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}
    [p] = client.post("/api/v1/models/iris/predict", json=row).get_json()["predictions"]
    assert p["label"] == "virginica" and len(p["probabilities"]) == 3


def errors_of(response) -> list[tuple]:
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    return [(e["row"], e["field"], e["code"]) for e in body.get("errors", [])]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("ocho", "not_a_number"),
        ("", "required"),
        (True, "not_a_number"),
        (None, "required"),
        ({"h": 1}, "not_a_number"),
        (-1, "below_min"),
        (25, "above_max"),
    ],
)
def test_bad_values_are_422_naming_field_and_row(
    client: FlaskClient, value: object, code: str
) -> None:
    response = post(client, {"estudio": value, "sueno": 7})
    assert response.status_code == 422
    assert errors_of(response) == [(0, "estudio", code)]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400])
def test_non_finite_numbers_written_out(client: FlaskClient, literal: str) -> None:
    response = client.post(
        URL, data=f'{{"estudio": {literal}, "sueno": 7}}', content_type="application/json"
    )
    assert response.status_code == 422
    assert errors_of(response) == [(0, "estudio", "not_finite")]


def test_every_problem_is_listed_at_once(client: FlaskClient) -> None:
    rows = [{"estudio": 1, "sueno": 1}, {"estudio": "x"}, {"estudio": 1, "sueno": 1, "edad": 20}]
    response = post(client, {"instances": rows})
    assert response.status_code == 422
    assert errors_of(response) == [
        (1, "estudio", "not_a_number"),
        (1, "sueno", "required"),
        (2, "edad", "unknown_field"),
    ]
    messages = [e["message"] for e in response.get_json()["errors"]]
    assert messages[0] == "must be a number"


def test_unknown_fields_can_be_ignored_by_setting(make_app, demo_dir) -> None:
    client = make_app(
        REGISTRY=None, MODELS=[str(demo_dir / "exam")], IGNORE_UNKNOWN_FIELDS=True
    ).test_client()
    response = post(client, {"estudio": 1, "sueno": 1, "edad": 20})
    assert response.status_code == 200
    assert client.get("/api/v1/models/exam").get_json()["input_schema"]["additionalProperties"]


@pytest.mark.parametrize("body", [[{"estudio": 1, "sueno": 1}], 3, "text", None])
def test_top_level_array_or_scalar_is_422(client: FlaskClient, body: object) -> None:
    response = client.post(
        URL, data=__import__("json").dumps(body), content_type="application/json"
    )
    assert response.status_code == 422
    assert errors_of(response) == [(None, None, "body_not_object")]


@pytest.mark.parametrize("instances", [[], {}, "x", None])
def test_empty_or_wrong_instances_is_422(client: FlaskClient, instances: object) -> None:
    response = post(client, {"instances": instances})
    assert response.status_code == 422
    assert errors_of(response) == [(None, "instances", "instances_not_list")]


def test_too_many_rows_is_413(make_app) -> None:
    client = make_app(MAX_ROWS=3).test_client()
    response = post(client, {"instances": [{"estudio": 1, "sueno": 1}] * 4})
    assert response.status_code == 413
    assert "at most 3" in response.get_json()["detail"]


def test_body_over_the_size_limit_is_413(make_app) -> None:
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    response = post(client, {"instances": [{"estudio": 1, "sueno": 1}] * 100})
    assert response.status_code == 413
    assert response.mimetype == PROBLEM


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(URL, data='{"estudio": 1,', content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["detail"]


def test_invalid_utf8_is_400(client: FlaskClient) -> None:
    response = client.post(URL, data=b'{"estudio": "\xff\xfe"}', content_type="application/json")
    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(URL, data='{"estudio": 1, "sueno": 1}', headers=headers)
    assert response.status_code == 415
    assert response.mimetype == PROBLEM


def test_unknown_model_and_route_are_404_json(client: FlaskClient) -> None:
    response = client.post("/api/v1/models/nope/predict", json={"a": 1})
    assert response.status_code == 404 and "nope" in response.get_json()["detail"]
    assert client.get("/api/v1/nothing").mimetype == PROBLEM


def test_wrong_method_is_405_json_with_allow(client: FlaskClient) -> None:
    response = client.get(URL)
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert "POST" in response.headers["Allow"]


def test_deeply_nested_json_is_a_clear_error(client: FlaskClient) -> None:
    body = '{"estudio": ' + "[" * 100_000 + "]" * 100_000 + ', "sueno": 1}'
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code in (400, 422)
    assert response.mimetype == PROBLEM


def test_request_id_is_echoed_or_generated(client: FlaskClient) -> None:
    response = post(client, {"estudio": 1, "sueno": 1}, headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    forged = post(client, {"estudio": 1, "sueno": 1}, headers={"X-Request-ID": "bad id<script>"})
    assert (
        forged.headers["X-Request-ID"] != "bad id<script>"
        and len(forged.headers["X-Request-ID"]) == 32
    )


def test_spanish_messages_follow_accept_language(client: FlaskClient) -> None:
    response = post(client, {"estudio": "x", "sueno": 1}, headers={"Accept-Language": "es"})
    assert response.get_json()["errors"][0]["message"] == "debe ser un número"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records():
    handler = Capture()
    logger = logging.getLogger("modelserve")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_one_structured_log_line_per_prediction(client: FlaskClient, log_records) -> None:
    post(client, {"instances": [{"estudio": 1, "sueno": 1}] * 3}, headers={"X-Request-ID": "r1"})
    post(client, {"estudio": "x", "sueno": 1}, headers={"X-Request-ID": "r2"})
    lines = [r.fields for r in log_records if getattr(r, "fields", {}).get("event") == "prediction"]
    assert [(x["request_id"], x["outcome"], x["rows"]) for x in lines] == [
        ("r1", "ok", 3),
        ("r2", "invalid", 1),
    ]
    assert lines[0]["model"] == "exam" and lines[0]["latency_ms"] >= 0
    assert "inputs" not in lines[0]


def test_inputs_are_logged_only_when_allowed(make_app, log_records) -> None:
    make_app(LOG_INPUTS=True).test_client().post(URL, json={"estudio": 3, "sueno": 4})
    [line] = [
        r.fields for r in log_records if getattr(r, "fields", {}).get("event") == "prediction"
    ]
    assert '"estudio": 3' in line["inputs"]


def test_an_integer_longer_than_python_parses_is_400(client: FlaskClient) -> None:
    body = '{"estudio": ' + "1" * 5000 + ', "sueno": 7}'
    response = client.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["detail"]


def test_restricted_models_are_left_out_of_listings(app, client: FlaskClient) -> None:
    from modelserve.extensions import db
    from modelserve.services import access

    with app.app_context():
        access.set_level(db.session, "iris", "signed-in")
    names = {m["name"] for m in client.get("/api/v1/models").get_json()["models"]}
    assert names == {"exam", "exam-legacy"}
    assert client.get("/api/v1/models/iris").status_code == 401
    assert 'href="/models/iris"' not in client.get("/").get_data(as_text=True)
