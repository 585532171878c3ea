"""The input schema of a model: one source of truth for validation, forms and JSON Schema.

`InputSchema.validate` takes rows exactly as clients sent them (JSON values, or the strings
of a form post) and returns clean, typed columns, or raises one `ValidationError` that lists
every problem of every row at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import FieldError, ValidationError
from .manifest import Choice, Feature

NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
MISSING: Any = None
BULK_ROWS = 32  # below this, numpy's per-call cost exceeds checking value by value
NUMBER_TYPES = frozenset({float, int})


class _Invalid:
    """Marks a value that failed validation (kept apart from legitimate values)."""

    def __init__(self, code: str, params: tuple[tuple[str, object], ...] = ()) -> None:
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Columns:
    """Validated rows, column by column, in manifest feature order."""

    names: list[str]
    values: list[list[Any]]
    n_rows: int
    # Rows x features as float64, when the bulk numeric check built it anyway.
    matrix: np.ndarray | None = field(default=None, compare=False, repr=False)

    def rows(self) -> list[dict[str, Any]]:
        """The validated rows as dictionaries (for echoing and records)."""
        return [dict(zip(self.names, row, strict=True)) for row in zip(*self.values, strict=True)]


@dataclass(frozen=True)
class Checked:
    """The valid rows of a table (`kept`: their indices) and the problems of the others."""

    columns: Columns
    kept: np.ndarray
    errors: list[FieldError]


class InputSchema:
    """Validates rows against a model's features."""

    def __init__(self, features: Sequence[Feature], *, ignore_unknown: bool = False) -> None:
        self.features = list(features)
        self.names = [f.name for f in self.features]
        self._known = set(self.names)
        self.ignore_unknown = ignore_unknown
        numeric = all(f.numeric for f in features)
        self._bulk = _BulkNumeric(self.features) if numeric else None
        self._few = _FewNumeric(self.features) if numeric else None

    def validate(self, rows: Sequence[object]) -> Columns:
        """Check every value of every row; raise `ValidationError` listing all problems."""
        if self._bulk is not None and len(rows) >= BULK_ROWS:
            clean = self._bulk.check(rows)
            if clean is not None:
                return clean
        elif self._few is not None:
            clean = self._few.check(rows)
            if clean is not None:
                return clean
        errors: list[FieldError] = []
        values: list[list[Any]] = [[] for _ in self.features]
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                errors.append(FieldError(index, None, "row_not_object"))
                continue
            self._validate_row(index, row, values, errors)
        if errors:
            raise ValidationError(errors)
        return Columns(self.names, values, len(rows))

    def _validate_row(
        self, index: int, row: Mapping[Any, Any], values: list[list[Any]], errors: list[FieldError]
    ) -> None:
        for column, feat in zip(values, self.features, strict=True):
            result = coerce(feat, row.get(feat.name, MISSING))
            if isinstance(result, _Invalid):
                errors.append(FieldError(index, feat.name, result.code, result.params))
            else:
                column.append(result)
        if not self.ignore_unknown:
            errors.extend(
                FieldError(index, str(key), "unknown_field")
                for key in row
                if key not in self._known
            )

    def check_columns(self, columns: Sequence[Sequence[object] | None], n_rows: int) -> Checked:
        """Validate a table given column by column (None: the column is absent), keeping the
        valid rows: unlike `validate`, invalid rows are reported and left out, not fatal.

        Columns of text (CSV cells) are converted in bulk; a value that fails falls back to
        the same per-value rules as `validate`, so both name the same problems."""
        errors: list[FieldError] = []
        bad = np.zeros(n_rows, dtype=bool)
        clean: list[Any] = []
        for feat, column in zip(self.features, columns, strict=True):
            values, problems = _check_column(feat, column, n_rows)
            clean.append(values)
            for row, invalid in problems:
                errors.append(FieldError(row, feat.name, invalid.code, invalid.params))
                bad[row] = True
        kept = np.flatnonzero(~bad)
        everything = len(kept) == n_rows
        matrix = None
        if self._bulk is not None:  # every column is a float64 array
            # Features x rows, then its transpose: the layout `validate` gives the engines, so
            # a row scores to the same bits through either door.
            by_feature = np.array(clean, dtype=np.float64).reshape(len(clean), n_rows)
            if not everything:
                by_feature = by_feature[:, kept]
            matrix = by_feature.T
            values = by_feature.tolist()
        else:
            values = [_take(col, kept, everything) for col in clean]
        errors.sort(key=lambda e: e.row or 0)
        return Checked(Columns(self.names, values, len(kept), matrix=matrix), kept, errors)

    def example_row(self) -> dict[str, Any]:
        """A valid row built from the schema alone (warm-up, documentation examples)."""
        return {f.name: example_value(f) for f in self.features}

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) of one input row."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {f.name: feature_json_schema(f) for f in self.features},
            "required": [f.name for f in self.features if f.required],
            "additionalProperties": self.ignore_unknown,
        }


