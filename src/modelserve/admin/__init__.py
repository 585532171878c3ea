"""Admin pages: users, tokens and model access. Everyone else gets 403."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def admins_only() -> None:
    if not current_user.is_authenticated:
        from ..extensions import login_manager  # noqa: PLC0415

        abort(login_manager.unauthorized())
    if not current_user.is_admin:
        abort(403)


from . import views  # noqa: E402, F401 - registers the routes on bp
