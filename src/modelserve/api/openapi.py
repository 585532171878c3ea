"""The OpenAPI 3.1 document of the JSON API, built from the same schemas that validate input.

Each model's predict body is its own schema (`InputSchema.json_schema()`), with examples from
`InputSchema.example_row()` and the first rows of the package's `reference.csv`.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
from collections.abc import Iterable
from importlib.metadata import version as package_version
from typing import Any

from ..runtime.errors import ValidationError
from ..runtime.manifest import FEATURE_TYPES, TASKS
from ..runtime.packaging import REFERENCE_NAME
from ..runtime.registry import LoadedModel
from . import openapi_jobs, openapi_protocols

REFERENCE_EXAMPLES = 3
PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def document(
    models: Iterable[LoadedModel], max_rows: int, sync_rows: int = 10_000
) -> dict[str, Any]:
    """The whole OpenAPI document for the models this process serves."""
    models = list(models)
    paths: dict[str, Any] = {
        "/api/v1/models": {"get": _list_operation()},
        "/api/v1/models/{name}": {"get": _describe_operation()},
    }
    schemas: dict[str, Any] = {
        **COMMON_SCHEMAS,
        **openapi_protocols.SCHEMAS,
        **openapi_jobs.SCHEMAS,
    }
    for model in models:
        paths[f"/api/v1/models/{model.name}/predict"] = {
            "post": _predict_operation(model, max_rows)
        }
        schemas[_row_name(model)] = row_schema(model)
        schemas[f"{model.name}.answer"] = answer_schema(model)
    paths.update(openapi_jobs.paths(sync_rows))
    paths.update(openapi_protocols.paths(models))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelserve",
            "version": package_version("modelserve"),
            "description": (
                "Predictions from the served models. Each model's predict body is its own "
                "schema. Errors are RFC 9457 problem details; the Open Inference Protocol "
                "(`/v2`) and MLflow's `/invocations` answer errors as those protocols do."
            ),
        },
        "tags": [
            {"name": "models"},
            {"name": "predict"},
            {"name": "batch", "description": "Files scored at once or as background jobs"},
            {"name": "v2", "description": "Open Inference Protocol (KServe, Triton, MLServer)"},
            {"name": "mlflow", "description": "MLflow's scoring protocol"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"token": []}],
    }


def _row_name(model: LoadedModel) -> str:
    return f"{model.name}.row"


def row_schema(model: LoadedModel) -> dict[str, Any]:
    """The model's row schema, as validation uses it (without the `$schema` marker)."""
    schema = dict(model.schema.json_schema())
    schema.pop("$schema", None)
    schema["title"] = f"{model.name} input row"
    return schema


def answer_schema(model: LoadedModel) -> dict[str, Any]:
    manifest = model.manifest
    if manifest.task == "regression":
        item: dict[str, Any] = {
            "type": "object",
            "required": ["value"],
            "properties": {"value": {"type": "number"}},
        }
    else:
        classes = [str(c) for c in manifest.classes]
        item = {
            "type": "object",
            "required": ["label"],
            "properties": {
                "label": {"enum": list(manifest.classes)},
                "probabilities": {
                    "type": "object",
                    "properties": {
                        c: {"type": "number", "minimum": 0, "maximum": 1} for c in classes
                    },
                    "additionalProperties": False,
                },
            },
        }
    return {
        "type": "object",
        "required": ["model", "version", "predictions"],
        "properties": {
            "model": {"const": manifest.name},
            "version": {"type": "string"},
            "predictions": {"type": "array", "items": item},
        },
    }


def _predict_operation(model: LoadedModel, max_rows: int) -> dict[str, Any]:
    row = {"$ref": f"#/components/schemas/{_row_name(model)}"}
    batch = {
        "type": "object",
        "required": ["instances"],
        "properties": {"instances": {"type": "array", "items": row, "minItems": 1}},
        "additionalProperties": False,
    }
    if max_rows:
        batch["properties"]["instances"]["maxItems"] = max_rows
    return {
        "tags": ["predict"],
        "operationId": f"predict_{model.name}",
        "summary": f"Predict with {model.manifest.title_in('en')}",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [row, batch]},
                    "examples": examples(model),
                }
            },
        },
        "responses": {
            "200": _json("The prediction of each row, in order", f"{model.name}.answer"),
            **_problems(400, 404, 413, 415, 422, 503),
        },
    }


def examples(model: LoadedModel) -> dict[str, Any]:
    """One example row, then the reference rows one by one and as a batch."""
    found: dict[str, Any] = {
        "example": {"summary": "A valid row", "value": model.schema.example_row()}
    }
    reference = reference_rows(model)
    for index, row in enumerate(reference, start=1):
        found[f"reference-{index}"] = {"summary": f"Reference row {index}", "value": row}
    if reference:
        found["batch"] = {
            "summary": "The reference rows together",
            "value": {"instances": reference},
        }
    return found


@functools.cache
def reference_rows(model: LoadedModel) -> list[dict[str, Any]]:
    """The first valid rows of the package's reference.csv (read once per model)."""
    root = model.manifest.root
    path = root / REFERENCE_NAME if root is not None else None
    if path is None or not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(itertools.islice(csv.DictReader(handle), REFERENCE_EXAMPLES * 3))
    clean = []
    for row in rows:
        try:
            [valid] = model.schema.validate([row]).rows()
        except ValidationError:
            continue
        if all(not (isinstance(v, float) and math.isnan(v)) for v in valid.values()):
            clean.append(valid)
    return clean[:REFERENCE_EXAMPLES]


def _list_operation() -> dict[str, Any]:
    return {
        "tags": ["models"],
        "operationId": "list_models",
        "summary": "The models served",
        "responses": {"200": _json("The models", "ModelList")},
    }


def _describe_operation() -> dict[str, Any]:
    return {
        "tags": ["models"],
        "operationId": "describe_model",
        "summary": "A model's features, classes and input schema",
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {"200": _json("The model", "ModelDetail"), **_problems(404)},
    }


def _json(description: str, schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON or invalid UTF-8",
    404: "No such model",
    413: "Body or row count over the limit",
    415: "Not JSON",
    422: "Invalid values: every problem, by row and field",
    503: "The prediction passed its deadline (see Retry-After)",
}


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM: {"schema": PROBLEM_REF}},
        }
        for status in statuses
    }


NULLABLE_STRING = {"type": ["string", "null"]}
COMMON_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["row", "field", "code", "message"],
                    "properties": {
                        "row": {"type": ["integer", "null"]},
                        "field": NULLABLE_STRING,
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    "ModelSummary": {
        "type": "object",
        "required": ["name", "version", "title", "task"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "title": {"type": "string"},
            "task": {"enum": list(TASKS)},
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["models"],
        "properties": {
            "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelSummary"}}
        },
    },
    "ModelDetail": {
        "allOf": [{"$ref": "#/components/schemas/ModelSummary"}],
        "type": "object",
        "required": ["features", "classes", "input_schema", "example", "max_rows"],
        "properties": {
            "description": {"type": "string"},
            "sha256": NULLABLE_STRING,
            "classes": {"type": "array"},
            "features": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type", "required"],
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"enum": list(FEATURE_TYPES)},
                        "required": {"type": "boolean"},
                        "title": {"type": "string"},
                        "unit": NULLABLE_STRING,
                        "min": {"type": ["number", "null"]},
                        "max": {"type": ["number", "null"]},
                        "choices": {"type": ["array", "null"]},
                    },
                },
            },
            "input_schema": {"type": "object"},
            "example": {"type": "object"},
            "max_rows": {"type": "integer"},
        },
    },
}
