"""MLflow's scoring protocol: payloads exactly as MLflow's documentation shows them."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

EXAM = "/invocations?model=exam"
EXPECTED = ["Aprobado", "Suspendido"]  # for (6, 8) and (1, 3)


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": ["estudio", "sueno"], "data": [[6, 8], [1, 3]]}},
        {
            "dataframe_split": {
                "index": [0, 1],
                "columns": ["sueno", "estudio"],
                "data": [[8, 6], [3, 1]],
            }
        },
        {"dataframe_records": [{"estudio": 6, "sueno": 8}, {"estudio": 1, "sueno": 3}]},
        {"instances": [{"estudio": 6, "sueno": 8}, {"estudio": 1, "sueno": 3}]},
        {"instances": [[6, 8], [1, 3]]},
        {"inputs": {"estudio": [6, 1], "sueno": [8, 3]}},
        {"inputs": [[6, 8], [1, 3]]},
        {"inputs": [[6, 8], [1, 3]], "params": {}},
    ],
    ids=[
        "split",
        "split-reordered",
        "records",
        "instances-records",
        "instances-rows",
        "inputs-columns",
        "inputs-rows",
        "with-params",
    ],
)
def test_every_json_format_answers_like_mlflow(client: FlaskClient, body: dict) -> None:
    response = client.post(EXAM, json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"predictions": EXPECTED}


def test_csv_body(client: FlaskClient) -> None:
    response = client.post(
        EXAM, data="estudio,sueno\n6,8\n1,3\n", headers={"Content-Type": "text/csv"}
    )
    assert response.get_json() == {"predictions": EXPECTED}


def test_the_predictions_match_the_native_api(client: FlaskClient) -> None:
    rows = [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    native = client.post("/api/v1/models/iris/predict", json={"instances": rows}).get_json()
    mlflow = client.post(
        "/invocations", json={"dataframe_records": rows}, headers={"X-Model-Name": "iris"}
    )
    assert mlflow.get_json()["predictions"] == [p["label"] for p in native["predictions"]]


def test_model_from_the_setting_or_the_only_one(make_app, demo_dir) -> None:
    body = {"inputs": [[6, 8]]}
    assert (
        make_app(DEFAULT_MODEL="exam").test_client().post("/invocations", json=body).status_code
        == 200
    )
    several = make_app().test_client().post("/invocations", json=body)
    assert several.status_code == 400 and "?model=NAME" in several.get_json()["message"]
    only = make_app(REGISTRY=None, MODELS=[str(demo_dir / "exam")]).test_client()
    assert only.post("/invocations", json=body).get_json() == {"predictions": ["Aprobado"]}


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"data": [[6, 8]]}, "BAD_REQUEST", "exactly one of the fields"),
        ([[6, 8]], "BAD_REQUEST", "exactly one of the fields"),
        ({"inputs": [[6, 8]], "instances": [[6, 8]]}, "BAD_REQUEST", "exactly one"),
        ({"inputs": [[6]]}, "BAD_REQUEST", "must be a list of 2 values"),
        ({"dataframe_records": []}, "BAD_REQUEST", "non-empty list"),
        ({"inputs": {}}, "BAD_REQUEST", "same length"),
        ({"instances": []}, "BAD_REQUEST", "non-empty"),
        ({"dataframe_records": [{"estudio": "x", "sueno": 8}]}, "BAD_REQUEST", "not valid"),
    ],
)
def test_errors_are_mlflow_shaped(
    client: FlaskClient, body: object, code: str, fragment: str
) -> None:
    response = client.post(EXAM, json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["error_code"] == code and fragment in error["message"]


def test_validation_lists_every_problem(client: FlaskClient) -> None:
    error = client.post(EXAM, json={"dataframe_records": [{"estudio": "x"}]}).get_json()
    assert [(e["field"], e["code"]) for e in error["errors"]] == [
        ("estudio", "not_a_number"),
        ("sueno", "required"),
    ]


def test_unknown_model_content_type_and_ping(client: FlaskClient) -> None:
    missing = client.post("/invocations?model=nope", json={"inputs": [[1]]})
    assert (
        missing.status_code == 404 and missing.get_json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    )
    wrong = client.post(EXAM, data="x", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415 and wrong.get_json()["error_code"] == "BAD_REQUEST"
    latin = client.post(EXAM, data="a", headers={"Content-Type": "text/csv; charset=latin-1"})
    assert latin.status_code == 415
    assert client.get("/ping").status_code == 200 and client.get("/health").status_code == 200


def test_calls_are_logged_with_the_mlflow_source(client: FlaskClient, caplog) -> None:
    with caplog.at_level("INFO", logger="modelserve.predictions"):
        client.post(EXAM, json={"inputs": [[6, 8]]})
    assert [r.fields["source"] for r in caplog.records if hasattr(r, "fields")] == ["mlflow"]


def test_a_regressor_answers_numbers(regressor_client) -> None:
    body = {"dataframe_split": {"columns": ["x0", "x1", "x2"], "data": [[1, 1, 1], [0, 0, 0]]}}
    predictions = regressor_client.post("/invocations", json=body).get_json()["predictions"]
    assert predictions == pytest.approx([6.0, 0.0], abs=1e-9)
