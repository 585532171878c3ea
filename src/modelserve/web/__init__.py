"""The HTML pages: the model list, each model's form and its result."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__)

from . import views  # noqa: E402, F401 - registers the routes on bp
