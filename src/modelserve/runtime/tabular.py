"""Uploaded tables, CSV or JSON Lines, read safely and in chunks (no Flask here).

- `detect` reads the file once: its kind, its encoding (UTF-8 with or without a byte-order
  mark; Windows-1252/Latin-1 said out loud), its delimiter, its header and an estimate of its
  rows. What makes it unreadable raises `TableError` with a stable code.
- `map_columns` matches the header to a model's features, ignoring case, spaces, `_` and `-`
  (a feature's name or its title in any language), and lists missing and unknown columns.
- `read` yields `Chunk`s of at most `chunk_rows` rows, so memory stays flat for any file size;
  `check_chunk` validates one with the model's schema, keeping the valid rows and naming each
  problem of the others by row, line, field and rule.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from .errors import FieldError, RuntimeFault
from .manifest import Feature
from .schema import Checked, Columns, InputSchema

Kind = Literal["csv", "ndjson"]
KINDS: tuple[Kind, ...] = ("csv", "ndjson")
DELIMITERS = (",", ";", "\t", "|")
BLOCK = 1 << 20
HEAD = 64 * 1024
MAX_FIELD = csv.field_size_limit()  # 131,072 characters: csv's own limit, kept process-wide


class TableError(RuntimeFault):
    """The file as a whole cannot be scored; `code` and `params` say why."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = tuple(params.items())


@dataclass(frozen=True)
class TableFormat:
    kind: Kind
    encoding: str  # a Python codec name: utf-8, utf-8-sig, cp1252 or latin-1
    delimiter: str
    header: list[str]
    rows_estimate: int
    notes: tuple[str, ...] = ()  # what we noticed and handled: bom, cp1252, semicolon...

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "header": self.header,
            "rows_estimate": self.rows_estimate,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableFormat:
        return cls(
            kind=data["kind"],
            encoding=data["encoding"],
            delimiter=data["delimiter"],
            header=list(data["header"]),
            rows_estimate=int(data["rows_estimate"]),
            notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True)
class ColumnMap:
    """Which column feeds which feature; what is missing; what the model does not know."""

    header: list[str]
    sources: dict[str, int]  # feature name -> column index
    missing_required: list[str]
    missing_optional: list[str]
    unknown: list[str]

    @property
    def ready(self) -> bool:
        return not self.missing_required


@dataclass
class Chunk:
    """Consecutive data rows: their raw cells, their feature columns, their own problems."""

    start: int  # the 1-based data-row number of the first row
    cells: list[Sequence[Any]]  # the original cells, in header order
    lines: list[int]  # the line of the file each row ends on
    columns: list[Sequence[object] | None]  # one per feature (None: no such column)
    problems: dict[int, list[FieldError]] = field(default_factory=dict)  # by index in chunk

    def __len__(self) -> int:
        return len(self.cells)


def normalized(name: str) -> str:
    """How headers are compared: case, spaces, '_' and '-' do not matter."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


def feature_keys(feat: Feature) -> set[str]:
    return {normalized(feat.name)} | {normalized(t) for t in feat.label.values() if t}


def map_columns(header: Sequence[str], features: Sequence[Feature]) -> ColumnMap:
    keys = [normalized(h) for h in header]
    sources: dict[str, int] = {}
    for feat in features:
        wanted = feature_keys(feat)
        found = [i for i, key in enumerate(keys) if key in wanted]
        exact = [i for i in found if header[i] == feat.name]
        if len(found) > 1 and len(exact) != 1:
            raise TableError(
                "ambiguous_column", feature=feat.name, columns=[header[i] for i in found]
            )
        if found:
            sources[feat.name] = (exact or found)[0]
    used = set(sources.values())
    return ColumnMap(
        header=list(header),
        sources=sources,
        missing_required=[f.name for f in features if f.required and f.name not in sources],
        missing_optional=[f.name for f in features if not f.required and f.name not in sources],
        unknown=[h for i, h in enumerate(header) if i not in used],
    )


def detect(path: Path, features: Sequence[Feature], kind: Kind | None = None) -> TableFormat:
    """Read `path` once and say how to read it, or raise `TableError`."""
    with path.open("rb") as handle:
        head = handle.read(HEAD)
    if not head:
        raise TableError("empty_file")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TableError("utf16")
    if head.startswith(b"PK\x03\x04") or b"\x00" in head:
        raise TableError("binary_file")
    notes: list[str] = []
    encoding, lines = _encoding(path)
    if head.startswith(codecs.BOM_UTF8):
        notes.append("bom")
    if encoding in ("cp1252", "latin-1"):
        notes.append(encoding)
    text = head.decode(encoding, errors="replace")
    if kind is None:
        kind = "ndjson" if text.lstrip("\ufeff \t\r\n").startswith("{") else "csv"
    if kind == "ndjson":
        header, delimiter = _ndjson_header(text), ","
    else:
        header, delimiter = _csv_header(text, features)
        if delimiter != ",":
            notes.append({";": "semicolon", "\t": "tab", "|": "pipe"}[delimiter])
    rows = max(lines - (1 if kind == "csv" else 0), 0)
    if rows == 0:
        raise TableError("no_rows")
    return TableFormat(kind, encoding, delimiter, header, rows, tuple(notes))


def _encoding(path: Path) -> tuple[str, int]:
    """The file's codec and its number of lines (one pass, in blocks: memory stays flat)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    last = b""
    utf8 = True
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            lines += block.count(b"\n")
            last = block
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if last and not last.endswith(b"\n"):
        lines += 1
    with path.open("rb") as handle:
        bom = handle.read(3) == codecs.BOM_UTF8
    if utf8:
        return ("utf-8-sig" if bom else "utf-8"), lines
    return ("cp1252" if _decodes(path, "cp1252") else "latin-1"), lines


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            while block := handle.read(BLOCK):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _first_line(text: str) -> str:
    return text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")


