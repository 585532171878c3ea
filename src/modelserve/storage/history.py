"""The prediction-history writer: durability as a choice, like a database's synchronous commit.

- `sync`: each request's records are committed before the response; while the database is
  unreachable `record` raises `HistoryUnavailableError` (the faces answer 503 + Retry-After).
- `async` (default): records queue in memory and a background thread writes them in batches
  at least every `flush_interval` seconds. If the database is unreachable the batch goes to a
  spool file in the instance folder and is replayed when the database answers again. The queue
  is flushed on graceful shutdown. A hard kill loses at most the last flush interval.

Records carry their primary key from the moment the prediction is made, and every write is
an insert that ignores existing keys, so a replayed spool can never duplicate a row.

After every pass the writer tells its `observer`, when one is set, what it found and did
(`WriterPass`: rows queued, how long the oldest record it wrote had waited, whether it is
spooling); the app turns that into Prometheus gauges.

The queue is bounded in bytes, not records: a one-row record counts `ROW_BYTES` (about what
it holds in memory), a batch record (a request of many rows in one record) that plus its
payload. Inserts are cut at `max_batch_bytes` the same way.
"""

from __future__ import annotations

import atexit
import base64
import functools
import itertools
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..processes import alive
from .tables import PredictionRecord

log = logging.getLogger("modelserve.history")
MODES = ("async", "sync")
_writers: weakref.WeakSet[HistoryWriter] = weakref.WeakSet()
# What a queued one-row record holds in memory, roughly (a dict of 15 fields, its inputs and
# probabilities): the unit the queue and insert bounds count in.
ROW_BYTES = 1000


def weight(record: dict[str, Any]) -> int:
    """The bytes a queued record is counted as."""
    payload = record.get("payload")
    return ROW_BYTES if payload is None else ROW_BYTES + len(payload)


class HistoryUnavailableError(Exception):
    """The database cannot take the record now (sync mode)."""


