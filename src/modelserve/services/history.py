"""The prediction history: who sees what, filters, pages, exports and retention.

A batch record (one record for a request of many rows, `services.batch_records`) is one
entry in pages and listings, is found by the label filter when any of its rows has that
label, and is expanded into one line per row by the exports (ids `<record id>-<row>`, the
row's 0-based position in the request; only the rows with the filtered label) and by its
detail views (paged)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, overload

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session, defer

from ..storage.tables import PredictionRecord, User, utcnow
from . import batch_records

PAGE_SIZE = 50
ROWS_PAGE_SIZE = 100  # rows of a batch record per detail page
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "id",
    "created_at",
    "model",
    "version",
    "label",
    "value",
    "probabilities",
    "inputs",
    "latency_ms",
    "user",
    "source",
    "request_id",
    "job_id",
)


class RecordNotFoundError(Exception):
    """No such record, or not one the viewer may see (the same answer: 404)."""


@dataclass(frozen=True)
class Viewer:
    user_id: int
    is_admin: bool


@dataclass(frozen=True)
class Filters:
    model: str = ""
    version: str = ""
    label: str = ""
    user: str = ""
    since: date | None = None
    until: date | None = None

    def active(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass(frozen=True)
class Page:
    records: list[PredictionRecord]
    number: int
    total: int

    @property
    def pages(self) -> int:
        return _pages(self.total, PAGE_SIZE)


@dataclass(frozen=True)
class RowsPage:
    """One page of a batch record's rows: (row number, inputs, answer) each."""

    rows: list[tuple[int, dict[str, Any], dict[str, Any]]]
    names: list[str]
    classes: list[str]
    number: int
    total: int

    @property
    def pages(self) -> int:
        return _pages(self.total, ROWS_PAGE_SIZE)


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _visible(viewer: Viewer, filters: Filters) -> Select[PredictionRecord]:
    # Payloads (a batch record's rows) are read only where a record is expanded.
    query = select(PredictionRecord).options(defer(PredictionRecord.payload))
    if not viewer.is_admin:
        query = query.where(PredictionRecord.user_id == viewer.user_id)
    elif filters.user:
        query = query.join(User, PredictionRecord.user_id == User.id).where(
            func.lower(User.username) == filters.user.lower()
        )
    for column, value in (
        (PredictionRecord.model, filters.model),
        (PredictionRecord.version, filters.version),
    ):
        if value:
            query = query.where(column == value)
    if filters.label:
        key = batch_records.label_key(filters.label)
        query = query.where(
            or_(
                PredictionRecord.label == filters.label,
                PredictionRecord.label_keys.contains(key, autoescape=True),
            )
        )
    if filters.since:
        query = query.where(PredictionRecord.created_at >= _start_of(filters.since))
    if filters.until:
        query = query.where(
            PredictionRecord.created_at < _start_of(filters.until + timedelta(days=1))
        )
    return query


def _start_of(day: date) -> datetime:
    from datetime import UTC  # noqa: PLC0415

    return datetime.combine(day, time.min, tzinfo=UTC)


def page(session: Session, viewer: Viewer, filters: Filters, number: int = 1) -> Page:
    query = _visible(viewer, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    number = min(max(number, 1), _pages(total, PAGE_SIZE))
    ordered = query.order_by(PredictionRecord.created_at.desc(), PredictionRecord.id.desc())
    records = session.scalars(ordered.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE))
    return Page(list(records), number, total)


def get(session: Session, viewer: Viewer, record_id: str) -> PredictionRecord:
    record = session.get(PredictionRecord, record_id[:32])
    if record is None or not (viewer.is_admin or record.user_id == viewer.user_id):
        raise RecordNotFoundError(record_id)
    return record


def export(session: Session, viewer: Viewer, filters: Filters) -> Iterator[PredictionRecord]:
    """Every visible record, oldest first, fetched in chunks (a batch record's payload is read
    when it is expanded, one at a time)."""
    query = _visible(viewer, filters).order_by(PredictionRecord.created_at, PredictionRecord.id)
    yield from session.scalars(query.execution_options(yield_per=1000))


