"""The OpenAPI description of the V2 and MLflow protocols, so the docs page can try them too.

Request bodies follow each protocol; the examples are each model's `example_row()`, shaped as
that protocol wants it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..protocols.mlflow_payloads import FORMATS
from ..protocols.v2_tensors import DATATYPES
from ..runtime.registry import LoadedModel

JSON = "application/json"
OBJECT: dict[str, Any] = {"type": "object"}
STRING: dict[str, Any] = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str, media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


def _errors(schema: str, statuses: dict[int, str]) -> dict[str, Any]:
    return {str(code): _answer(text, schema) for code, text in statuses.items()}


def paths(models: Sequence[LoadedModel]) -> dict[str, Any]:
    """The `/v2` and MLflow operations."""
    found: dict[str, Any] = {
        "/v2": {"get": _get("v2", "v2_server_metadata", "Server metadata", "V2ServerMetadata")},
        "/v2/health/live": {"get": _get("v2", "v2_live", "Liveness", "V2Live")},
        "/v2/health/ready": {"get": _get("v2", "v2_ready", "Readiness", "V2Ready", ready=True)},
        "/v2/models/{name}": {
            "get": {
                **_get("v2", "v2_model_metadata", "Model metadata", "V2ModelMetadata"),
                "parameters": [_name_parameter()],
                "responses": {
                    "200": _answer("The model's inputs and outputs", "V2ModelMetadata"),
                    **_errors("V2Error", {404: "No such model"}),
                },
            }
        },
        "/ping": {"get": _ping()},
        "/invocations": {"post": _invocations(models)},
    }
    for model in models:
        found[f"/v2/models/{model.name}/infer"] = {"post": _infer(model)}
    return found


def _get(
    tag: str, operation: str, summary: str, schema: str, *, ready: bool = False
) -> dict[str, Any]:
    responses = {"200": _answer(summary, schema)}
    if ready:
        responses["503"] = _answer("Models still loading", schema)
    return {"tags": [tag], "operationId": operation, "summary": summary, "responses": responses}


def _name_parameter() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": STRING}


def _infer(model: LoadedModel) -> dict[str, Any]:
    row = model.schema.example_row()
    per_feature = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": name, "datatype": _datatype(value), "shape": [1], "data": [value]}
            for name, value in row.items()
        ],
    }
    examples: dict[str, Any] = {
        "per-feature": {"summary": "One input per feature", "value": per_feature}
    }
    if all(f.numeric for f in model.manifest.features):
        tensor = {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP64",
                    "shape": [1, len(row)],
                    "data": [list(row.values())],
                }
            ]
        }
        examples["tensor"] = {"summary": "One [n, k] tensor, features in order", "value": tensor}
    return {
        "tags": ["v2"],
        "operationId": f"v2_infer_{model.name}",
        "summary": f"V2 inference with {model.name}",
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": _ref("V2InferenceRequest"), "examples": examples}},
        },
        "responses": {
            "200": {
                "description": "Output tensors (binary data follows the JSON header when asked)",
                "content": {
                    JSON: {"schema": _ref("V2InferenceResponse")},
                    "application/octet-stream": {"schema": {}},
                },
            },
            **_errors(
                "V2Error",
                {
                    400: "Not the protocol, or invalid values",
                    404: "No such model",
                    413: "Too large",
                    503: "Past the deadline",
                },
            ),
        },
    }


def _datatype(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "BYTES"
    return "INT64" if isinstance(value, int) else "FP64"


def _ping() -> dict[str, Any]:
    return {
        "tags": ["mlflow"],
        "operationId": "mlflow_ping",
        "summary": "MLflow health check",
        "responses": {
            "200": {"description": "Ready"},
            "503": {"description": "Models still loading"},
        },
    }


def _invocations(models: Sequence[LoadedModel]) -> dict[str, Any]:
    examples = {}
    for model in models[:1]:
        row = model.schema.example_row()
        examples = {
            "dataframe_split": {
                "value": {"dataframe_split": {"columns": list(row), "data": [list(row.values())]}}
            },
            "dataframe_records": {"value": {"dataframe_records": [row]}},
            "inputs": {"value": {"inputs": {k: [v] for k, v in row.items()}}},
        }
    return {
        "tags": ["mlflow"],
        "operationId": "mlflow_invocations",
        "summary": "MLflow scoring",
        "parameters": [
            {
                "name": "model",
                "in": "query",
                "description": "The model; else X-Model-Name, DEFAULT_MODEL, or the only one",
                "schema": {"enum": [m.name for m in models]},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": _ref("MLflowRequest"), "examples": examples},
                "text/csv": {"schema": STRING},
            },
        },
        "responses": {
            "200": _answer("One prediction per row", "MLflowPredictions"),
            **_errors(
                "MLflowError",
                {
                    400: "Malformed body or invalid values",
                    404: "No such model",
                    415: "Not JSON or CSV",
                    503: "Past the deadline",
                },
            ),
        },
    }


TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": STRING,
        "datatype": {"enum": list(DATATYPES)},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "parameters": OBJECT,
        "data": {"type": "array"},
    },
}

SCHEMAS: dict[str, Any] = {
    "V2Error": {"type": "object", "required": ["error"], "properties": {"error": STRING}},
    "V2ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": STRING,
            "version": STRING,
            "extensions": {"type": "array", "items": STRING},
        },
    },
    "V2Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "V2Ready": {
        "type": "object",
        "required": ["ready"],
        "properties": {"ready": {"type": "boolean"}},
    },
    "V2ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": STRING,
            "versions": {"type": "array", "items": STRING},
            "platform": STRING,
            "inputs": {"type": "array", "items": TENSOR},
            "outputs": {"type": "array", "items": TENSOR},
            "parameters": OBJECT,
        },
    },
    "V2InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": STRING,
            "parameters": OBJECT,
            "inputs": {"type": "array", "items": TENSOR, "minItems": 1},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": STRING, "parameters": OBJECT},
                },
            },
        },
    },
    "V2InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": STRING,
            "model_version": STRING,
            "id": STRING,
            "outputs": {"type": "array", "items": TENSOR},
        },
    },
    "MLflowRequest": {
        "type": "object",
        "description": f"Exactly one of {', '.join(FORMATS)}; optionally params",
        "minProperties": 1,
        "properties": {
            "dataframe_split": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "columns": {"type": "array", "items": STRING},
                    "data": {"type": "array"},
                },
            },
            "dataframe_records": {"type": "array", "items": OBJECT},
            "instances": {"type": ["array", "object"]},
            "inputs": {"type": ["array", "object"]},
            "params": OBJECT,
        },
    },
    "MLflowPredictions": {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array"}},
    },
    "MLflowError": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {"error_code": STRING, "message": STRING, "errors": {"type": "array"}},
    },
}
