"""Per-app and per-request objects the faces share: the registry, the request id, the caller."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app, g, request
from flask_login import current_user

from .ids import random_hex
from .metrics import get_metrics
from .runtime.registry import Registry
from .services import predictions
from .services.access import AccessGate
from .storage.history import HistoryWriter

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def get_registry() -> Registry:
    registry: Registry = current_app.extensions["modelserve.registry"]
    return registry


def get_history() -> HistoryWriter:
    writer: HistoryWriter = current_app.extensions["modelserve.history"]
    return writer


def get_gate() -> AccessGate:
    gate: AccessGate = current_app.extensions["modelserve.gate"]
    return gate


def request_id() -> str:
    """The request's id (`request_id_of`), made once per request."""
    rid: str | None = g.get("request_id")
    if rid is None:
        rid = g.request_id = request_id_of(request.environ)
    return rid


def request_id_of(environ: Mapping[str, Any]) -> str:
    """The client's X-Request-ID when it is safe to log, else a fresh one: 128 random bits as
    32 hex digits, like uuid4().hex without building a UUID (~8 µs) or a system call (`ids`).
    """
    given = environ.get("HTTP_X_REQUEST_ID", "")
    return given if REQUEST_ID_RE.fullmatch(given) else random_hex(16)


def caller(source: str) -> predictions.Caller:
    """Who is asking: the API's token holder, or the signed-in user of a page."""
    metrics = get_metrics()
    common = {
        "request_id": request_id(),
        "log_inputs": bool(current_app.config["LOG_INPUTS"]),
        "observe": metrics.observe if metrics else None,
    }
    token = g.get("api_token")
    if token is not None:
        return predictions.Caller(
            source,
            user_id=token.user_id,
            role=token.user.role,
            token_id=token.id,
            scopes=tuple(token.scope_list),
            **common,
        )
    if source == "web" and current_user.is_authenticated:
        user = current_user.record
        return predictions.Caller(source, user_id=user.id, role=user.role, **common)
    return predictions.Caller(source, **common)


def predict(name: str, rows: Sequence[object], source: str) -> predictions.Outcome:
    """The one prediction path of every door: access, validation, deadline, history, log."""
    return predictions.predict(
        get_registry(),
        name,
        rows,
        caller(source),
        max_rows=int(current_app.config["MAX_ROWS"]),
        gate=get_gate(),
        recorder=get_history(),
    )
