"""Admin forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..services.access import LEVELS
from ..services.accounts import MIN_PASSWORD


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    admin = BooleanField(_l("Administrator"))


class AccessForm(FlaskForm):
    access = SelectField(
        _l("Access"),
        choices=[
            SelectChoice("", _l("as the manifest says")),
            *(SelectChoice(level) for level in LEVELS),
        ],
    )
