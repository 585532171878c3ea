"""The input schema: every rule, every error at once, no Flask app needed."""

from __future__ import annotations

import math

import pytest

from modelserve.runtime.errors import ValidationError
from modelserve.runtime.manifest import Feature
from modelserve.runtime.messages import render
from modelserve.runtime.schema import InputSchema

FEATURES = [
    Feature("hours", "number", min=0, max=24),
    Feature("count", "integer"),
    Feature("color", "category", choices=["red", "green", 3]),
    Feature("note", "text", required=False, max_length=5),
]
GOOD = {"hours": 5, "count": 2, "color": "red", "note": "hi"}


def problems(rows: list[object], **options: bool) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ValidationError) as info:
        InputSchema(FEATURES, **options).validate(rows)
    return [(e.row, e.field, e.code) for e in info.value.errors]


def test_valid_rows_become_typed_columns() -> None:
    cols = InputSchema(FEATURES).validate(
        [GOOD, {**GOOD, "hours": "7.5", "color": "3", "note": ""}]
    )
    assert cols.n_rows == 2
    assert cols.values[0] == [5.0, 7.5]
    assert cols.values[2] == ["red", 3]
    assert cols.values[3] == ["hi", None]
    assert cols.rows()[1]["color"] == 3


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("abc", "not_a_number"),
        ("", "required"),
        ("   ", "required"),
        (None, "required"),
        (True, "not_a_number"),
        ({"a": 1}, "not_a_number"),
        ([1], "not_a_number"),
        (math.nan, "not_finite"),
        (math.inf, "not_finite"),
        ("NaN", "not_finite"),
        ("-Infinity", "not_finite"),
        ("1e999", "not_finite"),
        (10**400, "not_finite"),
        ("10**400", "not_a_number"),
        ("1_000", "not_a_number"),
        ("0x10", "not_a_number"),
        (-0.5, "below_min"),
        ("24.01", "above_max"),
    ],
)
def test_bad_numbers_name_the_field_and_rule(value: object, code: str) -> None:
    assert problems([{**GOOD, "hours": value}]) == [(0, "hours", code)]


def test_integers_must_be_whole() -> None:
    assert problems([{**GOOD, "count": 2.5}]) == [(0, "count", "not_an_integer")]
    assert InputSchema(FEATURES).validate([{**GOOD, "count": "4"}]).values[1] == [4.0]


@pytest.mark.parametrize("value", ["blue", "RED", True, ["red"], 3.5])
def test_unknown_categories_are_refused(value: object) -> None:
    assert problems([{**GOOD, "color": value}]) == [(0, "color", "not_a_choice")]


def test_text_rules() -> None:
    assert problems([{**GOOD, "note": "too long"}]) == [(0, "note", "too_long")]
    assert problems([{**GOOD, "note": 5}]) == [(0, "note", "not_text")]


def test_every_problem_of_every_row_is_reported_at_once() -> None:
    rows = [GOOD, {"hours": -1, "color": "blue", "extra": 1}, "not a row"]
    assert problems(rows) == [
        (1, "hours", "below_min"),
        (1, "count", "required"),
        (1, "color", "not_a_choice"),
        (1, "extra", "unknown_field"),
        (2, None, "row_not_object"),
    ]


def test_unknown_fields_can_be_ignored_by_setting() -> None:
    cols = InputSchema(FEATURES, ignore_unknown=True).validate([{**GOOD, "extra": 1}])
    assert cols.n_rows == 1


def test_messages_name_the_rule_with_its_bound() -> None:
    with pytest.raises(ValidationError) as info:
        InputSchema(FEATURES).validate([{**GOOD, "hours": 30, "color": "x"}])
    rendered = [render(e) for e in info.value.errors]
    assert rendered == ["must be at most 24", "must be one of: red, green, 3"]


def test_example_row_is_valid_and_json_schema_matches() -> None:
    schema = InputSchema(FEATURES)
    example = schema.example_row()
    assert schema.validate([example]).n_rows == 1
    js = schema.json_schema()
    assert js["required"] == ["hours", "count", "color"]
    assert js["properties"]["hours"] == {"type": "number", "minimum": 0, "maximum": 24}
    assert js["properties"]["color"] == {"enum": ["red", "green", 3]}
    assert js["additionalProperties"] is False


def test_numeric_choices_match_by_value() -> None:
    schema = InputSchema(
        [Feature("n", "category", choices=[1.0, 2.0]), Feature("m", "category", choices=[1, 2])]
    )
    assert schema.validate([{"n": 1, "m": 1.0}]).rows() == [{"n": 1.0, "m": 1}]
    assert schema.validate([{"n": "2", "m": "2.0"}]).rows() == [{"n": 2.0, "m": 2}]
    with pytest.raises(ValidationError):
        schema.validate([{"n": True, "m": 1}])