def _csv_header(text: str, features: Sequence[Feature]) -> tuple[list[str], str]:
    """The header row, split by whichever delimiter names the most features (then fields)."""
    line = _first_line(text)
    if not line.strip():
        raise TableError("no_header")
    wanted = [feature_keys(f) for f in features]
    best: tuple[int, int] = (-1, -1)
    chosen = ","
    header: list[str] = []
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        keys = {normalized(c) for c in cells}
        score = (sum(1 for w in wanted if w & keys), len(cells))
        if score > best:
            best, chosen, header = score, delimiter, cells
    if len(set(header)) != len(header):
        duplicates = sorted({h for h in header if header.count(h) > 1})
        raise TableError("duplicate_column", columns=duplicates)
    return [h.strip() for h in header], chosen


def _ndjson_header(text: str) -> list[str]:
    line = _first_line(text)
    try:
        first = json.loads(line)
    except ValueError as exc:
        raise TableError("not_json_lines", line=1, reason=str(exc)) from None
    if not isinstance(first, dict):
        raise TableError("not_json_lines", line=1, reason="a line is not a JSON object")
    return [str(k) for k in first]


def open_text(path: Path, fmt: TableFormat) -> IO[str]:
    return path.open("r", encoding=fmt.encoding, newline="")


def read(
    path: Path,
    fmt: TableFormat,
    columns: ColumnMap,
    features: Sequence[Feature],
    *,
    chunk_rows: int = 50_000,
    max_rows: int = 0,
) -> Iterator[Chunk]:
    """The data rows of `path`, `chunk_rows` at a time."""
    with open_text(path, fmt) as handle:
        reader = _csv_chunks if fmt.kind == "csv" else _ndjson_chunks
        yield from reader(handle, fmt, columns, features, chunk_rows, max_rows)


def _csv_chunks(
    handle: IO[str],
    fmt: TableFormat,
    columns: ColumnMap,
    features: Sequence[Feature],
    chunk_rows: int,
    max_rows: int,
) -> Iterator[Chunk]:
    reader = csv.reader(handle, delimiter=fmt.delimiter)
    try:
        next(reader)  # the header, read by `detect`
    except StopIteration:
        return
    except csv.Error as exc:
        raise TableError("bad_csv", line=reader.line_num, reason=str(exc)) from None
    width = len(fmt.header)
    sources = [columns.sources.get(f.name) for f in features]
    start = 1
    while True:
        rows: list[list[str]] = []
        lines: list[int] = []
        keep, mark = rows.append, lines.append
        try:
            for row in reader:
                if row and (len(row) > 1 or row[0].strip()):  # a blank line is not a row
                    keep(row)
                    mark(reader.line_num)
                    if len(rows) == chunk_rows:
                        break
        except csv.Error as exc:
            raise TableError("bad_csv", line=reader.line_num + 1, reason=str(exc)) from None
        if not rows:
            return
        if max_rows and start - 1 + len(rows) > max_rows:
            raise TableError("too_many_rows", max=max_rows)
        yield _csv_chunk(start, rows, lines, width, sources)
        start += len(rows)


