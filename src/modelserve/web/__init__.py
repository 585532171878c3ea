"""The HTML pages: the model list, each model's form and result, batch jobs, the history."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__)

from . import history, jobs, views  # noqa: E402, F401 - registers the routes on bp
