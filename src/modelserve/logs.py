"""Structured logging: one JSON object per line on stderr."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask


def json_line(
    created: float, level: str, logger: str, message: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """The JSON object of one log line (without its exception)."""
    entry = {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level.lower(),
        "logger": logger,
        "message": message,
    }
    entry.update(fields)
    return entry


def dumps(entry: dict[str, Any]) -> str:
    return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = json_line(
            record.created,
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
    """

    modelserve = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(JsonFormatter())

    def write_fields(self, level: int, logger: str, message: str, fields: dict[str, Any]) -> None:
        line = dumps(json_line(time.time(), logging.getLevelName(level), logger, message, fields))
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line + self.terminator)
                self.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"name": logger, "msg": message}))


def register_logging(app: Flask) -> None:
    """Send the `modelserve` loggers to stderr as JSON lines (once per process)."""
    logger = logging.getLogger("modelserve")
    if not any(getattr(h, "modelserve", False) for h in logger.handlers):
        logger.addHandler(JsonLinesHandler())
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logger.propagate = False
