"""The prediction log line: one JSON object per request, the same with or without a record."""

from __future__ import annotations

import io
import json
import logging
import threading
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


def fields_line(handler: JsonLinesHandler, n: int) -> None:
    handler.write_fields(logging.INFO, "modelserve.predictions", f"prediction {n}", {"n": n})


def test_prediction_lines_are_written_in_batches_within_the_interval() -> None:
    handler = JsonLinesHandler()
    handler.setStream(stream := io.StringIO())
    for n in range(3):
        fields_line(handler, n)
    deadline = time.monotonic() + 10
    while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # the flusher thread writes them, unasked
    assert [line["n"] for line in lines(stream)] == [0, 1, 2]


def test_any_other_record_writes_the_waiting_lines_first() -> None:
    handler = JsonLinesHandler()
    handler.FLUSH_AFTER = 3600  # only the record can write them now
    handler.setStream(stream := io.StringIO())
    fields_line(handler, 1)
    fields_line(handler, 2)
    handler.handle(logging.makeLogRecord({"name": "modelserve", "msg": "boom", "levelno": 40}))
    assert [line.get("n", line["message"]) for line in lines(stream)] == [1, 2, "boom"]


FORKED = """
import logging, os, sys
from modelserve.logs import JsonLinesHandler
handler = JsonLinesHandler()
handler.FLUSH_AFTER = 3600
handler.setStream(open(sys.argv[1], "a", buffering=1))
handler.write_fields(logging.INFO, "m", "before fork", {})
pid = os.fork()
if pid == 0:
    handler.write_fields(logging.INFO, "m", "child", {})
    handler.flush()
    os._exit(0)
os.waitpid(pid, 0)
handler.write_fields(logging.INFO, "m", "parent", {})
logging.shutdown()  # handlers flush at exit
handler.flush()
"""


def test_a_fork_writes_no_waiting_line_twice(tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "log.jsonl"
    subprocess.run([sys.executable, "-c", FORKED, str(out)], check=True)
    messages = [json.loads(line)["message"] for line in out.read_text().splitlines()]
    assert sorted(messages) == ["before fork", "child", "parent"]
    assert messages[0] == "before fork"


def test_a_stream_closed_under_the_handler_does_not_kill_its_flusher(tmp_path) -> None:
    handler = JsonLinesHandler()
    handler.FLUSH_AFTER = 0.01
    handler.setStream(stream := open(tmp_path / "err", "w"))  # noqa: SIM115 - closed below
    fields_line(handler, 1)  # starts the flusher thread
    deadline = time.monotonic() + 10
    while not (tmp_path / "err").read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    stream.close()  # as pytest closes its captured stderr at the end of a run
    handler.flush()  # raised ValueError: I/O operation on closed file
    flushers = [t for t in threading.enumerate() if t.name == "log-flusher" and t.is_alive()]
    time.sleep(0.05)  # a few rounds of the flusher
    assert all(t.is_alive() for t in flushers)
    handler._flusher_pid = 0  # stops it
