"""One place maps errors to HTTP: problem+json (RFC 9457) for the API, HTML pages elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
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
from .services.access import AccessDeniedError
from .services.history import RecordNotFoundError
from .services.jobs import (
    FileRejectedError,
    JobNotFoundError,
    JobStateError,
    StrictRejectedError,
    TooManyJobsError,
)
from .services.tokens import TokenError
from .storage.history import HistoryUnavailableError

log = logging.getLogger("modelserve.errors")
# RFC 9110 reason phrases: with "type": "about:blank" the title is the status's phrase.
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# A protocol with its own error body (V2 `{"error"}`, MLflow `{"error_code", "message"}`):
# (status, detail, extra) -> response, registered for the paths under a prefix.
ErrorFormat = Callable[[int, str, dict[str, Any]], Response]
FORMATS_KEY = "modelserve.error_formats"


def register_error_format(app: Flask, prefix: str, fmt: ErrorFormat) -> None:
    """Answer every error under `prefix` (the path itself or below it) with `fmt`."""
    app.extensions.setdefault(FORMATS_KEY, []).append((prefix.rstrip("/"), fmt))


def protocol_format() -> ErrorFormat | None:
    path = request.path
    for prefix, fmt in current_app.extensions.get(FORMATS_KEY, []):
        if path == prefix or path.startswith(prefix + "/"):
            return fmt
    return None


class ApiProblem(Exception):
    """Raise from an API view to answer with a problem document."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def wants_json() -> bool:
    """API paths always get JSON; other paths get it only when the client prefers it."""
    if request.path.startswith("/api/"):
        return True
    accept = request.accept_mimetypes
    best = accept.best_match(["text/html", "application/json"])
    return best == "application/json" and accept[best] > accept["text/html"]


def problem(status: int, detail: str, **extra: Any) -> Response:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
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


def page_title(status: int) -> str:
    """The heading of an HTML error page, in the reader's language."""
    titles = {
        400: gettext("Bad request"),
        403: gettext("Forbidden"),
        404: gettext("Page not found"),
        405: gettext("Method not allowed"),
        413: gettext("Too large"),
        415: gettext("Unsupported content type"),
        422: gettext("Invalid input"),
        429: gettext("Too many requests"),
        500: gettext("Server error"),
        503: gettext("Temporarily unavailable"),
    }
    return titles.get(status, TITLES.get(status, str(status)))


def error_page(status: int, detail: str) -> tuple[str, int]:
    page = render_template(
        "errors/error.html", status=status, title=page_title(status), detail=detail
    )
    return page, status


def respond(status: int, detail: str, **extra: Any) -> Response:
    """The error in the form its door speaks: a protocol's own body, problem+json or a page."""
    fmt = protocol_format()
    if fmt is not None:
        return fmt(status, detail, extra)
    body = problem(status, detail, **extra) if wants_json() else error_page(status, detail)
    return current_app.make_response(body)


def retry_later(response: Response) -> Response:
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Each problem as {"row", "field", "code", "message"}, in the reader's language."""
    return [
        {"row": e.row, "field": e.field, "code": e.code, "message": messages.render(e, gettext)}
        for e in exc.errors
    ]


def on_validation(exc: ValidationError) -> Response:
    detail = gettext("The input is not valid: %(count)d problem(s).", count=len(exc.errors))
    return respond(422, detail, errors=validation_errors(exc))


def on_too_many_rows(exc: TooManyRowsError) -> Response:
    return respond(
        413,
        gettext(
            "%(rows)d rows sent; at most %(cap)d are accepted per request.",
            rows=exc.rows,
            cap=exc.cap,
        ),
    )


def on_model_not_found(exc: ModelNotFoundError) -> Response:
    return respond(404, gettext("There is no model named “%(name)s”.", name=exc.name))


def on_deadline(exc: DeadlineExceededError) -> Response:
    log.warning(
        "deadline exceeded",
        extra={"fields": {"request_id": request_id(), "deadline_s": exc.seconds}},
    )
    return retry_later(
        respond(
            503,
            gettext(
                "The prediction did not finish within %(seconds)s s; try again shortly.",
                seconds=f"{exc.seconds:g}",
            ),
        )
    )


