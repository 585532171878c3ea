"""Human messages for validation error codes, in English; faces translate them.

The strings are wrapped in `N_` so that Babel extracts them into the catalogue; the
runtime itself stays free of any web or i18n framework.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import FieldError


def N_(text: str) -> str:
    """Mark `text` for translation without translating it here."""
    return text


MESSAGES: dict[str, str] = {
    "required": N_("is required"),
    "not_a_number": N_("must be a number"),
    "not_finite": N_(
        "must be a finite number (NaN, Infinity and overflowing values are not allowed)"
    ),
    "not_an_integer": N_("must be a whole number"),
    "below_min": N_("must be at least %(min)s"),
    "above_max": N_("must be at most %(max)s"),
    "not_a_choice": N_("must be one of: %(choices)s"),
    "not_text": N_("must be text"),
    "too_long": N_("must be at most %(max_length)s characters long"),
    "unknown_field": N_("is not an input of this model"),
    "row_not_object": N_("each row must be an object of field names to values"),
    "body_not_object": N_('the body must be a JSON object: one row, or {"instances": [rows]}'),
    "instances_not_list": N_("must be a non-empty list of rows"),
}


def render(error: FieldError, translate: Callable[[str], str] = lambda s: s) -> str:
    """The message of `error` in the language of `translate` (a gettext function)."""
    template = translate(MESSAGES.get(error.code, error.code))
    params = {k: _show(v) for k, v in error.params}
    try:
        return template % params if params else template
    except (KeyError, ValueError, TypeError):
        return template


def _show(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
