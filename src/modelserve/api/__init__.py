"""The JSON API, version 1."""

from __future__ import annotations

from flask import Blueprint

from .auth import authenticate_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_token)

from . import history, jobs, views  # noqa: E402, F401 - registers the routes on bp
