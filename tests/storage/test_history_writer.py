"""The history writer on SQLite and PostgreSQL: sync, async batches, spool and replay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, func, select

from modelserve.storage.history import (
    ROW_BYTES,
    SQLITE_STATEMENT_ROWS,
    HistoryUnavailableError,
    HistoryWriter,
    WriterPass,
    _sqlite_time,
    statement_sizes,
)
from modelserve.storage.tables import Base, PredictionRecord, new_record_id, utcnow


def rows(n: int) -> list[dict]:
    return [
        {
            "id": new_record_id(),
            "created_at": utcnow(),
            "model": "exam",
            "version": "1",
            "sha256": None,
            "inputs": {"estudio": i},
            "label": "Aprobado",
            "probabilities": {"Aprobado": 0.5, "Suspendido": 0.5},
            "value": None,
            "latency_ms": 1.0,
            "user_id": None,
            "token_id": None,
            "source": "api",
            "request_id": f"r{i}",
            "job_id": None,
        }
        for i in range(n)
    ]


@pytest.fixture
def engine(database_url: str):
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(PredictionRecord))


class Switchable:
    """An engine getter whose database can be made unreachable."""

    def __init__(self, engine) -> None:
        self.engine, self.down = engine, False
        self.broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")

    def __call__(self):
        return self.broken if self.down else self.engine


def test_sync_commits_before_returning(engine, tmp_path: Path) -> None:
    writer = HistoryWriter(lambda: engine, mode="sync", spool_dir=tmp_path)
    writer.record(rows(3))
    assert count(engine) == 3


def test_sync_raises_while_the_database_is_unreachable(engine, tmp_path: Path) -> None:
    switch = Switchable(engine)
    writer = HistoryWriter(switch, mode="sync", spool_dir=tmp_path)
    switch.down = True
    with pytest.raises(HistoryUnavailableError):
        writer.record(rows(1))
    switch.down = False
    writer.record(rows(1))
    assert count(engine) == 1


def test_async_writes_in_the_background_within_the_interval(engine, tmp_path: Path) -> None:
    writer = HistoryWriter(lambda: engine, mode="async", spool_dir=tmp_path, flush_interval=0.05)
    writer.record(rows(500))
    deadline = time.monotonic() + 10
    while count(engine) < 500 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count(engine) == 500
    writer.close()


def test_async_spools_while_down_and_replays_without_duplicates(engine, tmp_path: Path) -> None:
    switch = Switchable(engine)
    writer = HistoryWriter(switch, mode="async", spool_dir=tmp_path / "spool", flush_interval=60)
    batch = rows(10)
    writer.record(batch[:5])
    writer.flush()
    switch.down = True
    writer.record(batch[5:])
    writer.flush()
    assert writer.database_down and count(engine) == 5
    assert len(list((tmp_path / "spool").glob("history-*.jsonl"))) == 1
    switch.down = False
    writer.record(batch[:2])  # a retried write of rows already stored
    writer.flush()
    assert count(engine) == 10 and not writer.database_down
    assert list((tmp_path / "spool").iterdir()) == []
    writer.close()


def test_each_pass_tells_the_observer_the_queue_the_lag_and_spooling(
    engine, tmp_path: Path
) -> None:
    """What /metrics shows of the writer: rows found waiting, how long the oldest record
    written had waited since its prediction, and whether records go to the spool."""
    switch = Switchable(engine)
    writer = HistoryWriter(switch, mode="async", spool_dir=tmp_path / "spool", flush_interval=60)
    passes: list[WriterPass] = []
    writer.observer = passes.append
    old = rows(3)
    old[0]["created_at"] = utcnow() - timedelta(seconds=30)  # queued oldest first
    writer.record(old)
    writer.record(rows(2))
    writer.flush()
    assert passes[-1].queued_rows == 5 and not passes[-1].spooling
    assert passes[-1].lag_seconds is not None and 30 <= passes[-1].lag_seconds < 40
    writer.flush()  # nothing waiting, nothing written: no lag to tell
    assert passes[-1] == WriterPass(0, None, False)
    switch.down = True
    writer.record(rows(4))
    writer.flush()
    assert passes[-1] == WriterPass(4, None, True)
    switch.down = False
    writer.flush()  # the spool replayed: its records waited since they were predicted
    assert not passes[-1].spooling and passes[-1].lag_seconds is not None
    assert count(engine) == 9
    writer.close()


def test_a_failing_observer_does_not_stop_the_writes(engine, tmp_path: Path) -> None:
    writer = HistoryWriter(lambda: engine, mode="async", spool_dir=tmp_path, flush_interval=60)

    def broken(_: WriterPass) -> None:
        raise RuntimeError("metrics are down")

    writer.observer = broken
    writer.record(rows(3))
    writer.flush()  # also what a request does when the queue is over its bound: no raise
    writer.record(rows(2))
    writer.flush()
    assert count(engine) == 5
    writer.close()


def test_close_flushes_or_spools(engine, tmp_path: Path) -> None:
    switch = Switchable(engine)
    writer = HistoryWriter(switch, mode="async", spool_dir=tmp_path / "spool", flush_interval=60)
    writer.record(rows(4))
    switch.down = True
    writer.close()
    assert count(engine) == 0
    switch.down = False
    again = HistoryWriter(switch, mode="async", spool_dir=tmp_path / "spool", flush_interval=60)
    again.flush()
    assert count(engine) == 4


def test_an_orphaned_replay_is_recovered(engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "history-1.jsonl.999999999.replaying").write_text("")
    writer = HistoryWriter(lambda: engine, mode="async", spool_dir=spool)
    writer.recover_orphans()
    assert [p.name.startswith("history-999999999-orphan-") for p in spool.iterdir()] == [True]
    writer.flush()
    assert list(spool.iterdir()) == []


def test_a_live_processs_spool_is_left_to_it(engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    other = spool / "history-1.jsonl"  # pid 1 is alive and may still be appending
    other.write_text("")
    writer = HistoryWriter(lambda: engine, mode="async", spool_dir=spool)
    writer.flush()
    assert other.exists()


def bounded_writer(engine, tmp_path: Path) -> HistoryWriter:
    """An async writer that never flushes by itself, bounded at 100 one-row records."""
    return HistoryWriter(
        lambda: engine,
        mode="async",
        spool_dir=tmp_path,
        flush_interval=60,
        max_queue_bytes=100 * ROW_BYTES,
    )


def test_a_queue_over_its_bound_is_written_by_the_caller(engine, tmp_path: Path) -> None:
    writer = bounded_writer(engine, tmp_path)
    writer.record(rows(60))
    assert writer.pending() == 60  # under the bound: queued for the background thread
    writer.record(rows(60))
    assert writer.pending() == 0 and count(engine) == 120
    writer.close()


def batch_record(n: int) -> dict:
    """A batch record as `services.predictions.batch_record` makes it (payload: any bytes)."""
    return {
        **rows(1)[0],
        "inputs": {},
        "label": None,
        "probabilities": None,
        "rows": n,
        "label_counts": {"Aprobado": n - 1, "Suspendido": 1},
        "label_keys": "\nAprobado\nSuspendido\n",
        "payload": bytes(range(256)) * (n // 8),
    }


def stored_batches(engine) -> list[tuple]:
    columns = (PredictionRecord.id, PredictionRecord.rows, PredictionRecord.label_counts)
    with engine.connect() as connection:
        found = connection.execute(select(*columns, PredictionRecord.payload)).all()
    return [tuple(r) for r in found]


def test_a_batch_record_is_spooled_while_down_and_replayed_once(engine, tmp_path: Path) -> None:
    switch = Switchable(engine)
    spool = tmp_path / "spool"
    writer = HistoryWriter(switch, mode="async", spool_dir=spool, flush_interval=60)
    record = batch_record(10_000)
    switch.down = True
    writer.record([record, *rows(2)])
    assert writer.pending() == 10_002
    writer.flush()
    assert writer.database_down and writer.pending() == 0 and count(engine) == 0
    switch.down = False
    writer.record([record])  # the same record again: a retried write
    writer.flush()
    assert count(engine) == 3 and list(spool.iterdir()) == []
    [stored] = [r for r in stored_batches(engine) if r[1] > 1]
    assert stored == (record["id"], 10_000, record["label_counts"], record["payload"])
    writer.close()


def test_the_queue_bound_counts_a_batch_records_bytes(engine, tmp_path: Path) -> None:
    writer = bounded_writer(engine, tmp_path)
    writer.record([batch_record(80)])  # 80 rows, 2.5 kB of payload: well under the bound
    assert writer.pending() == 80
    writer.record([batch_record(8_000)])  # 256 kB: over it, so the caller writes
    assert writer.pending() == 0 and count(engine) == 2
    writer.close()


def test_sqlite_times_are_the_text_sqlalchemy_stores() -> None:
    now = datetime.now(UTC)
    moments = [now, now.replace(microsecond=0), now.replace(microsecond=999_999)]
    moments += [m.astimezone(timezone(timedelta(hours=-5, minutes=-30))) for m in moments]
    moments += [m + timedelta(seconds=1) for m in moments]
    for moment in moments:
        expected = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        assert _sqlite_time(moment) == expected


def test_many_records_go_in_whole_and_once_across_statements(engine, tmp_path: Path) -> None:
    # More records than one multi-row statement holds (SQLite: 200), replayed with overlap.
    writer = HistoryWriter(lambda: engine, mode="sync", spool_dir=tmp_path)
    made = rows(450)
    writer.record(made[:301])
    writer.record(made[100:])  # 201 already stored, across statement boundaries
    assert count(engine) == 450
    with engine.connect() as connection:
        found = connection.execute(select(PredictionRecord.id, PredictionRecord.inputs)).all()
    stored = {record_id: inputs for record_id, inputs in found}
    assert stored == {r["id"]: r["inputs"] for r in made}


def test_sqlite_flushes_of_any_size_share_a_few_statement_texts(tmp_path: Path) -> None:
    # Every distinct text is a prepared statement kept in the connection's cache (~2 KiB per
    # row of VALUES, up to 128 of them): one text per flush's record count held tens of MiB
    # per connection in every worker.
    engine = create_engine(f"sqlite:///{tmp_path / 'history.db'}")
    Base.metadata.create_all(engine)
    texts: set[str] = set()

    def seen(_conn, _cursor, statement: str, *_args) -> None:
        texts.add(statement)

    event.listen(engine, "before_cursor_execute", seen)
    writer = HistoryWriter(lambda: engine, mode="sync", spool_dir=tmp_path)
    for n in range(1, 420):
        writer.record(rows(n))
    assert count(engine) == sum(range(1, 420))
    inserts = {text for text in texts if text.startswith("INSERT")}
    engine.dispose()
    assert len(inserts) <= len(SQLITE_STATEMENT_ROWS)


def test_statement_sizes_add_up_to_the_rows() -> None:
    for n in range(1000):
        sizes = list(statement_sizes(n))
        assert sum(sizes) == n
        assert set(sizes) <= set(SQLITE_STATEMENT_ROWS)
        assert len(sizes) <= n // SQLITE_STATEMENT_ROWS[0] + 7
