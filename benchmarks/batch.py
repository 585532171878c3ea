"""Batch scoring of a big CSV: rows/s end to end and how much the process grows.

    make bench-batch            # or: .venv/bin/python benchmarks/batch.py [--rows 1000000]

Each scenario runs in a fresh process (so peak RSS is its own) on the same generated CSV of
the demo `exam` model (estudio, sueno, and a text column), and scores the whole file:

- `pandas baseline`: what a notebook does - `read_csv` the whole file, `predict_proba`,
  `to_csv` the whole result. Measured in the same run, so the ratios survive a noisy machine.
- `modelserve job`: a job through the real job runner - detect the format, read and validate
  in chunks, score, write the result and the errors report, and (unless `history off`) record
  every row in the prediction history (SQLite in a temp folder, or PostgreSQL with --postgres).

Growth is the peak RSS during the scoring minus the RSS just before it (sampled every 20 ms
from /proc/self/statm), so loading libraries and the model is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class Peak:
    """The highest RSS seen while the block runs."""

    def __enter__(self) -> Peak:
        self.start = rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def make_csv(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    study = rng.uniform(0, 12, rows).round(2)
    sleep = rng.uniform(3, 10, rows).round(2)
    with path.open("w") as out:
        out.write("estudio,sueno,alumno\n")
        block = 100_000
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            out.writelines(f"{study[i]},{sleep[i]},s{i}\n" for i in range(start, stop))


def models_folder(work: Path) -> Path:
    from modelserve.demo import ensure_demo_models

    folder = work / "models"
    folder.mkdir(exist_ok=True)
    ensure_demo_models(folder)
    return folder


def run_pandas(csv_path: Path, work: Path) -> dict[str, float]:
    import joblib
    import pandas as pd

    pipeline = joblib.load(next((models_folder(work) / "exam").glob("*.joblib")))
    with Peak() as peak:
        started = time.perf_counter()
        frame = pd.read_csv(csv_path)
        x = frame[["estudio", "sueno"]].to_numpy()
        proba = pipeline.predict_proba(x)
        frame["label"] = pipeline.classes_[proba.argmax(axis=1)]
        for i, name in enumerate(pipeline.classes_):
            frame[f"probability_{name}"] = proba[:, i]
        frame.to_csv(work / "pandas-result.csv", index=False)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "growth_mib": peak.growth_mib}


def run_job(csv_path: Path, work: Path, history: bool, database: str) -> dict[str, float]:
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from modelserve.runtime.registry import Registry, load_source
    from modelserve.services import jobs
    from modelserve.services.predictions import Caller
    from modelserve.storage.tables import Base, PredictionRecord

    folder = models_folder(work)
    registry = Registry([load_source(p) for p in sorted(folder.iterdir())])
    registry.warm_up()
    engine = create_engine(database or f"sqlite:///{work / 'bench.db'}")
    import modelserve.database  # noqa: F401 - the SQLite pragmas the app uses

    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    settings = jobs.JobSettings(folder=work / "jobs", history=history)
    runner = jobs.JobRunner(lambda: engine, registry, settings)
    with Peak() as peak:
        started = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session, csv_path.open("rb") as upload:
            job = jobs.create(
                session,
                settings,
                registry.get("exam"),
                upload,
                filename=csv_path.name,
                caller=Caller("api", "bench"),
            )
            jobs.start(session, job)
        assert runner.claim(job.id)
        runner.run(job.id)
        seconds = time.perf_counter() - started
    with Session(engine) as session:
        done = session.get(jobs.Job, job.id)
        assert done is not None and done.status == "succeeded", done and done.error
        recorded = session.scalar(select(func.count()).select_from(PredictionRecord))
    return {
        "seconds": seconds,
        "rows": done.rows_scored,
        "growth_mib": peak.growth_mib,
        "recorded": recorded or 0,
    }


def child(args: argparse.Namespace) -> None:
    work, csv_path = Path(args.work), Path(args.csv)
    if args.scenario == "pandas":
        result = run_pandas(csv_path, work)
    else:
        result = run_job(csv_path, work, args.scenario == "job", args.database)
    print(json.dumps(result))


def scenario(name: str, args: argparse.Namespace, work: Path, csv_path: Path) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", name, "--work", str(work), "--csv", str(csv_path)]
    if args.postgres:
        argv += ["--database", args.postgres]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL for the history")
    parser.add_argument("--output", default="")
    parser.add_argument("--child", default="")
    parser.add_argument("--work", default="")
    parser.add_argument("--csv", default="")
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    if args.child:
        args.scenario = args.child
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        csv_path = work / "exam.csv"
        make_csv(csv_path, args.rows)
        names = {
            "pandas": "pandas baseline (read_csv, predict_proba, to_csv)",
            "job-no-history": "modelserve job, history off",
            "job": "modelserve job, history on ("
            + ("PostgreSQL" if args.postgres else "SQLite")
            + ")",
        }
        results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for _ in range(args.runs):
            for name in names:
                results[name].append(scenario(name, args, work, csv_path))
        size = csv_path.stat().st_size / 2**20
    base = min(r["seconds"] for r in results["pandas"])
    lines = [
        f"Batch scoring: {args.rows:,} rows of `exam` ({size:.0f} MiB CSV), "
        f"{platform.machine()}, {os.cpu_count()} CPUs, best of {args.runs} run(s)",
        "",
        "| scenario | seconds | rows/s | speed vs pandas | RSS growth MiB | history rows |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in names.items():
        best = min(results[name], key=lambda r: r["seconds"])
        lines.append(
            f"| {label} | {best['seconds']:.2f} | {best['rows'] / best['seconds']:,.0f} | "
            f"{base / best['seconds']:.2f} | {best['growth_mib']:.0f} | "
            f"{int(best.get('recorded', 0)):,} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")


if __name__ == "__main__":
    main()
