"""The OpenAPI document and the page to try it: Swagger UI, served from the app (no CDN)."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from ..context import get_registry
from . import openapi

SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"

bp = Blueprint(
    "api_docs",
    __name__,
    static_folder=str(SWAGGER_DIST),
    static_url_path="/api/docs/static",
)


@bp.get("/api/openapi.json")
def openapi_json() -> ResponseReturnValue:
    config = current_app.config
    document = openapi.document(
        get_registry(), int(config["MAX_ROWS"]), int(config["JOB_SYNC_ROWS"])
    )
    return jsonify(document)


@bp.get("/api/docs")
def docs() -> ResponseReturnValue:
    """Swagger UI on the document; "Authorize" takes an API token."""
    return render_template("api/docs.html")
