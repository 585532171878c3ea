"""A job's result files: written cheaply while scoring, joined with the input on download.

While a job runs, each chunk appends one fixed-size binary record per input row to
`answers.bin` (scored or not, the class index and probabilities, or the value) and one JSON
line per problem to `errors.jsonl`. Nothing per row is formatted then: a million rows cost a
few numpy writes. The input file is kept; a download reads it again with the same reader,
next to the answers, and renders CSV (formula cells neutralised) or JSON Lines - so the
original cells come back exactly as they were, in the reader's language for the messages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from ..runtime import messages
from ..runtime.errors import FieldError
from ..runtime.predictor import Prediction, plain
from ..runtime.registry import LoadedModel
from ..runtime.tabular import CheckedChunk, Chunk, ColumnMap, TableFormat, read
from .history import drain, neutralize

INPUT, ANSWERS, META, ERRORS = "input", "answers.bin", "answers.json", "errors.jsonl"
ERROR_HEADER = ("row", "line", "field", "code", "message")
Translate = Callable[[str], str]
PIECE = 1 << 16  # bytes of rendered output per yielded piece


def output_columns(model: LoadedModel, header: Sequence[str]) -> tuple[str, list[str]]:
    """The answer's shape, and the columns added after the original ones (renamed with a
    `scored_` prefix if the file already has a column of that name)."""
    engine = model.engine
    if engine.task == "regression":
        shape, names = "value", ["value"]
    elif getattr(engine, "has_proba", True):
        shape = "proba"
        names = ["label", *(f"probability_{c}" for c in engine.classes)]
    else:
        shape, names = "label", ["label"]
    taken = set(header)
    out = []
    for name in [*names, "error"]:
        unique = name
        while unique in taken:
            unique = f"scored_{unique}"
        out.append(unique)
    return shape, out


def _dtype(shape: str, classes: int) -> np.dtype[Any]:
    fields: list[Any] = [("ok", "u1")]
    if shape == "value":
        fields.append(("value", "<f8"))
    else:
        fields.append(("label", "<i4"))
        if shape == "proba":
            fields.append(("p", "<f8", (classes,)))
    return np.dtype(fields)


class ResultWriter:
    """Appends each scored chunk's answers and problems (used by the job runner)."""

    def __init__(self, folder: Path, model: LoadedModel, fmt: TableFormat) -> None:
        self.shape, self.columns = output_columns(model, fmt.header)
        self.classes = list(model.engine.classes)
        self._index = {c: i for i, c in enumerate(self.classes)}
        self.dtype = _dtype(self.shape, len(self.classes))
        meta = {
            "shape": self.shape,
            "columns": self.columns,
            "classes": self.classes,
            "format": fmt.to_json(),
        }
        (folder / META).write_bytes(orjson.dumps(meta))
        self._answers = (folder / ANSWERS).open("wb")
        self._errors = (folder / ERRORS).open("wb")

    def add(self, chunk: Chunk, checked: CheckedChunk, prediction: Prediction | None) -> None:
        records = np.zeros(len(chunk), dtype=self.dtype)
        if prediction is not None:
            kept = checked.kept
            records["ok"][kept] = 1
            if self.shape == "value":
                records["value"][kept] = np.asarray(prediction.values, dtype=np.float64)
            else:
                index = self._index
                records["label"][kept] = np.fromiter(
                    (index[plain(label)] for label in prediction.labels),
                    dtype=np.int32,
                    count=len(kept),
                )
                if self.shape == "proba":
                    records["p"][kept] = np.asarray(prediction.probabilities, dtype=np.float64)
        records.tofile(self._answers)
        write_errors(self._errors, checked.errors, chunk.start, chunk.lines)

    def close(self) -> None:
        self._answers.close()
        self._errors.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_errors(
    out: IO[bytes], errors: list[FieldError], start: int, lines: Sequence[int]
) -> None:
    """One JSON array per problem: row, line of the file, field, code, params (in row order)."""
    for e in errors:
        row = e.row or start
        line = lines[row - start]
        out.write(orjson.dumps([row, line, e.field, e.code, [*map(list, e.params)]]))
        out.write(b"\n")


# -- reading ----------------------------------------------------------------------------
def describe(problems: Sequence[Sequence[Any]] | None, translate: Translate) -> str:
    """A row's problems as one line of text: "estudio: must be a number; ..."."""
    if not problems:
        return ""
    parts = []
    for field_name, code, params in problems:
        text = messages.render(
            FieldError(None, field_name, code, tuple(tuple(p) for p in params)), translate
        )
        parts.append(f"{field_name}: {text}" if field_name else text)
    return "; ".join(parts)


def available(folder: Path) -> bool:
    return all((folder / name).exists() for name in (INPUT, ANSWERS, META))


