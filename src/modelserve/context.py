"""Per-app and per-request objects the faces share: the registry, the request id, the caller."""

from __future__ import annotations

import re
import uuid

from flask import current_app, g, request

from .metrics import get_metrics
from .runtime.registry import Registry
from .services.predictions import Caller

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def get_registry() -> Registry:
    registry: Registry = current_app.extensions["modelserve.registry"]
    return registry


def request_id() -> str:
    """The client's X-Request-ID when it is safe to log, else a fresh one."""
    rid: str | None = g.get("request_id")
    if rid is None:
        given = request.environ.get("HTTP_X_REQUEST_ID", "")
        rid = g.request_id = given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
    return rid


def caller(source: str) -> Caller:
    metrics = get_metrics()
    return Caller(
        source=source,
        request_id=request_id(),
        log_inputs=bool(current_app.config["LOG_INPUTS"]),
        observe=metrics.observe if metrics else None,
    )
