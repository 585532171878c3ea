"""Real servers for the tests: `modelserve` under gunicorn or waitress on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pg import free_port

MODELSERVE = str(Path(sys.executable).with_name("modelserve"))


def call(
    url: str, body: object | None = None, method: str | None = None, timeout: float = 10
) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read())


@contextmanager
def serving(
    args: list[str], instance: Path, **env_vars: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`modelserve ARGS --port FREE` until ready; SIGTERM (then kill) at the end."""
    port = free_port()
    env = {**os.environ, "MODELSERVE_INSTANCE_PATH": str(instance), **env_vars}
    log = (instance.parent / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [MODELSERVE, *args, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (instance.parent / f"server-{port}.log").read_text()
            try:
                if call(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not become ready")
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