def insert_ignoring_duplicates(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert records, skipping those whose id is already stored (a replayed spool)."""
    if not rows:
        return
    if engine.dialect.name in ("sqlite", "postgresql"):
        # One-row records through the narrower insert (the batch columns take their
        # defaults); each insert is idempotent, so the two need not share a transaction.
        batches = [r for r in rows if "payload" in r]
        if len(batches) < len(rows):
            ones = [r for r in rows if "payload" not in r] if batches else rows
            bulk_insert(engine, as_tuples(ones), ignore_duplicates=True)
        if batches:
            bulk_insert(
                engine, batch_tuples(batches), ignore_duplicates=True, columns=BATCH_COLUMNS
            )
        return
    table = PredictionRecord.__table__
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["id"])
    with engine.begin() as connection:
        connection.execute(statement, rows)


@dataclass(frozen=True)
class WriterPass:
    """What one pass of the async writer found and did."""

    queued_rows: int  # predicted rows waiting when the pass began
    # How long the oldest record written in the pass had waited since its prediction,
    # seconds; None when the pass wrote nothing.
    lag_seconds: float | None
    spooling: bool  # the database is unreachable: records go to the spool


class HistoryWriter:
    """Writes prediction records in the configured durability mode."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        mode: str,
        spool_dir: Path,
        flush_interval: float = 0.1,
        max_batch_bytes: int = 5000 * ROW_BYTES,
        max_queue_bytes: int = 50_000 * ROW_BYTES,
        batch_rows: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"history mode must be one of {', '.join(MODES)}")
        self._engine = engine
        self.mode = mode
        self.spool_dir = spool_dir
        self.flush_interval = flush_interval
        self.max_batch_bytes = max_batch_bytes
        self.max_queue_bytes = max_queue_bytes
        # Requests of at least this many rows (0: never; at least 2, so a record of one row
        # is never a batch record) are recorded as one batch record; read by
        # `services.predictions`, which builds the records.
        self.batch_rows = max(batch_rows, 2) if batch_rows > 0 else 0
        self._queue: deque[dict[str, Any]] = deque()
        # Batch records' payload bytes and rows beyond their one queue slot (one-row records
        # are counted by the queue's length, so the common case takes no lock).
        self._count_lock = threading.Lock()
        self._extra_bytes = 0
        self._extra_rows = 0
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False
        self.database_down = False
        self.observer: Callable[[WriterPass], None] | None = None
        self._oldest_written: datetime | None = None  # in the pass under way
        _writers.add(self)

    # -- the request side ---------------------------------------------------------------
    def record(self, rows: list[dict[str, Any]]) -> None:
        """Record finished predictions (sync: committed on return; async: queued)."""
        if self.mode == "sync":
            try:
                insert_ignoring_duplicates(self._engine(), rows)
            except DBAPIError as exc:
                raise HistoryUnavailableError(str(exc.orig or exc)) from None
            return
        self._ensure_thread()
        for record in rows:
            if "payload" in record:
                self._count(record, 1)
        self._queue.extend(rows)
        if len(self._queue) * ROW_BYTES + self._extra_bytes > self.max_queue_bytes:
            # Backpressure: when the database falls behind, the request helps write instead of
            # letting the queue (and the worker's memory) grow without bound.
            self.flush()

    def pending(self) -> int:
        """Predicted rows waiting to be written (a batch record counts all its rows)."""
        return len(self._queue) + self._extra_rows

    def _count(self, batch_record: dict[str, Any], sign: int) -> None:
        """Count a batch record in (1) or out (-1) of the queue."""
        with self._count_lock:
            self._extra_bytes += sign * (weight(batch_record) - ROW_BYTES)
            self._extra_rows += sign * (batch_record["rows"] - 1)

    def _take(self, limit: float) -> list[dict[str, Any]]:
        """Queued records from the oldest, up to `limit` bytes (at least one)."""
        batch: list[dict[str, Any]] = []
        size = 0
        while self._queue and (not batch or size < limit):
            record = self._queue.popleft()
            batch.append(record)
            size += weight(record)
            if "payload" in record:
                self._count(record, -1)
        return batch

    # -- the background side ------------------------------------------------------------
    def _ensure_thread(self) -> None:
        # A pre-forked worker inherits no threads: start one per process.
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._queue = deque()
            self._extra_bytes = self._extra_rows = 0
            self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stopping:
            # While the database is down, retry less and less often (at most every 5 s).
            self._wake.wait(min(self.flush_interval * 2**failures, 5.0))
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the writer must outlive any one bad batch
                log.exception("history flush failed")
            failures = min(failures + 1, 6) if self.database_down else 0

    def flush(self) -> None:
        """Write everything queued (and any spooled records) now; spool what cannot be written."""
        with self._flush_lock:
            queued = self.pending()
            self._oldest_written = None
            if self._replay_spool():
                while self._queue:
                    if not self._write_or_spool(self._take(self.max_batch_bytes)):
                        break
            self._spool_rest()
            if self.observer is not None:
                oldest = self._oldest_written
                lag = None if oldest is None else max(0.0, time.time() - oldest.timestamp())
                try:
                    self.observer(WriterPass(queued, lag, self.database_down))
                except Exception:  # metrics must never stop the writes (or a request's flush)
                    log.exception("history observer failed")

    def _insert(self, batch: list[dict[str, Any]]) -> None:
        """Insert queued or spooled records (oldest first), noting the oldest one written."""
        insert_ignoring_duplicates(self._engine(), batch)
        if batch and self._oldest_written is None:
            self._oldest_written = batch[0]["created_at"]

    def _write_or_spool(self, batch: list[dict[str, Any]]) -> bool:
        try:
            self._insert(batch)
        except SQLAlchemyError as exc:
            self._mark_down(exc)
            self._spool(batch)
            return False
        if self.database_down:
            log.info("history database is back; writes resumed")
        self.database_down = False
        return True

    def _spool_rest(self) -> None:
        if self.database_down and self._queue:
            self._spool(self._take(float("inf")))

    def _mark_down(self, exc: Exception) -> None:
        if not self.database_down:
            log.warning(
                "history database unreachable; spooling records to %s",
                self.spool_dir,
                extra={"fields": {"error": str(exc).splitlines()[0][:300]}},
            )
        self.database_down = True

    # -- the spool ----------------------------------------------------------------------
    def _spool(self, rows: Iterable[dict[str, Any]]) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"history-{os.getpid()}.jsonl"
        with path.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, default=_encode) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _replay_spool(self) -> bool:
        """Write back spooled records; False while the database still refuses them."""
        if not self.spool_dir.is_dir():
            return True
        for path in sorted(self.spool_dir.glob("history-*.jsonl")):
            if not _replayable_by_me(path):
                continue  # another live process may still be appending to it
            claimed = path.with_name(f"{path.name}.{os.getpid()}.replaying")
            try:
                path.rename(claimed)  # atomic: one process replays each file
            except FileNotFoundError:
                continue
            if not self._replay_file(claimed):
                return False
        return True

    def _replay_file(self, claimed: Path) -> bool:
        replayed = 0
        try:
            for batch in self._spooled(claimed):
                self._insert(batch)
                replayed += len(batch)
        except SQLAlchemyError as exc:
            self._mark_down(exc)
            # Back under a fresh name: the original may already exist again. The records
            # already written are skipped by id when it is replayed.
            claimed.rename(claimed.with_name(f"history-{os.getpid()}-retry-{time.time_ns()}.jsonl"))
            return False
        claimed.unlink()
        log.info("replayed %d spooled history records", replayed)
        self.database_down = False
        return True

    def _spooled(self, path: Path) -> Iterator[list[dict[str, Any]]]:
        """A spool file's records in insert batches, read a line at a time (a long outage's
        spool may not fit in memory at once)."""
        batch: list[dict[str, Any]] = []
        size = 0
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                record = _decode(json.loads(line))
                batch.append(record)
                size += weight(record)
                if size >= self.max_batch_bytes:
                    yield batch
                    batch, size = [], 0
        if batch:
            yield batch

    def recover_orphans(self) -> None:
        """Spool files claimed by a process that died mid-replay go back to the queue."""
        if not self.spool_dir.is_dir():
            return
        for claimed in self.spool_dir.glob("history-*.jsonl.*.replaying"):
            pid = int(claimed.name.split(".")[-2])
            if not alive(pid):
                claimed.rename(
                    claimed.with_name(f"history-{pid}-orphan-{claimed.stat().st_ino}.jsonl")
                )

    def close(self) -> None:
        """Flush what is queued; called on graceful shutdown."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=10)
        if self._queue or (self.spool_dir.is_dir() and any(self.spool_dir.glob("history-*.jsonl"))):
            self.flush()


def close_all() -> None:
    """Flush every writer of this process (gunicorn's worker_exit, atexit)."""
    for writer in list(_writers):
        try:
            writer.close()
        except Exception:  # a dead database at shutdown: the spool keeps the records
            log.exception("history flush at shutdown failed")


atexit.register(close_all)


def _replayable_by_me(path: Path) -> bool:
    """A spool file is replayed by the process that wrote it (its own thread, so never while
    it is being appended to) or, once that process is gone, by any other."""
    owner = path.name.split("-")[1].split(".")[0]
    return owner.isdigit() and (int(owner) == os.getpid() or not alive(int(owner)))


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot spool {type(value).__name__}")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    """A spooled record back; only `created_at` and `payload` were encoded (a class or input
    named "$dt" elsewhere stays what it was)."""
    row["created_at"] = datetime.fromisoformat(row["created_at"]["$dt"])
    if row.get("payload") is not None:
        row["payload"] = base64.b64decode(row["payload"]["$b64"])
    return row


BULK_COLUMNS = (
    "id",
    "created_at",
    "model",
    "version",
    "sha256",
    "inputs",
    "label",
    "probabilities",
    "value",
    "latency_ms",
    "user_id",
    "token_id",
    "source",
    "request_id",
    "job_id",
)
# Batch records add these (one-row records leave them to their defaults: 1 row, no payload).
BATCH_COLUMNS = (*BULK_COLUMNS, "rows", "label_counts", "label_keys", "payload")


def _inserts(columns: tuple[str, ...]) -> dict[tuple[str, bool], str]:
    # Only constant names go into these texts; the values travel as parameters.
    names = ", ".join(columns)
    qmarks = ", ".join("?" for _ in columns)
    formats = ", ".join("%s" for _ in columns)
    return {
        ("sqlite", False): f"INSERT INTO predictions ({names}) VALUES ({qmarks})",  # noqa: S608
        ("sqlite", True): f"INSERT OR IGNORE INTO predictions ({names}) VALUES ({qmarks})",  # noqa: S608
        ("postgresql", True): (
            f"INSERT INTO predictions ({names}) VALUES ({formats}) "  # noqa: S608
            "ON CONFLICT (id) DO NOTHING"
        ),
    }


INSERTS = {columns: _inserts(columns) for columns in (BULK_COLUMNS, BATCH_COLUMNS)}


# One-row records per SQLite statement: 15 parameters each, far below SQLite's 32,766.
SQLITE_ROWS_PER_STATEMENT = 200
# The only statement sizes used: whole statements, then the rest in powers of two.
SQLITE_STATEMENT_ROWS = (SQLITE_ROWS_PER_STATEMENT, 128, 64, 32, 16, 8, 4, 2, 1)


def _sqlite_values(connection: Any, rows: list[tuple[Any, ...]], ignore: bool) -> None:
    """One-row records in multi-row `VALUES` statements. sqlite3's executemany releases and
    retakes the GIL around every row's step, and each retake waits for the request thread
    (up to the 5 ms switch interval): a flush of a busy worker's records then stretched its
    requests' tail latency. One step per 200 rows hands the GIL over 200 times less often.

    The statements come in a few fixed sizes (`statement_sizes`), not one per flush's count:
    each connection's sqlite3 statement cache keeps up to 128 prepared statements, ~2 KiB
    per row of `VALUES` each, so one text per count (a flush takes whatever arrived in its
    interval) filled it with up to ~30 MiB per pooled connection, allocated by the writer's
    thread and never freed (a worker's PSS rose 30 -> 72 MiB over ten rounds of load).
    Nine texts take ~1 MiB, and every flush reuses prepared statements."""
    start = 0
    for size in statement_sizes(len(rows)):
        flat = tuple(itertools.chain.from_iterable(rows[start : start + size]))
        connection.exec_driver_sql(_values_sql(size, ignore), flat)
        start += size


def statement_sizes(n_rows: int) -> Iterator[int]:
    """`n_rows` as statement sizes from `SQLITE_STATEMENT_ROWS`, largest first (at most
    seven statements besides the whole ones)."""
    for size in SQLITE_STATEMENT_ROWS:
        count, n_rows = divmod(n_rows, size)
        yield from itertools.repeat(size, count)


@functools.cache
def _values_sql(n_rows: int, ignore: bool) -> str:
    group = "(" + ", ".join("?" for _ in BULK_COLUMNS) + ")"
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    # Only constant names and placeholders: the values travel as parameters.
    return f"{verb} INTO predictions ({', '.join(BULK_COLUMNS)}) VALUES " + ", ".join(
        [group] * n_rows
    )


BIG_INSERT = 10_000  # rows from which a SQLite insert gets a larger page cache for its duration


def bulk_insert(
    engine: Engine,
    rows: list[tuple[Any, ...]],
    *,
    ignore_duplicates: bool = False,
    columns: tuple[str, ...] = BULK_COLUMNS,
) -> None:
    """Insert many history rows at driver speed: tuples in `columns` order (`BULK_COLUMNS`,
    or `BATCH_COLUMNS` for batch records), with the JSON columns already serialised and
    `created_at` an aware UTC datetime.

    PostgreSQL takes new rows through COPY (or an executemany that skips known ids); SQLite
    through one prepared executemany. This skips SQLAlchemy's per-value type processing,
    which costs more than the insert itself."""
    if not rows:
        return
    dialect = engine.dialect.name
    if dialect == "postgresql" and not ignore_duplicates:
        _copy_rows(engine, rows, columns)
        return
    if dialect == "sqlite":
        when = rows[0][1]
        stamp = _sqlite_time(when)
        rows = [(r[0], stamp if r[1] is when else _sqlite_time(r[1]), *r[2:]) for r in rows]
    big = dialect == "sqlite" and len(rows) >= BIG_INSERT
    with engine.connect() as connection:
        if big:
            # 64 MiB of page cache while the indexes grow by tens of thousands of rows (the
            # default 2 MiB makes every insert wait on pages the OS already has).
            connection.exec_driver_sql("PRAGMA cache_size=-65536")
        try:
            if dialect == "sqlite" and columns is BULK_COLUMNS:
                _sqlite_values(connection, rows, ignore_duplicates)
            else:
                connection.exec_driver_sql(INSERTS[columns][(dialect, ignore_duplicates)], rows)
            connection.commit()
        finally:
            if big:  # close it rather than pool a connection holding that cache
                connection.invalidate()


def as_tuples(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """One-row history records (dicts, as the services make them) as `bulk_insert` tuples."""
    dumps = orjson.dumps
    return [
        (
            r["id"],
            r["created_at"],
            r["model"],
            r["version"],
            r.get("sha256"),
            dumps(r["inputs"]).decode(),
            r.get("label"),
            None if r.get("probabilities") is None else dumps(r["probabilities"]).decode(),
            r.get("value"),
            r["latency_ms"],
            r.get("user_id"),
            r.get("token_id"),
            r["source"],
            r["request_id"],
            r.get("job_id"),
        )
        for r in records
    ]


def batch_tuples(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Batch records as `bulk_insert` tuples in `BATCH_COLUMNS` order."""
    return [
        (
            *one,
            r["rows"],
            None if r["label_counts"] is None else orjson.dumps(r["label_counts"]).decode(),
            r["label_keys"],
            r["payload"],
        )
        for one, r in zip(as_tuples(records), records, strict=True)
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The whole UTC second last formatted, and its text (one entry: replacing it is atomic).
_second: list[tuple[int, str]] = [(-1, "")]


def _sqlite_time(moment: datetime) -> str:
    """The text SQLAlchemy's DateTime stores on SQLite (`strftime("%Y-%m-%d %H:%M:%S.%f")` of
    the UTC time), formatting the date and time of day once per second: datetime's
    formatting cost more than inserting the row, once per request's record."""
    delta = moment - _EPOCH  # aware: the UTC time, whatever the zone
    second = delta.days * 86_400 + delta.seconds
    cached = _second[0]
    if cached[0] != second:
        cached = _second[0] = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{delta.microseconds:06d}"


def _copy_rows(engine: Engine, rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> None:
    statement = f"COPY predictions ({', '.join(columns)}) FROM STDIN"
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
