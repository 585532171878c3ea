"""A Flask-WTF form per model, generated from its input schema.

The form carries CSRF and renders the inputs; the values are checked by the model's
`InputSchema`, the same rules and messages as the JSON API.
"""

from __future__ import annotations

from functools import cache

from flask import current_app, g
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Field, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import NumberInput

from ..runtime.manifest import Feature
from ..runtime.registry import LoadedModel
from ..runtime.tabular import Kind


def field_name(index: int) -> str:
    """Form field names are generated: feature names may clash with Form attributes."""
    return f"f{index}"


def _field(feat: Feature, index: int) -> Field:
    # No validators, and `str` choices: the form's own validation can fail only on CSRF (see
    # `form_can_fail`); the values are the schema's to check.
    options = {"id": f"field-{index}"}
    if feat.type == "category":
        choices = [SelectChoice("", "—")] + [SelectChoice(str(c)) for c in feat.choices or []]
        return SelectField(feat.name, choices=choices, validate_choice=False, **options)
    if feat.numeric:
        step = feat.step if feat.step is not None else (1 if feat.type == "integer" else "any")
        widget = NumberInput(step=step, min=feat.min, max=feat.max)
        return StringField(feat.name, widget=widget, **options)
    return StringField(feat.name, render_kw={"maxlength": feat.max_length}, **options)


@cache
def form_class(model: LoadedModel) -> type[FlaskForm]:
    """The form class of one model (built once per process)."""
    attrs = {field_name(i): _field(f, i) for i, f in enumerate(model.manifest.features)}
    return type(f"{model.name.title()}Form", (FlaskForm,), attrs)


def form_can_fail() -> bool:
    """Whether a posted model form's `validate()` could fail on this request.

    The generated fields validate nothing (their `data` is the submitted string), so only the
    CSRF token can fail it, and the form skips that check when `CSRFProtect` has already
    passed this request (`g.csrf_valid`). A valid POST then needs no form object at all.
    """
    return bool(current_app.config.get("WTF_CSRF_ENABLED", True)) and not g.get("csrf_valid")


def form_rows(formdata: MultiDict[str, str], model: LoadedModel) -> list[dict[str, str]]:
    """The submitted strings keyed by feature name, ready for schema validation.

    The same strings as the bound form's `data` (a field's first value, "" when absent).
    """
    return [
        {
            feat.name: formdata.get(field_name(i)) or ""
            for i, feat in enumerate(model.manifest.features)
        }
    ]


# What the upload form accepts, by the file name's extension: CSV or JSON Lines.
UPLOAD_KINDS: dict[str, Kind] = {"csv": "csv", "jsonl": "ndjson", "ndjson": "ndjson"}


class BatchForm(FlaskForm):
    """A file to score. Its CSRF token is checked by the view, after the size limit is raised."""

    file = FileField(
        _l("CSV or JSON Lines file"),
        validators=[
            FileRequired(_l("Choose a file to score.")),
            FileAllowed(
                list(UPLOAD_KINDS),
                _l("Choose a CSV (.csv) or JSON Lines (.jsonl, .ndjson) file."),
            ),
        ],
        render_kw={"accept": ".csv,.jsonl,.ndjson,text/csv,application/x-ndjson"},
    )
    strict = BooleanField(_l("Strict: if any row is invalid, score nothing"))


def upload_kind(filename: str) -> Kind:
    return UPLOAD_KINDS[filename.rsplit(".", 1)[-1].lower()]