def on_access_denied(exc: AccessDeniedError) -> ResponseReturnValue:
    if exc.sign_in and not wants_json() and protocol_format() is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if exc.sign_in:
        response = respond(
            401,
            gettext(
                "This model needs a signed-in user: send an API token as “Authorization: Bearer …”."
            ),
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="modelserve"'
        return response
    return respond(403, gettext("You may not use the model “%(name)s”.", name=exc.model))


def on_token_error(exc: TokenError) -> Response:
    """RFC 6750: 400 invalid_request, 401 invalid_token (or none), 403 insufficient_scope."""
    status = {"invalid_request": 400, "insufficient_scope": 403}.get(exc.code, 401)
    response = respond(status, str(exc))
    challenge = 'Bearer realm="modelserve"'
    if exc.code:  # header values are latin-1: keep the description plain ASCII
        description = str(exc).encode("ascii", "replace").decode().replace('"', "'")
        challenge += f', error="{exc.code}", error_description="{description}"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def on_database_down(exc: Exception) -> Response:
    log.warning(
        "database unavailable",
        extra={"fields": {"request_id": request_id(), "error": str(exc).splitlines()[0][:300]}},
    )
    return retry_later(
        respond(
            503, gettext("The database is unavailable; nothing was recorded. Try again shortly.")
        )
    )


def on_record_not_found(exc: RecordNotFoundError) -> Response:
    return respond(404, gettext("There is no such record."))


def on_overloaded(exc: OverloadedError) -> Response:
    return retry_later(respond(503, gettext("The server is busy; try again shortly.")))


def on_file_rejected(exc: FileRejectedError) -> Response:
    code = exc.problem.code
    status = {"too_large": 413, "too_many_rows": 413, "unsupported_type": 415}.get(code, 422)
    detail = messages.render_code(messages.FILE_MESSAGES, code, exc.problem.params, gettext)
    return respond(status, detail, code=code)


def on_strict_rejected(exc: StrictRejectedError) -> Response:
    detail = ngettext(
        "%(num)d row is invalid; in strict mode nothing was scored.",
        "%(num)d rows are invalid; in strict mode nothing was scored.",
        exc.total,
    )
    return respond(422, detail, errors=validation_errors(ValidationError(exc.errors)))


def on_too_many_jobs(exc: TooManyJobsError) -> Response:
    detail = gettext(
        "You already have %(num)d files waiting or being scored; start or cancel one first.",
        num=exc.limit,
    )
    return retry_later(respond(429, detail))


def on_job_not_found(exc: JobNotFoundError) -> Response:
    return respond(404, gettext("There is no such job."))


def on_job_state(exc: JobStateError) -> Response:
    if exc.job.files_deleted and exc.job.status == "succeeded":
        return respond(410, gettext("The result of this job has expired and was deleted."))
    return respond(
        409,
        gettext("The job is %(status)s: this cannot be done now.", status=exc.job.status),
        job_status=exc.job.status,
    )


def on_api_problem(exc: ApiProblem) -> Response:
    fmt = protocol_format()
    if fmt is not None:
        return fmt(exc.status, exc.detail, exc.extra)
    return problem(exc.status, exc.detail, **exc.extra)


def on_csrf(exc: CSRFError) -> Response:
    return respond(
        400,
        gettext(
            "The form was not sent from this site or has expired. Reload the page and try again."
        ),
    )


def on_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = respond(status, _http_detail(status))
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    if status == 429 and exc.response is not None:  # Flask-Limiter's Retry-After and limits
        for name, value in exc.response.headers.items():
            if name.lower().startswith(("retry-after", "x-ratelimit")):
                response.headers[name] = value
    return response


def _http_detail(status: int) -> str:
    details = {
        400: gettext("The request could not be understood."),
        404: gettext("There is nothing at this address."),
        405: gettext("This address does not accept that method."),
        413: gettext("The request body is larger than this server accepts."),
        415: gettext("This content type is not accepted here."),
        429: gettext("Too many attempts. Wait a moment and try again."),
    }
    return details.get(status, gettext("The request failed."))


def on_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", extra={"fields": {"request_id": request_id()}})
    return respond(
        500,
        gettext("Something went wrong on our side; it has been logged as %(id)s.", id=request_id()),
    )


def register_errorhandlers(app: Flask) -> None:
    handlers: dict[type[Exception], Any] = {
        ValidationError: on_validation,
        TooManyRowsError: on_too_many_rows,
        ModelNotFoundError: on_model_not_found,
        DeadlineExceededError: on_deadline,
        OverloadedError: on_overloaded,
        ApiProblem: on_api_problem,
        FileRejectedError: on_file_rejected,
        StrictRejectedError: on_strict_rejected,
        JobNotFoundError: on_job_not_found,
        TooManyJobsError: on_too_many_jobs,
        JobStateError: on_job_state,
        AccessDeniedError: on_access_denied,
        TokenError: on_token_error,
        HistoryUnavailableError: on_database_down,
        OperationalError: on_database_down,
        RecordNotFoundError: on_record_not_found,
        CSRFError: on_csrf,
        HTTPException: on_http,
        Exception: on_unexpected,
    }
    for error, handler in handlers.items():
        app.register_error_handler(error, handler)
