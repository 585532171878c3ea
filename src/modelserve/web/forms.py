"""A Flask-WTF form per model, generated from its input schema.

The form carries CSRF and renders the inputs; the values are checked by the model's
`InputSchema`, the same rules and messages as the JSON API.
"""

from __future__ import annotations

from functools import cache

from flask_wtf import FlaskForm
from wtforms import Field, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import NumberInput

from ..runtime.manifest import Feature
from ..runtime.registry import LoadedModel


def field_name(index: int) -> str:
    """Form field names are generated: feature names may clash with Form attributes."""
    return f"f{index}"


def _field(feat: Feature, index: int) -> Field:
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


def form_rows(form: FlaskForm, model: LoadedModel) -> list[dict[str, str]]:
    """The submitted strings keyed by feature name, ready for schema validation."""
    return [
        {
            feat.name: form[field_name(i)].data or ""
            for i, feat in enumerate(model.manifest.features)
        }
    ]