class _FewNumeric:
    """`_BulkNumeric`'s common case for a few rows, value by value without numpy: each row a
    dict of exactly the features, each value an int or float that `_coerce_number` accepts,
    cleaned as it cleans it (`float(value)`). Anything else returns None and takes the
    per-value path, which names problems."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.names = [f.name for f in features]
        self.rules = [(f.name, f.type == "integer", f.min, f.max) for f in features]

    def check(self, rows: Sequence[object]) -> Columns | None:
        width = len(self.rules)
        values: list[list[Any]] = [[] for _ in self.rules]
        for row in rows:
            # Every feature present and no other key: no unknown field to report.
            if type(row) is not dict or len(row) != width:
                return None
            for column, (name, integer, low, high) in zip(values, self.rules, strict=True):
                value = row.get(name)
                kind = type(value)
                if kind is not float and kind is not int:  # bool, str, None: the full rules
                    return None
                try:
                    number = float(value)  # type: ignore[arg-type]
                except OverflowError:
                    return None
                if (
                    not math.isfinite(number)
                    or (integer and not number.is_integer())
                    or (low is not None and number < low)
                    or (high is not None and number > high)
                ):
                    return None
                column.append(number)
        return Columns(self.names, values, len(rows))


class _BulkNumeric:
    """The common case in bulk: every row a dict of exactly the features, plain finite numbers
    in range. Anything else returns None and takes the per-value path, which names problems."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.names = [f.name for f in features]
        self.low = np.array([[-np.inf if f.min is None else f.min] for f in features])
        self.high = np.array([[np.inf if f.max is None else f.max] for f in features])
        self.integer = np.array([f.type == "integer" for f in features])

    def check(self, rows: Sequence[object]) -> Columns | None:
        found = self._columns(rows)
        if found is None:
            return None
        columns, all_floats = found
        try:
            matrix = np.array(columns, dtype=np.float64)
        except OverflowError:
            return None
        if not self._in_range(matrix):
            return None
        # A column of floats is already its clean values (float(v) is v): no second copy.
        values = [
            column if floats else matrix[j].tolist()
            for j, (column, floats) in enumerate(zip(columns, all_floats, strict=True))
        ]
        return Columns(self.names, values, len(rows), matrix=matrix.T)

    def _columns(self, rows: Sequence[object]) -> tuple[list[list[Any]], list[bool]] | None:
        """Each feature's values, and whether they are all floats, when every row is a dict
        of exactly the features and every value a plain int or float; else None."""
        if set(map(type, rows)) != {dict}:
            return None
        try:
            columns = [[row[name] for row in rows] for name in self.names]  # type: ignore[index]
        except KeyError:  # a feature missing
            return None
        # Every row holds every feature, so any longer row holds an unknown key.
        if sum(map(len, rows)) != len(rows) * len(self.names):  # type: ignore[arg-type]
            return None
        kinds = [set(map(type, column)) for column in columns]
        if not all(k <= NUMBER_TYPES for k in kinds):  # bool is not int here
            return None
        return columns, [k == {float} for k in kinds]

    def _in_range(self, matrix: np.ndarray) -> bool:
        if not np.isfinite(matrix).all() or (matrix < self.low).any() or (matrix > self.high).any():
            return False
        return not (self.integer.any() and (np.mod(matrix[self.integer], 1) != 0).any())


def _check_column(
    feat: Feature, column: Sequence[object] | None, n_rows: int
) -> tuple[Any, list[tuple[int, _Invalid]]]:
    """A feature's clean values (a float64 array when numeric) and its invalid (row, reason)."""
    if column is None:
        if feat.required:
            return [None] * n_rows, [(i, _Invalid("required")) for i in range(n_rows)]
        missing = _missing(feat)
        return (np.full(n_rows, np.nan) if feat.numeric else [missing] * n_rows), []
    if feat.numeric:
        fast = _numbers_in_bulk(feat, column)
        if fast is not None:
            return fast, []
    if feat.type == "category":
        return _by_distinct_value(feat, column)
    values: list[Any] = []
    problems: list[tuple[int, _Invalid]] = []
    for row, value in enumerate(column):
        result = coerce(feat, value)
        if isinstance(result, _Invalid):
            problems.append((row, result))
            result = _missing(feat)
        values.append(result)
    return (np.array(values, dtype=np.float64) if feat.numeric else values), problems


def _numbers_in_bulk(feat: Feature, column: Sequence[object]) -> np.ndarray | None:
    """All of `column` as float64 when every value passes the rules, else None (the caller
    then checks value by value and names each problem)."""
    if not all(type(v) is str for v in column):
        return None
    try:
        array = np.array(column, dtype=np.float64)
    except (ValueError, OverflowError):  # an empty cell, a word...
        return None
    broken = (
        not np.isfinite(array).all()
        or (feat.min is not None and (array < feat.min).any())
        or (feat.max is not None and (array > feat.max).any())
        or (feat.type == "integer" and (np.mod(array, 1) != 0).any())
        # float() takes "1_000"; the rules (NUMBER_RE) do not.
        or any("_" in v for v in column)  # type: ignore[operator]
    )
    return None if broken else array


