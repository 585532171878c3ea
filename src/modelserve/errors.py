"""One place maps errors to HTTP: problem+json (RFC 9457) for the API, HTML pages elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .context import request_id
from .runtime import messages
from .runtime.batching import OverloadedError
from .runtime.errors import (
    DeadlineExceededError,
    ModelNotFoundError,
    TooManyRowsError,
    ValidationError,
)

log = logging.getLogger("modelserve.errors")


class ApiProblem(Exception):
    """Raise from an API view to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def wants_json() -> bool:
    """API paths always get JSON; other paths get it only when the client prefers it."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": request_id(),
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def page_title(status: int, fallback: str) -> str:
    """The heading of an HTML error page, in the reader's language."""
    titles = {
        400: gettext("Bad request"),
        403: gettext("Forbidden"),
        404: gettext("Page not found"),
        405: gettext("Method not allowed"),
        413: gettext("Too large"),
        415: gettext("Unsupported content type"),
        422: gettext("Invalid input"),
        500: gettext("Server error"),
        503: gettext("Temporarily unavailable"),
    }
    return titles.get(status, fallback)


def error_page(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template(
        "errors/error.html", status=status, title=page_title(status, title), detail=detail
    ), status


def respond(status: int, title: str, detail: str, **extra: Any) -> Response | tuple[str, int]:
    return (
        problem(status, title, detail, **extra)
        if wants_json()
        else error_page(status, title, detail)
    )


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Each problem as {"row", "field", "code", "message"}, in the reader's language."""
    return [
        {"row": e.row, "field": e.field, "code": e.code, "message": messages.render(e, gettext)}
        for e in exc.errors
    ]


def on_validation(exc: ValidationError) -> Response | tuple[str, int]:
    return respond(
        422,
        "Unprocessable Content",
        gettext("The input is not valid: %(count)d problem(s).", count=len(exc.errors)),
        errors=validation_errors(exc),
    )


def on_too_many_rows(exc: TooManyRowsError) -> Response | tuple[str, int]:
    return respond(
        413,
        "Content Too Large",
        gettext(
            "%(rows)d rows sent; at most %(cap)d are accepted per request.",
            rows=exc.rows,
            cap=exc.cap,
        ),
    )


def on_model_not_found(exc: ModelNotFoundError) -> Response | tuple[str, int]:
    return respond(404, "Not Found", gettext("There is no model named “%(name)s”.", name=exc.name))


def on_deadline(exc: DeadlineExceededError) -> Response | tuple[str, int]:
    log.warning(
        "deadline exceeded",
        extra={"fields": {"request_id": request_id(), "deadline_s": exc.seconds}},
    )
    response = current_app.make_response(
        respond(
            503,
            "Service Unavailable",
            gettext(
                "The prediction did not finish within %(seconds)s s; try again shortly.",
                seconds=f"{exc.seconds:g}",
            ),
        )
    )
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def on_overloaded(exc: OverloadedError) -> Response:
    response = current_app.make_response(
        respond(503, "Service Unavailable", gettext("The server is busy; try again shortly."))
    )
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def on_api_problem(exc: ApiProblem) -> Response:
    return problem(exc.status, exc.title, exc.detail, **exc.extra)


def on_csrf(exc: CSRFError) -> Response | tuple[str, int]:
    return respond(
        400,
        "Bad Request",
        gettext(
            "The form was not sent from this site or has expired. Reload the page and try again."
        ),
    )


def on_http(exc: HTTPException) -> Response | tuple[str, int]:
    status = exc.code or 500
    response = current_app.make_response(respond(status, exc.name, _http_detail(status)))
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def _http_detail(status: int) -> str:
    details = {
        400: gettext("The request could not be understood."),
        404: gettext("There is nothing at this address."),
        405: gettext("This address does not accept that method."),
        413: gettext("The request body is larger than this server accepts."),
        415: gettext("This content type is not accepted here."),
    }
    return details.get(status, gettext("The request failed."))


def on_unexpected(exc: Exception) -> Response | tuple[str, int]:
    log.exception("unhandled error", extra={"fields": {"request_id": request_id()}})
    return respond(
        500,
        "Internal Server Error",
        gettext("Something went wrong on our side; it has been logged as %(id)s.", id=request_id()),
    )


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(ValidationError, on_validation)
    app.register_error_handler(TooManyRowsError, on_too_many_rows)
    app.register_error_handler(ModelNotFoundError, on_model_not_found)
    app.register_error_handler(DeadlineExceededError, on_deadline)
    app.register_error_handler(OverloadedError, on_overloaded)
    app.register_error_handler(ApiProblem, on_api_problem)
    app.register_error_handler(CSRFError, on_csrf)
    app.register_error_handler(HTTPException, on_http)
    app.register_error_handler(Exception, on_unexpected)
