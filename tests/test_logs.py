"""The prediction log line: one JSON object per request, the same with or without a record."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask import Flask

from modelserve.logs import JsonFormatter, JsonLinesHandler, iso_time, time_text

ROW = {"estudio": 6, "sueno": 8}


@contextmanager
def json_lines_only() -> Iterator[io.StringIO]:
    """What the app's JSON lines handler writes, instead of stderr, with no other handler
    (pytest attaches its capture handlers to non-propagating loggers at every test phase)."""
    logger = logging.getLogger("modelserve")
    before = logger.handlers[:]
    (handler,) = [h for h in before if isinstance(h, JsonLinesHandler)]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    logger.handlers = [handler]
    try:
        yield stream
    finally:
        logger.handlers = before
        handler.setStream(previous)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_prediction_writes_one_json_line(app: Flask) -> None:
    client = app.test_client()
    with json_lines_only() as stream:
        client.post("/api/v1/models/exam/predict", json=ROW, headers={"X-Request-ID": "r-1"})
    (line,) = lines(stream)
    assert line["time"].endswith("+00:00") and len(line["time"]) == 29
    assert {k: line[k] for k in ("level", "logger", "message", "event", "outcome")} == {
        "level": "info",
        "logger": "modelserve.predictions",
        "message": "prediction ok",
        "event": "prediction",
        "outcome": "ok",
    }
    assert (line["request_id"], line["rows"], line["source"]) == ("r-1", 1, "api")


def test_the_line_is_the_same_when_another_handler_gets_records(app: Flask) -> None:
    """Alone, the handler writes the line itself; with a second handler (here one like it)
    the line goes through a `LogRecord`. Both write the same JSON."""
    client, bad = app.test_client(), {"estudio": "x", "sueno": 1}
    with json_lines_only() as alone:
        client.post("/api/v1/models/exam/predict", json=bad, headers={"X-Request-ID": "r"})
    other = io.StringIO()
    extra = logging.StreamHandler(other)
    extra.setFormatter(JsonFormatter())
    with json_lines_only() as shared:
        logging.getLogger("modelserve").addHandler(extra)
        client.post("/api/v1/models/exam/predict", json=bad, headers={"X-Request-ID": "r"})
    (direct,), (first,), (second,) = lines(alone), lines(shared), lines(other)
    assert first == second
    assert _timeless(direct) == _timeless(first)
    assert direct["outcome"] == "invalid" and direct["level"] == "info"


def _timeless(line: dict) -> dict:
    return {k: v for k, v in line.items() if k not in ("time", "latency_ms")}


def test_the_time_of_a_line_is_formatted_as_datetime_would() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = time.time_ns()
    for ns in (start, start + 999_999_999, 1_764_000_000_999_999_999, 1_764_000_001_000_000_000):
        expected = (epoch + timedelta(microseconds=ns // 1000)).isoformat(timespec="milliseconds")
        assert time_text(ns) == expected
    assert iso_time(1_764_000_000.5) == "2025-11-24T16:00:00.500+00:00"