def _csv_chunk(
    start: int, rows: list[list[str]], lines: list[int], width: int, sources: list[int | None]
) -> Chunk:
    problems: dict[int, list[FieldError]] = {}
    if any(len(r) != width for r in rows):
        for i, row in enumerate(rows):
            if len(row) != width:
                code = "too_many_fields" if len(row) > width else "too_few_fields"
                params = (("found", len(row)), ("expected", width))
                problems[i] = [FieldError(start + i, None, code, params)]
                rows[i] = (row + [""] * width)[:width]
    transposed = list(zip(*rows, strict=True))
    feature_columns: list[Sequence[object] | None] = [
        None if s is None else transposed[s] for s in sources
    ]
    return Chunk(start, rows, lines, feature_columns, problems)  # type: ignore[arg-type]


def _ndjson_chunks(
    handle: IO[str],
    fmt: TableFormat,
    columns: ColumnMap,
    features: Sequence[Feature],
    chunk_rows: int,
    max_rows: int,
) -> Iterator[Chunk]:
    keys = [
        None if columns.sources.get(f.name) is None else fmt.header[columns.sources[f.name]]
        for f in features
    ]
    start = 1
    line_number = 0
    lines_iter = iter(handle)
    while True:
        objects: list[dict[str, Any]] = []
        lines: list[int] = []
        problems: dict[int, list[FieldError]] = {}
        for text in lines_iter:
            line_number += 1
            if not text.strip():
                continue
            index = len(objects)
            try:
                value = json.loads(text)
            except ValueError as exc:
                reason = str(exc).split(":")[0]
                problems[index] = [
                    FieldError(start + index, None, "not_json", (("reason", reason),))
                ]
                value = {}
            if not isinstance(value, dict):
                problems.setdefault(index, [FieldError(start + index, None, "row_not_object")])
                value = {}
            objects.append(value)
            lines.append(line_number)
            if len(objects) == chunk_rows:
                break
        if not objects:
            return
        if max_rows and start - 1 + len(objects) > max_rows:
            raise TableError("too_many_rows", max=max_rows)
        cells = [[obj.get(k) for k in fmt.header] for obj in objects]
        feature_columns: list[Sequence[object] | None] = [
            None if k is None else [obj.get(k) for obj in objects] for k in keys
        ]
        yield Chunk(start, cells, lines, feature_columns, problems)  # type: ignore[arg-type]
        start += len(objects)


@dataclass(frozen=True)
class CheckedChunk:
    """The rows of a chunk the model can score, and every problem of the others."""

    columns: Columns
    kept: np.ndarray  # indices (in the chunk) of the scored rows
    errors: list[FieldError]  # rows are 1-based data-row numbers


def check_chunk(schema: InputSchema, chunk: Chunk) -> CheckedChunk:
    checked: Checked = schema.check_columns(chunk.columns, len(chunk))
    errors = [
        FieldError(chunk.start + (e.row or 0), e.field, e.code, e.params) for e in checked.errors
    ]
    if chunk.problems:
        # A row that is broken as a whole (ragged, not JSON) reports only that.
        broken = {chunk.start + i for i in chunk.problems}
        errors = sorted(
            [e for found in chunk.problems.values() for e in found]
            + [e for e in errors if e.row not in broken],
            key=lambda e: e.row or 0,
        )
        structural = np.array(sorted(chunk.problems), dtype=np.intp)
        keep = ~np.isin(checked.kept, structural)
        if not keep.all():
            kept = checked.kept[keep]
            columns = _subset(checked.columns, keep)
            return CheckedChunk(columns, kept, errors)
    return CheckedChunk(checked.columns, checked.kept, errors)


def _subset(columns: Columns, keep: np.ndarray) -> Columns:
    rows = np.flatnonzero(keep)
    matrix = None if columns.matrix is None else columns.matrix[rows]
    values = [[col[i] for i in rows] for col in columns.values]
    return Columns(columns.names, values, len(rows), matrix=matrix)


def sample(
    path: Path, fmt: TableFormat, columns: ColumnMap, features: Sequence[Feature], rows: int = 5
) -> list[Sequence[Any]]:
    """The first `rows` rows, for a preview."""
    for chunk in read(path, fmt, columns, features, chunk_rows=rows):
        return chunk.cells
    return []


def spool(source: IO[bytes], target: Path, max_bytes: int) -> int:
    """Copy an upload to `target` in blocks; raise `TableError` past `max_bytes`."""
    written = 0
    with target.open("xb") as out:
        while block := source.read(BLOCK):
            written += len(block)
            if max_bytes and written > max_bytes:
                raise TableError("too_large", max=max_bytes)
            out.write(block)
    return written
