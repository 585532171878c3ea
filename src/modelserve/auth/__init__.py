"""Accounts: sign in and out, registration, password change, API tokens."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/account")

from . import views  # noqa: E402, F401 - registers the routes on bp
