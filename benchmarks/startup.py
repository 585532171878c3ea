"""Start-up of `modelserve serve` alone: launch to the first 200 of /readyz (warm-up passed).

    .venv/bin/python benchmarks/startup.py [--runs 5] [--models exam exam-legacy iris]

Each round starts the server twice on a new instance folder: first on a fresh database
(created and migrated), then on the database left at head, as every restart finds it. Prints
the median wall-clock seconds to ready of each kind and the CPU seconds the server's processes
spent until then (steadier than wall-clock on a shared machine: start-up is one busy process).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
from pathlib import Path

from run import STARTUP, VENV_BIN, Server, cpu_seconds, running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (" + ", ".join(f"{v:.2f}" for v in values) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["exam"], help="demo model names")
    args = parser.parse_args()
    from modelserve.demo import ensure_demo_models

    with tempfile.TemporaryDirectory(prefix="modelserve-startup-") as tmp:
        work = Path(tmp)
        ensure_demo_models(work / "models")
        argv = [str(VENV_BIN / "modelserve"), "serve"]
        argv += [str(work / "models" / m) for m in args.models] + ["--port", "{port}"]
        kinds = ("fresh database", "database at head")
        wall: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        for i in range(args.runs):
            env = {"MODELSERVE_INSTANCE_PATH": str(work / f"instance-{i}")}
            for kind in kinds:
                with running(Server("modelserve", argv, "/readyz", env), free_port(), work) as p:
                    cpu[kind].append(cpu_seconds(p.pid))
                    wall[kind].append(STARTUP["modelserve"])
    for kind in kinds:
        print(f"{kind}: ready after {median(wall[kind])} s; CPU {median(cpu[kind])} s")


if __name__ == "__main__":
    main()