def _by_distinct_value(
    feat: Feature, column: Sequence[object]
) -> tuple[list[Any], list[tuple[int, _Invalid]]]:
    """Categories repeat: check each distinct value once."""
    seen: dict[object, Any] = {}
    values: list[Any] = []
    problems: list[tuple[int, _Invalid]] = []
    for row, value in enumerate(column):
        try:
            result = seen[value]
        except KeyError:
            result = seen[value] = coerce(feat, value)
        except TypeError:  # unhashable (a JSON list or object)
            result = coerce(feat, value)
        if isinstance(result, _Invalid):
            problems.append((row, result))
            result = None
        values.append(result)
    return values, problems


def _take(values: Any, kept: np.ndarray, everything: bool) -> list[Any]:
    if isinstance(values, np.ndarray):
        return (values if everything else values[kept]).tolist()  # type: ignore[no-any-return]
    return list(values) if everything else [values[i] for i in kept]


def coerce(feat: Feature, value: object) -> Any:
    """The clean value of `value` for `feat`, or an `_Invalid` saying which rule it breaks."""
    if value is MISSING or (isinstance(value, str) and value.strip() == ""):
        return _Invalid("required") if feat.required else _missing(feat)
    if feat.numeric:
        return _coerce_number(feat, value)
    if feat.type == "category":
        return _coerce_choice(feat, value)
    return _coerce_text(feat, value)


def _missing(feat: Feature) -> Any:
    return math.nan if feat.numeric else None


def _coerce_number(feat: Feature, value: object) -> float | int | _Invalid:  # noqa: PLR0911
    number: float
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _Invalid("not_a_number")
    if isinstance(value, str):
        text = value.strip()
        if not NUMBER_RE.fullmatch(text):
            lowered = text.lower().lstrip("+-")
            return _Invalid(
                "not_finite" if lowered in ("nan", "inf", "infinity") else "not_a_number"
            )
        value = float(text)
    try:
        number = float(value)
    except OverflowError:
        return _Invalid("not_finite")
    if not math.isfinite(number):
        return _Invalid("not_finite")
    if feat.type == "integer" and not number.is_integer():
        return _Invalid("not_an_integer")
    if feat.min is not None and number < feat.min:
        return _Invalid("below_min", (("min", feat.min),))
    if feat.max is not None and number > feat.max:
        return _Invalid("above_max", (("max", feat.max),))
    return number


def _coerce_choice(feat: Feature, value: object) -> Choice | _Invalid:
    """A listed choice: numbers match by value (1 == 1.0), text exactly or as a number's text."""
    choices = feat.choices or []
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        for choice in choices:
            if _same_choice(value, choice):
                return choice
    return _Invalid("not_a_choice", (("choices", list(choices)),))


def _same_choice(value: str | int | float, choice: Choice) -> bool:
    if isinstance(value, str):
        text = value.strip()
        return (
            text == choice
            if isinstance(choice, str)
            else text == str(choice)
            or (NUMBER_RE.fullmatch(text) is not None and float(text) == choice)
        )
    return not isinstance(choice, str) and value == choice


def _coerce_text(feat: Feature, value: object) -> str | _Invalid:
    if not isinstance(value, str):
        return _Invalid("not_text")
    if len(value) > feat.max_length:
        return _Invalid("too_long", (("max_length", feat.max_length),))
    return value


def example_value(feat: Feature) -> Any:
    """A representative valid value of `feat`."""
    if feat.type == "category":
        return (feat.choices or [""])[0]
    if feat.type == "text":
        return "text"
    low = feat.min if feat.min is not None else (0.0 if feat.max is None else min(0.0, feat.max))
    high = feat.max if feat.max is not None else low + 1.0
    middle = (low + high) / 2
    return round(middle) if feat.type == "integer" else middle


def feature_json_schema(feat: Feature) -> dict[str, Any]:
    """The JSON Schema of one feature's value."""
    schema: dict[str, Any]
    if feat.type == "category":
        schema = {"enum": list(feat.choices or [])}
    elif feat.type == "text":
        schema = {"type": "string", "maxLength": feat.max_length}
    else:
        schema = {"type": "integer" if feat.type == "integer" else "number"}
        if feat.min is not None:
            schema["minimum"] = feat.min
        if feat.max is not None:
            schema["maximum"] = feat.max
    title = feat.title("en")
    if title != feat.name:
        schema["title"] = title
    if feat.unit:
        schema["description"] = f"unit: {feat.unit}"
    if not feat.required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema
