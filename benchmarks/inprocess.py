"""CPU per request inside one process: the WSGI app called directly, no server, no network.

    .venv/bin/python benchmarks/inprocess.py [--calls 2000] [--repeats 7] [--history off]
                                             [--profile NAME]

The app is built as `modelserve serve` builds it (the demo `exam` model, defaults: history
`async` on SQLite, metrics in multiprocess mode, the verified fast path, `gc.freeze()`), and
every scenario is called `--calls` times in a row (the 10,000-row batch `--calls` / 200
times); the best of `--repeats` of `time.process_time` per call is printed, with the rows
per second of CPU it amounts to (all threads count, the history writer's included).
`--history off` gives the app no history recorder, to see what the rest of the path costs.
`--profile NAME` prints a cProfile of that scenario instead; `--tail NAME` the distribution of
its wall time per request, with the history writer's and the job threads running as in a
gunicorn worker, and how many of the slowest 1% overlapped a history flush.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
ROW = {"estudio": 6, "sueno": 8}
BATCH_ROWS = 10_000
# The batch body of `benchmarks/run.py`: 10,000 rows of the exam model.
BATCH = {
    "instances": [
        {"estudio": (i % 97) / 9.7, "sueno": 3 + (i % 71) / 10.1} for i in range(BATCH_ROWS)
    ]
}


def caller(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> Callable:
    """One request to the WSGI app per call, with the environ a server would build."""
    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    if "HTTP_CONTENT_TYPE" in base:
        base["CONTENT_TYPE"] = base.pop("HTTP_CONTENT_TYPE")
    status: list[str] = []

    def start_response(code: str, _headers: list, _exc: Any = None) -> None:
        status.append(code)

    def call() -> bytes:
        environ = {**base, "wsgi.input": io.BytesIO(body)}
        out = b"".join(app(environ, start_response))
        if not status.pop().startswith("200"):
            raise SystemExit(f"{method} {path} answered {out[:300]!r}")
        return out

    return call


def form_caller(app: Any) -> Callable:
    """A form POST with a session cookie and its CSRF token, as a browser sends it."""
    page = app.test_client().get("/models/exam")
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    token = CSRF_RE.search(page.get_data(as_text=True))
    assert token, "no CSRF token on /models/exam"
    body = urlencode({"csrf_token": token.group(1), "f0": "6", "f1": "8"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    return caller(app, "POST", "/models/exam", body, headers)


def build(work: Path) -> Any:
    os.environ["MODELSERVE_INSTANCE_PATH"] = str(work / "instance")
    from modelserve.demo import ensure_demo_models
    from modelserve.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir(work / "instance")
    from modelserve.app import create_app
    from modelserve.database import upgrade

    folders = ensure_demo_models(work / "models")
    config = {"MODELS": [str(f) for f in folders if f.name == "exam"], "BATCHING": False}
    upgrade(create_app({**config, "LOAD_MODELS": False}))
    app = create_app(config)
    gc.freeze()
    return app


def measure(call: Callable, calls: int, repeats: int) -> float:
    """The best CPU µs per call over `repeats` runs of `calls` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - start) / calls)
    return best * 1e6


def tail(app: Any, call: Callable, calls: int) -> None:
    """Wall time per request while the worker's background threads run; flushes timed."""
    writer = app.extensions["modelserve.history"]
    flushes: list[tuple[float, float]] = []
    flush = writer.flush

    def timed_flush() -> None:
        start = time.perf_counter()
        flush()
        flushes.append((start, time.perf_counter()))

    writer.flush = timed_flush
    app.extensions["modelserve.executor"].start()  # as gunicorn's post_worker_init does
    spans = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        spans.append((start, time.perf_counter()))
    walls = sorted(end - start for start, end in spans)
    cut = walls[int(len(walls) * 0.99)]
    slow = [(s, e) for s, e in spans if e - s >= cut]
    hit = sum(any(fs < e and fe > s for fs, fe in flushes) for s, e in slow)
    print(
        "| p50 | p90 | p99 | p99.9 | max | flushes | slowest 1% during a flush |\n"
        "|---|---|---|---|---|---|---|\n"
        + "".join(f"| {walls[int(len(walls) * q)] * 1e6:,.0f} µs " for q in (0.5, 0.9, 0.99, 0.999))
        + f"| {walls[-1] * 1e6:,.0f} µs | {len(flushes)} | {hit} of {len(slow)} |"
    )
    app.extensions["modelserve.executor"].stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--history", choices=["on", "off"], default="on")
    parser.add_argument("--profile", help="scenario to profile instead of timing")
    parser.add_argument("--tail", help="scenario whose wall time per request to distribute")
    args = parser.parse_args()
    from apps.floor import app as floor

    with tempfile.TemporaryDirectory(prefix="modelserve-inprocess-") as tmp:
        app = build(Path(tmp))
        writer = app.extensions["modelserve.history"]
        if args.history == "off":
            app.extensions["modelserve.history"] = None
        json_headers = {"Content-Type": "application/json"}
        predict = "/api/v1/models/exam/predict"
        # name: (call, rows per call, calls per run)
        scenarios = {
            "floor hello (GET)": (caller(floor, "GET", "/", b"", {}), 1, args.calls),
            "single row JSON": (
                caller(app, "POST", predict, json.dumps(ROW).encode(), json_headers),
                1,
                args.calls,
            ),
            "form POST": (form_caller(app), 1, args.calls),
            "batch 10k JSON": (
                caller(app, "POST", predict, json.dumps(BATCH).encode(), json_headers),
                BATCH_ROWS,
                max(1, args.calls // 200),
            ),
        }
        for call, _, _ in scenarios.values():
            call()  # warm: first-request work is not per-request cost
        if args.tail:
            tail(app, scenarios[args.tail][0], args.calls)
        elif args.profile:
            call, _, calls = scenarios[args.profile]
            profiler = cProfile.Profile()
            profiler.runcall(measure, call, calls, 1)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        else:
            print(f"history {args.history}\n")
            print("| scenario | CPU µs/request | rows/s of CPU |\n|---|---|---|")
            for name, (call, rows, calls) in scenarios.items():
                micros = measure(call, calls, args.repeats)
                print(f"| {name} | {micros:,.0f} | {rows / micros * 1e6:,.0f} |")
        writer.close()


if __name__ == "__main__":
    main()
