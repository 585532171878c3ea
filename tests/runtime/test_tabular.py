"""Reading uploaded tables: detection, column matching, and validation that agrees with the
row-by-row rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelserve.runtime.errors import ValidationError
from modelserve.runtime.manifest import Feature
from modelserve.runtime.schema import InputSchema
from modelserve.runtime.tabular import TableError, check_chunk, detect, map_columns, read

FEATURES = [
    Feature("hours", "number", min=0, max=24, label={"en": "Hours of study", "es": "Horas"}),
    Feature("count", "integer", required=False),
    Feature("color", "category", choices=["red", "green", 3]),
]


def chunks(path: Path, rows: int = 2):
    fmt = detect(path, FEATURES)
    columns = map_columns(fmt.header, FEATURES)
    return fmt, columns, list(read(path, fmt, columns, FEATURES, chunk_rows=rows))


def test_titles_in_any_language_match_columns() -> None:
    mapped = map_columns(["HOURS OF STUDY", "Colour", "color"], FEATURES)
    assert mapped.sources == {"hours": 0, "color": 2}
    assert mapped.missing_optional == ["count"]
    assert mapped.unknown == ["Colour"]
    assert mapped.ready
    assert map_columns(["horas", "x"], FEATURES).missing_required == ["color"]


def test_two_columns_for_one_feature_are_ambiguous() -> None:
    with pytest.raises(TableError) as caught:
        map_columns(["Hours", "hours of study", "color"], FEATURES)
    assert caught.value.code == "ambiguous_column"


def test_column_checks_name_the_same_problems_as_row_checks(tmp_path: Path) -> None:
    values = {
        "hours": ["1", " 2.5 ", "", "x", "25", "1_0", "nan", "3"],
        "count": ["1", "", "1.5", "2", "2", "2", "2", "2"],
        "color": ["red", "green", "3", "3.0", "blue", "red", "red", "RED"],
    }
    schema = InputSchema(FEATURES)
    checked = schema.check_columns([values[f.name] for f in FEATURES], 8)
    rows = [{k: v[i] for k, v in values.items()} for i in range(8)]
    with pytest.raises(ValidationError) as caught:
        schema.validate(rows)
    assert checked.errors == caught.value.errors
    assert checked.kept.tolist() == [0, 1]
    assert checked.columns.values[0] == [1.0, 2.5]
    assert np.isnan(checked.columns.values[1][1])
    assert checked.columns.values[2] == ["red", "green"]


def test_bulk_numbers_fall_back_to_named_problems() -> None:
    schema = InputSchema(FEATURES[:1])
    fine = schema.check_columns([[str(i % 24) for i in range(100)]], 100)
    assert fine.errors == [] and fine.columns.matrix is not None
    assert fine.columns.matrix.shape == (100, 1)
    broken = schema.check_columns([["1"] * 50 + ["inf"] + ["2"] * 49], 100)
    assert [(e.row, e.code) for e in broken.errors] == [(50, "not_finite")]
    assert broken.columns.n_rows == 99


def test_json_lines_report_broken_lines_by_row_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"hours": 1, "color": "red"}\n\n{"hours": 2, \n[1, 2]\n{"hours": 30, "color": "red"}\n'
    )
    fmt, _columns, found = chunks(path, rows=10)
    assert fmt.kind == "ndjson"
    checked = check_chunk(InputSchema(FEATURES), found[0])
    assert [(e.row, e.field, e.code) for e in checked.errors] == [
        (2, None, "not_json"),
        (3, None, "row_not_object"),
        (4, "hours", "above_max"),
    ]
    assert found[0].lines == [1, 3, 4, 5]
    assert checked.kept.tolist() == [0]


def test_chunks_number_rows_across_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("hours,color\n1,red\n2,red\nx,red\n4,red\n5,blue\n")
    _fmt, _columns, found = chunks(path, rows=2)
    assert [c.start for c in found] == [1, 3, 5]
    errors = [e for c in found for e in check_chunk(InputSchema(FEATURES), c).errors]
    assert [(e.row, e.field) for e in errors] == [(3, "hours"), (5, "color")]


def test_tabs_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("hours\tcolor\n1\tred\n")
    fmt = detect(path, FEATURES)
    assert fmt.delimiter == "\t" and fmt.notes == ("tab",)