NUMERIC = [
    Feature("hours", "number", min=0, max=24),
    Feature("count", "integer", required=False),
]
UNUSUAL_ROWS = [
    {"hours": True, "count": 1},
    {"hours": "5", "count": 1},
    {"hours": 5, "count": None},
    {"hours": 5},
    {"hours": 5, "count": 1, "extra": 2},
    {"hours": math.nan, "count": 1},
    {"hours": math.inf, "count": 1},
    {"hours": 25, "count": 1},
    {"hours": -0.5, "count": 1},
    {"hours": 5, "count": 1.5},
    {"hours": 5, "count": 10**400},
    {"hours": [5], "count": 1},
    {"hours": {"v": 5}, "count": 1},
    [5, 1],
    "hours",
    None,
]


@pytest.mark.parametrize("unusual", UNUSUAL_ROWS, ids=repr)
def test_a_large_batch_names_the_same_problems_as_row_by_row(unusual: object) -> None:
    """Batches of BULK_ROWS+ rows are checked in bulk; one odd row sends them value by value."""
    schema = InputSchema(NUMERIC)
    rows = [{"hours": i % 24, "count": i} for i in range(40)]
    rows[17] = unusual
    try:
        single = schema.validate([unusual])
    except ValidationError as exc:
        with pytest.raises(ValidationError) as info:
            schema.validate(rows)
        assert [(e.row, e.field, e.code, e.params) for e in info.value.errors] == [
            (17, e.field, e.code, e.params) for e in exc.errors
        ]
        return
    together = schema.validate(rows).rows()
    assert together == [schema.validate([row]).rows()[0] for row in rows]
    assert together[17] == single.rows()[0]


def test_a_large_clean_batch_gives_the_row_by_row_values_and_types() -> None:
    schema = InputSchema(NUMERIC)
    rows = [{"hours": [3, 0.25, -0.0, 24][i % 4], "count": [2, 7.0][i % 2]} for i in range(40)]
    bulk = schema.validate(rows)
    by_row = [schema.validate([row]).rows()[0] for row in rows]
    assert bulk.rows() == by_row
    assert [[type(v) for v in column] for column in bulk.values] == [[float] * 40] * 2
    assert math.copysign(1, bulk.values[0][2]) == -1
    assert bulk.matrix is not None and bulk.matrix.tolist() == [list(r.values()) for r in by_row]


def value_by_value(features: list[Feature]) -> InputSchema:
    """A schema whose few rows skip the plain-numbers shortcut (the per-value rules only)."""
    schema = InputSchema(features)
    schema._few = None
    return schema


@pytest.mark.parametrize(
    "row",
    [
        *UNUSUAL_ROWS,
        {"hours": 24, "count": 3},
        {"hours": 0, "count": -7},
        {"hours": -0.0, "count": 2.0},
        {"hours": 0.1, "count": 10**20},
        {"count": 1, "hours": 23.999},
    ],
    ids=repr,
)
def test_a_few_plain_rows_give_what_the_per_value_rules_give(row: object) -> None:
    """Rows of plain numbers skip the per-value rules; anything else takes them, so both
    ways give the same columns (values and types) or the same problems."""
    fast, slow = InputSchema(NUMERIC), value_by_value(NUMERIC)
    for rows in ([row], [row, {"hours": 1, "count": 1}], [{"hours": 2.5, "count": 0}, row]):
        try:
            want = slow.validate(rows)
        except ValidationError as exc:
            with pytest.raises(ValidationError) as info:
                fast.validate(rows)
            assert info.value.errors == exc.errors
            continue
        got = fast.validate(rows)
        assert got == want
        assert [[(type(v), math.copysign(1, v)) for v in c] for c in got.values] == [
            [(type(v), math.copysign(1, v)) for v in c] for c in want.values
        ]
    assert fast._few is not None


def test_a_few_plain_rows_are_checked_without_the_per_value_rules() -> None:
    schema = InputSchema(NUMERIC)
    assert schema._few is not None
    assert schema._few.check([{"hours": 5, "count": 2}]) == schema.validate(
        [{"hours": 5, "count": 2}]
    )
    assert schema._few.check([{"hours": 5, "count": 2, "extra": 1}]) is None
    assert schema._few.check([{"hours": "5", "count": 2}]) is None
    assert InputSchema(FEATURES)._few is None  # categories and text: the per-value rules
