"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from .context import get_registry

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Every model is loaded and passed its warm-up prediction."""
    registry = get_registry()
    body = {
        "status": "ready" if registry.ready else "starting",
        "models": {m.name: m.manifest.version for m in registry},
    }
    return jsonify(body), 200 if registry.ready else 503
