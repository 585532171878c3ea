"""Memory of `modelserve serve` (the demo `exam` model) through a load, process by process.

    .venv/bin/python benchmarks/memory.py [--single 2000] [--batches 30] [VAR=VALUE ...]

Starts the server as `make bench` does, then prints the RSS, PSS and private dirty MiB of the
master and each worker: idle, after `--single` one-row JSON predictions, after `--batches`
10,000-row ones, and 5 s later. VAR=VALUE pairs go into the server's environment, to compare
settings such as `MALLOC_MMAP_THRESHOLD_=131072` (see docs/deploying.md).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from run import BATCH_ROWS, ROW, VENV_BIN, Server, free_port, get, running, tree

JSON = {"Content-Type": "application/json"}


def processes(pid: int) -> list[tuple[int, int, int, int]]:
    """(pid, RSS, PSS, private dirty) in MiB for the server and its workers."""
    found = []
    for p in tree(pid):
        text = Path(f"/proc/{p}/smaps_rollup").read_text()
        sizes = [
            int(re.search(rf"^{key}:\s+(\d+)", text, re.M).group(1)) // 1024  # type: ignore[union-attr]
            for key in ("Rss", "Pss", "Private_Dirty")
        ]
        found.append((p, *sizes))
    return found


def report(moment: str, pid: int) -> None:
    found = processes(pid)
    each = ", ".join(f"{p}: {rss}/{pss}/{dirty}" for p, rss, pss, dirty in found)
    print(f"| {moment} | {sum(f[2] for f in found)} | {each} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("env", nargs="*", help="VAR=VALUE for the server's environment")
    args = parser.parse_args()
    from modelserve.demo import ensure_demo_models

    with tempfile.TemporaryDirectory(prefix="modelserve-memory-") as tmp:
        work = Path(tmp)
        ensure_demo_models(work / "models")
        env = {"MODELSERVE_INSTANCE_PATH": str(work / "instance")}
        env.update(pair.split("=", 1) for pair in args.env)
        serve = [str(VENV_BIN / "modelserve"), "serve", str(work / "models" / "exam")]
        server = Server("modelserve", [*serve, "--port", "{port}"], "/readyz", env)
        port = free_port()
        url = f"http://127.0.0.1:{port}/api/v1/models/exam/predict"
        one = json.dumps(ROW).encode()
        rows = [{"estudio": i % 10, "sueno": (i * 7) % 10} for i in range(BATCH_ROWS)]
        batch = json.dumps({"instances": rows}).encode()
        with running(server, port, work) as process:
            print("| moment | PSS MiB (all) | pid: RSS/PSS/private dirty MiB |\n|---|---|---|")
            time.sleep(1)
            report("idle", process.pid)
            for _ in range(args.single):
                assert get(url, one, JSON)[0] == 200
            report(f"after {args.single:,} single rows", process.pid)
            for _ in range(args.batches):
                assert get(url, batch, JSON)[0] == 200
            report(f"after {args.batches} x {BATCH_ROWS:,} rows", process.pid)
            time.sleep(5)
            report("5 s later", process.pid)


if __name__ == "__main__":
    main()
