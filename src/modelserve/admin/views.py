"""Admin views: thin calls into the account, token and access services."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user

from ..auth.forms import ActionForm
from ..context import get_gate, get_registry
from ..extensions import db
from ..services import access, accounts, tokens
from ..storage.tables import User
from . import bp
from .forms import AccessForm, UserForm


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    form = UserForm()
    if form.validate_on_submit():
        try:
            accounts.create_user(
                db.session,
                form.username.data or "",
                form.password.data or "",
                role="admin" if form.admin.data else "user",
            )
        except accounts.AccountError as exc:
            form.username.errors = [*form.username.errors, str(exc)]
        else:
            flash(gettext("User “%(name)s” created.", name=form.username.data), "success")
            return redirect(url_for("admin.users"))
    return render_template(
        "admin/users.html", form=form, action=ActionForm(), users=accounts.list_users(db.session)
    ), 422 if form.errors else 200


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/users/<int:user_id>/active")
def toggle_active(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    if ActionForm().validate_on_submit() and user.id != current_user.record.id:
        accounts.set_active(db.session, user, not user.active)
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/role")
def toggle_role(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    if ActionForm().validate_on_submit() and user.id != current_user.record.id:
        accounts.set_role(db.session, user, "user" if user.is_admin else "admin")
    return redirect(url_for("admin.users"))


@bp.get("/tokens")
def all_tokens() -> ResponseReturnValue:
    return render_template(
        "admin/tokens.html", tokens=tokens.tokens_of(db.session, None), action=ActionForm()
    )


@bp.get("/models")
def models() -> ResponseReturnValue:
    gate = get_gate()
    overrides = gate.overrides()
    rows = [
        (
            m,
            gate.level(m),
            overrides.get(m.name),
            AccessForm(prefix=m.name, data={"access": overrides.get(m.name, "")}),
        )
        for m in get_registry()
    ]
    return render_template("admin/models.html", rows=rows)


@bp.post("/models/<name>/access")
def set_access(name: str) -> ResponseReturnValue:
    get_registry().get(name)
    form = AccessForm(prefix=name)
    if form.validate_on_submit():
        access.set_level(db.session, name, form.access.data or None)
        get_gate().forget()
        flash(gettext("Access of “%(name)s” saved.", name=name), "success")
    return redirect(url_for("admin.models"))
