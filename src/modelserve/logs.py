"""Structured logging: one JSON object per line on stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask


def json_line(
    when: str, level: str, logger: str, message: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """The JSON object of one log line (without its exception)."""
    entry = {
        "time": when,
        "level": level.lower(),
        "logger": logger,
        "message": message,
    }
    entry.update(fields)
    return entry


def iso_time(created: float) -> str:
    """A `time.time()` as ISO 8601 UTC with milliseconds: 2026-11-26T13:09:51.213+00:00."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


# The whole second last formatted, and its text (one entry: replacing it is atomic).
_second: list[tuple[int, str]] = [(-1, "")]


def time_text(ns: int) -> str:
    """`iso_time` of a `time.time_ns()`, with the date and time of day formatted once per
    second (datetime's formatting costs more than writing the rest of the line)."""
    second, rest = divmod(ns, 1_000_000_000)
    cached = _second[0]
    if cached[0] != second:
        cached = _second[0] = (
            second,
            datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        )
    return f"{cached[1]}.{rest // 1_000_000:03d}+00:00"


def dumps(entry: dict[str, Any]) -> str:
    return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = json_line(
            iso_time(record.created),
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "fields", {}),
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry)


class JsonLinesHandler(logging.StreamHandler):
    """Writes `JsonFormatter` lines to a stream.

    `write_fields` writes the same line as a record with those fields would give, without
    building the `LogRecord` (~20 µs: thread, process and file-name lookups nobody reads):
    `services.logfields.log_fields` uses it for the prediction line of every request when
    this handler is the only one the record would reach.

    Those per-request lines are written in batches: a line waits at most `FLUSH_AFTER` seconds
    (a flusher thread per process) or until `FLUSH_BYTES` are pending. One write to stderr per
    line had cost more than formatting it (stderr is line-buffered: a system call per request).
    Every other record (warnings, errors, start-up notes) writes the pending lines first, then
    itself at once, so the order holds; `flush` (called at exit, by `logging.shutdown` and by a
    worker that stops) writes them all, and a fork flushes first so no line is written twice.
    A process killed outright can lose the last `FLUSH_AFTER` seconds of prediction lines.
    """

    modelserve = True
    FLUSH_AFTER = 0.1
    FLUSH_BYTES = 64 * 1024

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(JsonFormatter())
        self._pending: list[str] = []
        self._size = 0
        self._flusher_pid = 0
        os.register_at_fork(before=self.flush)

    def write_fields(self, level: int, logger: str, message: str, fields: dict[str, Any]) -> None:
        name = logging.getLevelName(level)
        line = dumps(json_line(time_text(time.time_ns()), name, logger, message, fields))
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            self._size += len(line) + 1
            if self._size >= self.FLUSH_BYTES:
                self._write_pending()
            elif self._flusher_pid != os.getpid():
                self._start_flusher()

    def emit(self, record: logging.LogRecord) -> None:
        self.flush()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()
            # A stream closed under the handler (a test runner's captured stderr, the end of
            # the interpreter) has nothing left to flush into; the flusher thread used to die
            # here with a traceback.
            with contextlib.suppress(ValueError):
                super().flush()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = self.terminator.join(self._pending) + self.terminator
        self._pending.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"name": "modelserve", "msg": text[:200]}))

    def _start_flusher(self) -> None:
        """The thread that writes waiting lines, in this process (threads do not survive fork)."""
        self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_every, name="log-flusher", daemon=True).start()

    def _flush_every(self) -> None:
        pid = os.getpid()
        while self._flusher_pid == pid:
            time.sleep(self.FLUSH_AFTER)
            self.flush()


def register_logging(app: Flask) -> None:
    """Send the `modelserve` loggers to stderr as JSON lines (once per process)."""
    logger = logging.getLogger("modelserve")
    if not any(getattr(h, "modelserve", False) for h in logger.handlers):
        logger.addHandler(JsonLinesHandler())
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logger.propagate = False
