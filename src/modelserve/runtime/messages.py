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
    # Rows of an uploaded file.
    "too_many_fields": N_("has %(found)s fields where the header has %(expected)s"),
    "too_few_fields": N_("has %(found)s fields where the header has %(expected)s"),
    "not_json": N_("is not a JSON object (%(reason)s)"),
}

# Problems with an uploaded file as a whole (`runtime.tabular.TableError` codes).
FILE_MESSAGES: dict[str, str] = {
    "empty_file": N_("The file is empty."),
    "utf16": N_("The file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in Excel)."),
    "binary_file": N_(
        "This is not a text file (an Excel workbook?): save it as CSV UTF-8 or JSON Lines."
    ),
    "no_header": N_("The first line is empty: the file needs a header row naming its columns."),
    "no_rows": N_("The file has a header but no data rows."),
    "duplicate_column": N_("These columns appear more than once in the header: %(columns)s."),
    "ambiguous_column": N_("Several columns (%(columns)s) could feed the input %(feature)s."),
    "missing_columns": N_("No column feeds these required inputs: %(features)s."),
    "too_many_rows": N_("The file has more than %(max)s rows."),
    "too_large": N_("The file is larger than %(max)s bytes."),
    "bad_csv": N_("Line %(line)s is not valid CSV: %(reason)s."),
    "not_json_lines": N_("Line %(line)s is not a JSON object: %(reason)s."),
    "unsupported_type": N_("Send CSV (text/csv) or JSON Lines (application/x-ndjson)."),
}

# What was noticed about a file and handled (`TableFormat.notes`).
FILE_NOTES: dict[str, str] = {
    "bom": N_("The file starts with a UTF-8 byte-order mark; it was skipped."),
    "cp1252": N_("The file is not UTF-8; it was read as Windows-1252 (Latin-1)."),
    "latin-1": N_("The file is not UTF-8; it was read as Latin-1 (ISO-8859-1)."),
    "semicolon": N_("Columns are separated by semicolons."),
    "tab": N_("Columns are separated by tabs."),
    "pipe": N_("Columns are separated by vertical bars."),
}


def render(error: FieldError, translate: Callable[[str], str] = lambda s: s) -> str:
    """The message of `error` in the language of `translate` (a gettext function)."""
    template = translate(MESSAGES.get(error.code, error.code))
    params = {k: _show(v) for k, v in error.params}
    try:
        return template % params if params else template
    except (KeyError, ValueError, TypeError):
        return template


def render_code(
    table: dict[str, str],
    code: str,
    params: tuple[tuple[str, object], ...] = (),
    translate: Callable[[str], str] = lambda s: s,
) -> str:
    """A message of `table` (FILE_MESSAGES, FILE_NOTES) with its parameters filled in."""
    template = translate(table.get(code, code))
    shown = {k: _show(v) for k, v in params}
    try:
        return template % shown if shown else template
    except (KeyError, ValueError, TypeError):
        return template


def _show(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
