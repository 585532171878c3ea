"""CPU per row of recording one large request in the history, in one process.

    .venv/bin/python benchmarks/history_record.py [--rows 10000] [--repeats 9]
                                                  [--database-url URL]

A request of `--rows` rows of the demo `exam` model is predicted once; then, for one record
per row (`HISTORY_BATCH_ROWS=0`, as before batch records) and one batch record (the default),
alternating, the records are built (`services.predictions.history_rows`) and written (the
async writer's flush: a multi-row insert on SQLite in a temporary folder, or the given
database). The best of `--repeats` of `time.process_time` per row is printed for each part
and for the whole service call with history (validate, predict, record, flush).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine

from modelserve.demo import ensure_demo_models
from modelserve.runtime.registry import Registry, load_source
from modelserve.services import predictions
from modelserve.storage.history import HistoryWriter
from modelserve.storage.tables import Base

MODES = {"one record per row": 0, "one batch record": 100}


def best(run: Callable[[], object], repeats: int) -> float:
    """The least CPU seconds (all threads) of `repeats` runs."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="history-record-"))
    ensure_demo_models(work / "models")
    registry = Registry([load_source(work / "models" / "exam")], timeout=10)
    registry.warm_up()
    engine = create_engine(args.database_url or f"sqlite:///{work / 'history.db'}")
    Base.metadata.create_all(engine)
    rows = [{"estudio": (i * 0.37) % 24, "sueno": (i % 97) / 7} for i in range(args.rows)]
    caller = predictions.Caller("api", request_id="bench")
    outcome = predictions.predict(registry, "exam", rows, caller)
    writers = {
        name: HistoryWriter(
            lambda: engine,
            mode="async",
            spool_dir=work / "spool",
            flush_interval=3600,
            batch_rows=threshold,
        )
        for name, threshold in MODES.items()
    }
    results: dict[str, dict[str, float]] = {name: {} for name in MODES}
    for _ in range(2):  # alternate A/B, keep the best of both rounds
        for name, writer in writers.items():

            def build(writer: HistoryWriter = writer) -> object:
                return predictions.history_rows(outcome, caller, writer.batch_rows)

            def record(writer: HistoryWriter = writer) -> None:
                writer.record(build(writer))
                writer.flush()

            def whole(writer: HistoryWriter = writer) -> None:
                predictions.predict(registry, "exam", rows, caller, recorder=writer)
                writer.flush()

            for part, run in (("build", build), ("build + write", record), ("service", whole)):
                seconds = best(run, args.repeats)
                results[name][part] = min(results[name].get(part, seconds), seconds)
    print(f"| {args.rows:,} rows, µs CPU per row | build | build + write | whole service call |")
    print("|---|---|---|---|")
    for name, parts in results.items():
        cells = " | ".join(f"{parts[p] * 1e6 / args.rows:.3f}" for p in parts)
        print(f"| {name} | {cells} |")
    for writer in writers.values():
        writer.close()
    engine.dispose()


if __name__ == "__main__":
    main()
