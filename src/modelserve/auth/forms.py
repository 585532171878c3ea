"""Account forms (Flask-WTF, CSRF on)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ..services.accounts import MIN_PASSWORD
from ..storage.tables import SCOPES


class LoginForm(FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Remember me"))


class NewPasswordMixin:
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password")],
        render_kw={"autocomplete": "new-password"},
    )


class RegisterForm(NewPasswordMixin, FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username"},
    )


class PasswordForm(NewPasswordMixin, FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    scopes = MultiCheckboxField(
        _l("Scopes"),
        choices=[SelectChoice(s) for s in SCOPES],
        default=["predict"],
        validators=[DataRequired()],
    )
    expires = SelectField(
        _l("Expires"),
        default="90d",
        choices=[
            SelectChoice("7d", _l("in 7 days")),
            SelectChoice("30d", _l("in 30 days")),
            SelectChoice("90d", _l("in 90 days")),
            SelectChoice("365d", _l("in a year")),
            SelectChoice("", _l("never")),
        ],
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
