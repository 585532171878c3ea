"""Sign in/out, registration, password change and the user's API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter
from ..services import accounts, tokens
from ..storage.tables import ApiToken
from . import bp
from .forms import ActionForm, LoginForm, PasswordForm, RegisterForm, TokenForm
from .session import SignedIn


def safe_next(target: str | None, fallback: str) -> str:
    """Only a path on this site: no scheme, no host, no `//host` or `/\\host`."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or parts.scheme
        or parts.netloc
        or any(c in target for c in "\r\n\t\\")
    ):
        return fallback
    return target


def login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    target = safe_next(request.args.get("next"), url_for("web.index"))
    if form.validate_on_submit():
        result = accounts.authenticate(
            db.session, form.username.data or "", form.password.data or ""
        )
        if result.user is not None:
            login_user(SignedIn(result.user), remember=bool(form.remember.data))
            return redirect(target)
        # One message for every failure: no hint whether the user exists or is disabled.
        flash(gettext("Wrong user name or password."), "danger")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("web.index"))


@bp.route("/register", methods=["GET", "POST"])
def register() -> ResponseReturnValue:
    if not current_app.config["SELF_REGISTRATION"]:
        abort(404)
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session, form.username.data or "", form.new_password.data or ""
            )
        except accounts.AccountError as exc:
            form.username.errors = [*form.username.errors, str(exc)]
        else:
            login_user(SignedIn(user))
            return redirect(url_for("web.index"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


@bp.route("/", methods=["GET", "POST"])
@login_required
def account() -> ResponseReturnValue:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session,
                current_user.record,
                form.current.data or "",
                form.new_password.data or "",
            )
        except accounts.AccountError:
            form.current.errors = [*form.current.errors, gettext("The current password is wrong.")]
        else:
            login_user(SignedIn(current_user.record))  # this session lives on; the others end
            flash(gettext("Password changed. Your other sessions are signed out."), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form), 422 if form.errors else 200


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def token_list() -> ResponseReturnValue:
    form = TokenForm()
    if not current_user.is_admin:
        form.scopes.choices = [c for c in form.scopes.choices if c.value != "admin"]
    issued = None
    if form.validate_on_submit():
        expires = tokens.parse_duration(form.expires.data) if form.expires.data else None
        try:
            issued = tokens.create_token(
                db.session,
                current_user.record,
                name=form.name.data or "",
                scopes=list(form.scopes.data or []),
                expires_in=expires,
            )
        except ValueError as exc:
            form.scopes.errors = [*form.scopes.errors, str(exc)]
    return render_template(
        "auth/tokens.html",
        form=form,
        issued=issued,
        action=ActionForm(),
        tokens=tokens.tokens_of(db.session, current_user.record),
    )


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.user_id != current_user.record.id and not current_user.is_admin):
        abort(404)
    if ActionForm().validate_on_submit():
        tokens.revoke(db.session, token)
        flash(gettext("Token “%(name)s” revoked.", name=token.name), "success")
    return redirect(safe_next(request.args.get("next"), url_for("auth.token_list")))