def rows_page(record: PredictionRecord, number: int = 1) -> RowsPage:
    """A page of a batch record's rows (`ROWS_PAGE_SIZE` each)."""
    assert record.payload is not None
    batch = batch_records.decode(record.payload)
    number = min(max(number, 1), _pages(batch.n_rows, ROWS_PAGE_SIZE))
    start = (number - 1) * ROWS_PAGE_SIZE
    rows = [(i, *batch.row(i)) for i in range(start, min(start + ROWS_PAGE_SIZE, batch.n_rows))]
    return RowsPage(rows, batch.names, batch.classes or [], number, batch.n_rows)


def as_dict(record: PredictionRecord) -> dict[str, Any]:
    """A record as the API lists it; a batch record with its row and label counts (its rows
    are in `expand` and `rows_page`)."""
    row = _row_dict(record)
    if record.is_batch:
        row["inputs"] = None
    return {**row, "rows": record.rows, "label_counts": record.label_counts}


def expand(record: PredictionRecord, label: str = "") -> Iterator[dict[str, Any]]:
    """A record as one-row records: itself, or each row of a batch record (only those labelled
    `label` when given), with id `<record id>-<row>` and its share of the request's latency."""
    head = _row_dict(record)
    if not record.is_batch or record.payload is None:
        yield head
        return
    batch = batch_records.decode(record.payload)
    head["latency_ms"] = record.latency_ms / max(batch.n_rows, 1)
    for index in range(batch.n_rows):
        inputs, answer = batch.row(index)
        text = str(answer["label"]) if "label" in answer else None
        if label and text != label:
            continue
        yield {
            **head,
            "id": f"{record.id}-{index}",
            "label": text,
            "value": answer.get("value"),
            "probabilities": answer.get("probabilities"),
            "inputs": inputs,
        }


def _row_dict(record: PredictionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": record.created_at.isoformat(),
        "model": record.model,
        "version": record.version,
        "sha256": record.sha256,
        "label": record.label,
        "value": record.value,
        "probabilities": record.probabilities,
        "inputs": record.inputs,
        "latency_ms": record.latency_ms,
        "user": record.user.username if record.user else None,
        "source": record.source,
        "request_id": record.request_id,
        "job_id": record.job_id,
    }


def neutralize(cell: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def export_rows(records: Iterator[PredictionRecord], label: str = "") -> Iterator[dict[str, Any]]:
    """The exported lines: one per predicted row (batch records expanded)."""
    for record in records:
        yield from expand(record, label)


def csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        for key in ("probabilities", "inputs"):
            row[key] = json.dumps(row[key], ensure_ascii=False)
        writer.writerow([neutralize(row[c]) for c in CSV_COLUMNS])
        if buffer.tell() > 1 << 16:
            yield drain(buffer)
    yield drain(buffer)


@overload
def drain(buffer: io.StringIO) -> str: ...
@overload
def drain(buffer: io.BytesIO) -> bytes: ...
def drain(buffer: io.StringIO | io.BytesIO) -> str | bytes:
    """What the buffer holds, emptying it (for streamed download pieces)."""
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return data


def jsonl_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def purge(session: Session, older_than: timedelta) -> int:
    """Delete records older than `older_than`; returns how many went."""
    cutoff = utcnow() - older_than
    result = session.execute(delete(PredictionRecord).where(PredictionRecord.created_at < cutoff))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def distinct_values(session: Session, viewer: Viewer, column: str) -> list[str]:
    """Values of a column the viewer can filter by (for the filter dropdowns)."""
    col = getattr(PredictionRecord, column)
    query = select(col).distinct().order_by(col).limit(200)
    if not viewer.is_admin:
        query = query.where(PredictionRecord.user_id == viewer.user_id)
    return [v for v in session.scalars(query) if v is not None]
