"""The Open Inference Protocol (V2) over HTTP: health, metadata and inference under `/v2`.

Errors are `{"error": "..."}`, as the protocol says; invalid input is a 400.
"""

from __future__ import annotations

import json
from importlib.metadata import version as package_version
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from ..api.auth import authenticate_token
from ..context import get_registry
from ..context import predict as run_prediction
from ..errors import ApiProblem
from ..runtime.registry import LoadedModel
from . import v2_tensors
from .v2_tensors import TensorError

bp = Blueprint("v2", __name__, url_prefix="/v2")
bp.before_request(authenticate_token)  # the same Bearer tokens as the JSON API
HEADER_LENGTH = "Inference-Header-Content-Length"


def error_response(status: int, detail: str, extra: dict[str, Any]) -> Response:
    """`{"error": ...}`; invalid values are a 400 here, with every problem in the message."""
    problems = [
        f"row {e['row']}, {e['field']}: {e['message']}" if e["field"] else e["message"]
        for e in extra.get("errors", [])
    ]
    response = jsonify({"error": " ".join([detail, "; ".join(problems)]).strip()})
    response.status_code = 400 if status == 422 else status
    return response


@bp.errorhandler(TensorError)
def on_tensor_error(exc: TensorError) -> Response:
    return error_response(400, str(exc), {})


@bp.get("")
def server_metadata() -> ResponseReturnValue:
    return jsonify(
        {
            "name": "modelserve",
            "version": package_version("modelserve"),
            "extensions": ["binary_tensor_data"],
        }
    )


@bp.get("/health/live")
def live() -> ResponseReturnValue:
    return jsonify({"live": True})


@bp.get("/health/ready")
def ready() -> ResponseReturnValue:
    is_ready = get_registry().ready
    return jsonify({"ready": is_ready}), 200 if is_ready else 503


def find_model(name: str, version: str | None) -> LoadedModel:
    """The served model, checked against the version asked for (each model serves one)."""
    model = get_registry().get(name)
    if version is not None and version != model.manifest.version:
        raise ApiProblem(
            404,
            f"model '{name}' has no version '{version}' (serving {model.manifest.version})",
        )
    return model


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None) -> ResponseReturnValue:
    return jsonify(v2_tensors.model_metadata(find_model(name, version)))


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None) -> ResponseReturnValue:
    model = find_model(name, version)
    is_ready = get_registry().ready
    return jsonify({"name": model.name, "ready": is_ready}), 200 if is_ready else 503


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None) -> ResponseReturnValue:
    model = find_model(name, version)
    infer_request, blob = v2_tensors.split_body(
        request.get_data(cache=False), request.headers.get(HEADER_LENGTH)
    )
    rows = v2_tensors.to_rows(v2_tensors.read_inputs(infer_request, blob), model)
    outcome = run_prediction(model.name, rows, "v2")
    outputs, binary = v2_tensors.encode_outputs(
        v2_tensors.answer(outcome.prediction), infer_request
    )
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.manifest.version}
    if isinstance(infer_request.get("id"), str):
        body["id"] = infer_request["id"]
    body["outputs"] = outputs
    return infer_response(body, binary)


def infer_response(body: dict[str, Any], binary: bytes) -> Response:
    """JSON alone, or the JSON header followed by the binary outputs."""
    if not binary:
        return jsonify(body)
    header = json.dumps(body, separators=(",", ":")).encode("utf-8")
    response = Response(header + binary, mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = str(len(header))
    return response
