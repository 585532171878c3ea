"""The Open Inference Protocol (V2): the official Triton client on a real server, and edge cases."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from flask.testing import FlaskClient

tritonclient_http = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

EXAM_ROWS = [
    {"estudio": 6.0, "sueno": 8.0},
    {"estudio": 1.0, "sueno": 3.0},
    {"estudio": 9.5, "sueno": 4.5},
]
IRIS_ROW = {"sepal_length": 6.5, "sepal_width": 3.0, "petal_length": 5.5, "petal_width": 2.0}


@pytest.fixture(scope="module")
def triton(live_server: str):
    client = tritonclient_http.InferenceServerClient(url=live_server, connection_timeout=10)
    yield client
    client.close()


def native(client: FlaskClient, model: str, rows: list[dict]) -> list[dict]:
    body = client.post(f"/api/v1/models/{model}/predict", json={"instances": rows}).get_json()
    return body["predictions"]


def native_probabilities(client: FlaskClient, model: str, rows: list[dict]) -> np.ndarray:
    return np.array([list(p["probabilities"].values()) for p in native(client, model, rows)])


def test_server_and_model_health_and_metadata(triton) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.get_server_metadata()["name"] == "modelserve"
    assert triton.is_model_ready("exam") and triton.is_model_ready("exam", "1.0.0")
    assert not triton.is_model_ready("exam", "9.9")
    assert not triton.is_model_ready("nope")
    meta = triton.get_model_metadata("iris", "1.0.0")
    assert [i["name"] for i in meta["inputs"]] == list(IRIS_ROW)
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {
        "label": [-1],
        "probabilities": [-1, 3],
    }
    assert meta["parameters"]["classes"] == '["setosa", "versicolor", "virginica"]'
    with pytest.raises(InferenceServerException, match="no model named"):
        triton.get_model_metadata("nope")


def per_feature_inputs(rows: list[dict], binary: bool) -> list:
    inputs = []
    for name in rows[0]:
        column = np.array([[row[name]] for row in rows], dtype=np.float64)
        tensor = tritonclient_http.InferInput(name, list(column.shape), "FP64")
        tensor.set_data_from_numpy(column, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_one_input_per_feature_matches_the_native_api(
    triton, client: FlaskClient, binary: bool
) -> None:
    outputs = [
        tritonclient_http.InferRequestedOutput("label", binary_data=binary),
        tritonclient_http.InferRequestedOutput("probabilities", binary_data=binary),
    ]
    result = triton.infer(
        "exam",
        per_feature_inputs(EXAM_ROWS, binary),
        outputs=outputs,
        parameters={"content_type": "pd"},
    )
    expected = native(client, "exam", EXAM_ROWS)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    assert labels == [p["label"] for p in expected]
    np.testing.assert_allclose(
        result.as_numpy("probabilities"),
        native_probabilities(client, "exam", EXAM_ROWS),
        rtol=1e-12,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_tensor_in_feature_order_matches_the_native_api(
    triton, client: FlaskClient, dtype: type
) -> None:
    matrix = np.array([list(IRIS_ROW.values())], dtype=dtype)
    tensor = tritonclient_http.InferInput(
        "input", list(matrix.shape), "FP32" if dtype is np.float32 else "FP64"
    )
    tensor.set_data_from_numpy(matrix)  # the client's default: binary tensor data
    result = triton.infer("iris", [tensor])  # no outputs named: every output, binary
    assert result.as_numpy("label").tolist() == [b"virginica"]
    np.testing.assert_allclose(
        result.as_numpy("probabilities"),
        native_probabilities(client, "iris", [IRIS_ROW]),
        rtol=1e-12,
    )


def test_invalid_values_are_a_400_error_naming_the_field(triton) -> None:
    rows = [{"estudio": 30.0, "sueno": 8.0}]
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("exam", per_feature_inputs(rows, binary=False))
    assert caught.value.status() == "400"
    assert "row 0, estudio" in caught.value.message()


def infer(client: FlaskClient, body: object, model: str = "exam", **kwargs):
    return client.post(f"/v2/models/{model}/infer", json=body, **kwargs)


def column(name: str, data: list, datatype: str = "FP64", shape: list | None = None) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'inputs' must be a non-empty list"),
        ({"inputs": [column("estudio", [1.0], "FP99")]}, "datatype must be one of"),
        ({"inputs": [column("estudio", [1.0, 2.0], shape=[3])]}, "do not fill shape"),
        ({"inputs": [column("estudio", [1.0]), column("estudio", [2.0])]}, "share a name"),
        (
            {"inputs": [column("estudio", [1.0]), column("sueno", [1.0, 2.0])]},
            "same n",
        ),
        ({"inputs": [column("x", [1.0, 2.0, 3.0], shape=[1, 3])]}, "shape [n, 2]"),
        (
            {
                "inputs": [column("estudio", [1.0]), column("sueno", [1.0])],
                "outputs": [{"name": "p"}],
            },
            "unknown output 'p'",
        ),
        ({"inputs": [column("estudio", [1.0]), column("edad", [1.0])]}, "edad: is not an input"),
    ],
)
def test_protocol_errors_are_400_with_an_error_string(
    client: FlaskClient, body: dict, message: str
) -> None:
    response = infer(client, body)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert message in error, error


def test_unknown_models_versions_and_addresses_are_404_errors(client: FlaskClient) -> None:
    for path in ("/v2/models/nope", "/v2/models/exam/versions/2", "/v2/anything"):
        response = client.get(path)
        assert response.status_code == 404 and set(response.get_json()) == {"error"}
    assert infer(client, {"inputs": []}, model="nope").status_code == 404


def test_malformed_body_and_binary_data(client: FlaskClient) -> None:
    response = client.post("/v2/models/exam/infer", data=b"{not json")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["error"]
    header = json.dumps(
        {
            "inputs": [
                {
                    **column("estudio", [], "BYTES"),
                    "shape": [1],
                    "parameters": {"binary_data_size": 9},
                }
            ]
        }
    ).encode()
    response = client.post(
        "/v2/models/exam/infer",
        data=header + struct.pack("<I", 50) + b"short",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 400 and "truncated" in response.get_json()["error"]


def test_the_answer_echoes_the_id_and_logs_the_v2_source(client: FlaskClient, caplog) -> None:
    body = {"id": "req-1", "inputs": [column("estudio", [6.0]), column("sueno", [8.0])]}
    with caplog.at_level("INFO", logger="modelserve.predictions"):
        answer = infer(client, body).get_json()
    assert answer["id"] == "req-1" and answer["model_name"] == "exam"
    assert [r.fields["source"] for r in caplog.records if hasattr(r, "fields")] == ["v2"]


def test_too_many_rows_is_refused_like_the_native_api(make_app) -> None:
    client = make_app(MAX_ROWS=2).test_client()
    response = infer(client, {"inputs": [column("estudio", [1.0] * 3), column("sueno", [1.0] * 3)]})
    assert response.status_code == 413 and "at most 2" in response.get_json()["error"]


def test_categories_go_as_bytes_inputs_and_a_single_tensor_is_refused(mixed_client) -> None:
    meta = mixed_client.get("/v2/models/churn").get_json()
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("age", "FP64"),
        ("income", "FP64"),
        ("city", "BYTES"),
        ("plan", "BYTES"),
    ]
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            column("age", [70.0, 20.0]),
            column("income", [30000.0, 30000.0]),
            column("city", ["Madrid", "Bilbao"], "BYTES"),
            column("plan", ["pro", "basic"], "BYTES"),
        ],
    }
    answer = infer(mixed_client, body, model="churn").get_json()
    assert answer["outputs"][0]["data"] == ["yes", "no"]
    tensor = {"inputs": [column("input", [70.0, 30000.0, 1.0, 1.0], shape=[1, 4])]}
    refused = infer(mixed_client, tensor, model="churn")
    assert refused.status_code == 400
    assert "non-numeric features (city, plan)" in refused.get_json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"parameters": [], "inputs": [column("estudio", [1.0]), column("sueno", [1.0])]},
        {"inputs": [{**column("estudio", [1.0]), "parameters": "x"}, column("sueno", [1.0])]},
        {
            "inputs": [column("estudio", [1.0]), column("sueno", [1.0])],
            "outputs": [{"name": "label", "parameters": 3}],
        },
    ],
)
def test_parameters_that_are_not_objects_are_400(client: FlaskClient, body: dict) -> None:
    response = infer(client, body)
    assert response.status_code == 400
    assert "'parameters' must be an object" in response.get_json()["error"]


def test_a_regressor_answers_a_value_output(regressor_client) -> None:
    meta = regressor_client.get("/v2/models/reg").get_json()
    assert meta["outputs"] == [{"name": "value", "datatype": "FP64", "shape": [-1]}]
    body = {"inputs": [column("input", [1.0, 2.0, 3.0, 0.0, 0.0, 0.0], shape=[2, 3])]}
    [output] = infer(regressor_client, body, model="reg").get_json()["outputs"]
    native = regressor_client.post(
        "/api/v1/models/reg/predict",
        json={"instances": [{"x0": 1, "x1": 2, "x2": 3}, {"x0": 0, "x1": 0, "x2": 0}]},
    ).get_json()
    assert output["name"] == "value" and output["shape"] == [2]
    assert output["data"] == [p["value"] for p in native["predictions"]]
