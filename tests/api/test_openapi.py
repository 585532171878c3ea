"""The OpenAPI document: valid, built from the models' schemas, and true to the running API."""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_each_model_has_its_own_body_schema_and_examples(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    detail = client.get("/api/v1/models/iris").get_json()
    row = document["components"]["schemas"]["iris.row"]
    assert row["properties"] == detail["input_schema"]["properties"]
    assert row["required"] == detail["input_schema"]["required"]
    body = document["paths"]["/api/v1/models/iris/predict"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["examples"]
    assert examples["example"]["value"] == detail["example"]
    # The demo packages carry reference.csv: its rows are examples too, and they predict.
    reference = [v["value"] for k, v in examples.items() if k.startswith("reference-")]
    assert reference and examples["batch"]["value"] == {"instances": reference}
    answer = client.post("/api/v1/models/iris/predict", json=examples["batch"]["value"])
    assert answer.status_code == 200 and len(answer.get_json()["predictions"]) == len(reference)


def test_the_docs_page_is_served_locally(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "http://" not in html and "https://" not in html  # no CDN
    assert "<script>" not in html  # the CSP allows no inline script
    for asset in ("/api/docs/static/swagger-ui-bundle.js", "/api/docs/static/swagger-ui.css"):
        with client.get(asset) as response:
            assert response.status_code == 200


DEMO_MODELS = ("exam", "exam-legacy", "iris")
OPERATIONS = [
    "GET /api/v1/models",
    "GET /api/v1/models/{name}",
    *(f"POST /api/v1/models/{name}/predict" for name in DEMO_MODELS),
    "GET /v2",
    "GET /v2/models/{name}",
    "POST /v2/models/iris/infer",  # the others share its code path; each costs seconds
    "POST /invocations",
]


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_keeps_the_documents_promises(app: Flask, label: str) -> None:
    """Schemathesis: generated requests get no server error and answers match the schema."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    [operation] = [
        result.ok() for result in schema.get_all_operations() if result.ok().label == label
    ]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=30,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

    check()
