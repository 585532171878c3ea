"""A real Redis server for the Celery tests: Debian's `redis-server` on a free port.

`scripts/system-deps` installs it. Nothing is written to disk: no snapshots, no AOF.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.pg import free_port


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """`redis-server` on 127.0.0.1 until the block ends; yields its URL (without a db)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise RuntimeError("redis-server is not installed: run scripts/system-deps")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "redis.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, folder)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(process: subprocess.Popen, url: str, folder: Path) -> None:
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((folder / "redis.log").read_text())
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 20 s")
    finally:
        client.close()
