"""JSON endpoints: thin translations between HTTP and the services."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from ..context import caller, get_gate, get_registry
from ..context import predict as run_prediction
from ..runtime.registry import LoadedModel
from ..services import predictions
from . import bp
from .parsing import json_body, rows_of


def summary(model: LoadedModel) -> dict[str, Any]:
    manifest = model.manifest
    lang = str(get_locale() or "en")
    return {
        "name": manifest.name,
        "version": manifest.version,
        "title": manifest.title_in(lang),
        "task": manifest.task,
    }


@bp.get("/models")
def list_models() -> ResponseReturnValue:
    visible = get_gate().visible(get_registry(), caller("api"))
    return jsonify({"models": [summary(m) for m in visible]})


@bp.get("/models/<name>")
def describe_model(name: str) -> ResponseReturnValue:
    model = get_registry().get(name)
    get_gate().check(model, caller("api"))
    manifest = model.manifest
    lang = str(get_locale() or "en")
    features = [
        {
            "name": f.name,
            "type": f.type,
            "required": f.required,
            "title": f.title(lang),
            "unit": f.unit,
            "min": f.min,
            "max": f.max,
            "choices": f.choices,
        }
        for f in manifest.features
    ]
    return jsonify(
        {
            **summary(model),
            "description": manifest.description.get(lang) or manifest.description.get("en", ""),
            "sha256": model.sha256,
            "classes": manifest.classes,
            "features": features,
            "input_schema": model.schema.json_schema(),
            "example": model.schema.example_row(),
            "max_rows": current_app.config["MAX_ROWS"],
        }
    )


@bp.post("/models/<name>/predict")
def predict(name: str) -> ResponseReturnValue:
    get_registry().get(name)  # an unknown model is a 404 before the body is even read
    outcome = run_prediction(name, rows_of(json_body(request)), "api")
    return jsonify(predictions.as_json(outcome))
