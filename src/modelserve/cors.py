"""Cross-origin calls to the JSON API, from an explicit allow-list of origins (off by default).

Only the machine-facing paths get CORS headers: the JSON API and its document, `/v2` and
MLflow's `/invocations`, `/ping` and `/health`. Pages (forms, the docs page) never do.
Credentials are not allowed: API callers send a token in a header, never a cookie.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_cors import CORS

MACHINE_PATHS = r"^/(api/v1/.*|api/openapi\.json|v2(/.*)?|invocations|ping|health)$"
ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")
ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "X-Model-Name",
    "Inference-Header-Content-Length",
]
EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Inference-Header-Content-Length"]


def allowed_origins(value: Any) -> list[str]:
    """The CORS_ORIGINS setting (a list, or text separated by commas), each origin checked."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    origins = [str(item).strip().rstrip("/") for item in items if str(item).strip()]
    for origin in origins:
        if not ORIGIN_RE.fullmatch(origin):
            raise ValueError(
                f"CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com "
                "(wildcards are not allowed: list each origin)"
            )
    return origins


def register_cors(app: Flask) -> None:
    origins = allowed_origins(app.config.get("CORS_ORIGINS"))
    if not origins:
        return
    CORS(
        app,
        resources={MACHINE_PATHS: {"origins": origins}},
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        methods=["GET", "POST", "OPTIONS"],
        supports_credentials=False,
        max_age=600,
    )