def table(
    folder: Path, translate: Translate, *, limit: int = 0
) -> tuple[list[str], list[bool], Iterator[list[Any]]]:
    """The result: its columns, which of them came from the file, and its rows (the
    original cells, the answer, and the problems as text or None), read in chunks."""
    meta = orjson.loads((folder / META).read_bytes())
    fmt = TableFormat.from_json(meta["format"])
    columns = [*fmt.header, *meta["columns"]]
    original = [True] * len(fmt.header) + [False] * len(meta["columns"])
    return columns, original, _rows(folder, meta, fmt, translate, limit)


def _rows(
    folder: Path, meta: dict[str, Any], fmt: TableFormat, translate: Translate, limit: int
) -> Iterator[list[Any]]:
    shape, classes = meta["shape"], meta["classes"]
    dtype = _dtype(shape, len(classes))
    cells_only = ColumnMap(fmt.header, {}, [], [], list(fmt.header))
    width = len(meta["columns"]) - 1
    blank = [None] * width
    problems = _problems(folder / ERRORS)
    pending = next(problems, None)
    count = 0
    with (folder / ANSWERS).open("rb") as answers:
        for chunk in read(folder / INPUT, fmt, cells_only, (), chunk_rows=10_000):
            records = np.fromfile(answers, dtype=dtype, count=len(chunk))
            ok = records["ok"].tolist()
            outputs = _outputs(shape, classes, records)
            for index, cells in enumerate(chunk.cells):
                row = chunk.start + index
                found = None
                while pending is not None and pending[0] <= row:
                    if pending[0] == row:
                        found = pending[1]
                    pending = next(problems, None)
                answer = outputs[index] if ok[index] else blank
                yield [*cells, *answer, describe(found, translate) or None]
                count += 1
                if limit and count >= limit:
                    return


def _outputs(shape: str, classes: list[Any], records: np.ndarray) -> list[list[Any]]:
    if shape == "value":
        return [[v] for v in records["value"].tolist()]
    labels = [classes[i] for i in records["label"].tolist()]
    if shape == "label":
        return [[label] for label in labels]
    return [[label, *p] for label, p in zip(labels, records["p"].tolist(), strict=True)]


def _problems(path: Path) -> Iterator[tuple[int, list[list[Any]]]]:
    """(row, [[field, code, params], ...]) per row with problems, in row order."""
    current: int | None = None
    found: list[list[Any]] = []
    with path.open("rb") as handle:
        for line in handle:
            row, _line, field_name, code, params = orjson.loads(line)
            if row != current:
                if current is not None:
                    yield current, found
                current, found = row, []
            found.append([field_name, code, params])
    if current is not None:
        yield current, found


def csv_chunks(folder: Path, translate: Translate) -> Iterator[str]:
    """The result as CSV; text a spreadsheet would run as a formula is neutralised."""
    columns, original, rows = table(folder, translate)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralize(c) for c in columns])
    text_columns = [i for i, is_original in enumerate(original) if is_original]
    text_columns.append(len(columns) - 1)
    for row in rows:
        for i in text_columns:
            value = row[i]
            if isinstance(value, str):
                row[i] = neutralize(value)
            elif value is None:
                row[i] = ""
            elif isinstance(value, dict | list):
                row[i] = orjson.dumps(value).decode()
        writer.writerow(row)
        if buffer.tell() > PIECE:
            yield drain(buffer)
    yield drain(buffer)


def ndjson_chunks(folder: Path, translate: Translate) -> Iterator[bytes]:
    """The result as JSON Lines: one object per row."""
    columns, _original, rows = table(folder, translate)
    out = io.BytesIO()
    for row in rows:
        out.write(orjson.dumps(dict(zip(columns, row, strict=True))))
        out.write(b"\n")
        if out.tell() > PIECE:
            yield drain(out)
    yield drain(out)


def error_records(path: Path, translate: Translate, limit: int = 0) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for count, line in enumerate(handle):
            if limit and count >= limit:
                return
            row, line_number, field_name, code, params = orjson.loads(line)
            error = FieldError(row, field_name, code, tuple(tuple(p) for p in params))
            yield {
                "row": row,
                "line": line_number,
                "field": field_name,
                "code": code,
                "message": messages.render(error, translate),
            }


def errors_csv(path: Path, translate: Translate) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ERROR_HEADER)
    for record in error_records(path, translate):
        writer.writerow([neutralize(record[k]) for k in ERROR_HEADER])
        if buffer.tell() > PIECE:
            yield drain(buffer)
    yield drain(buffer)


def errors_ndjson(path: Path, translate: Translate) -> Iterator[bytes]:
    out = io.BytesIO()
    for record in error_records(path, translate):
        out.write(orjson.dumps(record))
        out.write(b"\n")
        if out.tell() > PIECE:
            yield drain(out)
    yield drain(out)
