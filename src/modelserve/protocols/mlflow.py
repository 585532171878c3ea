"""MLflow's scoring protocol: `POST /invocations`, `GET /ping` (and `/health`), as MLflow serves.

The model is the one named by the `model` query parameter or the `X-Model-Name` header, else
the `DEFAULT_MODEL` setting, else the only model served. Errors are MLflow's
`{"error_code": ..., "message": ...}`; invalid input is a 400.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..api.auth import authenticate_token
from ..api.parsing import json_body
from ..context import get_registry
from ..context import predict as run_prediction
from ..errors import ApiProblem
from .mlflow_payloads import PayloadError, csv_rows, json_rows, predictions_of

bp = Blueprint("mlflow", __name__)
bp.before_request(authenticate_token)  # the same Bearer tokens as the JSON API
PREFIXES = ("/invocations", "/ping", "/health")
ERROR_CODES = {
    404: "RESOURCE_DOES_NOT_EXIST",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


def error_response(status: int, detail: str, extra: dict[str, Any]) -> Response:
    """MLflow's error body; validation problems stay listed under `errors`."""
    status = 400 if status == 422 else status
    body: dict[str, Any] = {"error_code": ERROR_CODES.get(status, "BAD_REQUEST"), "message": detail}
    if extra.get("errors"):
        body["errors"] = extra["errors"]
    response = jsonify(body)
    response.status_code = status
    return response


@bp.errorhandler(PayloadError)
def on_payload_error(exc: PayloadError) -> Response:
    return error_response(400, str(exc), {})


@bp.get("/ping")
@bp.get("/health")  # newer MLflow servers answer both
def ping() -> ResponseReturnValue:
    ready = get_registry().ready
    return Response("\n", status=200 if ready else 503, mimetype="application/json")


def model_name() -> str:
    """The model this call is for: named by the caller, the setting, or the only one."""
    named = request.args.get("model") or request.headers.get("X-Model-Name")
    named = named or current_app.config.get("DEFAULT_MODEL")
    if named:
        return str(named)
    registry = get_registry()
    if len(registry) == 1:
        return next(iter(registry)).name
    raise ApiProblem(
        400,
        "Several models are served: name one with ?model=NAME or the X-Model-Name header "
        f"({', '.join(m.name for m in registry)}).",
    )


def body_rows(names: list[str]) -> list[Any]:
    if request.mimetype != "text/csv":
        return json_rows(json_body(request), names)
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset != "utf-8":
        raise ApiProblem(415, "The scoring server only supports UTF-8.")
    try:
        return csv_rows(request.get_data(cache=False).decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ApiProblem(400, "The CSV body is not valid UTF-8.") from None


@bp.post("/invocations")
def invocations() -> ResponseReturnValue:
    registry = get_registry()
    model = registry.get(model_name())
    rows = body_rows(model.schema.names)
    outcome = run_prediction(model.name, rows, "mlflow")
    return jsonify({"predictions": predictions_of(outcome.prediction)})
