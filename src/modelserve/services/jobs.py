"""Batch scoring: a file becomes a job, a job is scored in chunks, its result is a file.

The life of a job: `create` stores the upload under a generated name and reads its format
("uploaded"); `start` queues it ("queued"); an executor's worker `claim`s it ("running") and
`run`s it chunk by chunk, writing the result, the errors report, the history (in bulk) and
its progress, until it is "succeeded", "failed" or "cancelled". The state lives in the
database, so any web process can answer about any job; the files live in a folder named by
the job's random id, shared by every worker (the instance folder by default).

A worker that dies cannot say so: `reap` marks its jobs failed, by process id on the same
host, or when their heartbeat is older than `stale_after` seconds.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
from sqlalchemy import Engine, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..processes import alive
from ..runtime import messages
from ..runtime.errors import FieldError
from ..runtime.predictor import Prediction, plain
from ..runtime.registry import LoadedModel, Registry
from ..runtime.tabular import (
    CheckedChunk,
    ColumnMap,
    Kind,
    TableError,
    TableFormat,
    check_chunk,
    detect,
    map_columns,
    read,
    sample,
    spool,
)
from ..storage.history import bulk_insert
from ..storage.tables import JOB_ACTIVE, JOB_FINISHED, Job, PredictionRecord, utcnow
from . import results
from .logfields import log_fields
from .predictions import Caller
from .results import ANSWERS, ERRORS, INPUT, META, ResultWriter, write_errors

log = logging.getLogger("modelserve.jobs")
Translate = Callable[[str], str]


@dataclass(frozen=True)
class JobSettings:
    folder: Path
    chunk_rows: int = 50_000
    max_rows: int = 5_000_000
    max_bytes: int = 1 << 30
    sync_rows: int = 10_000
    result_ttl: timedelta = timedelta(days=7)
    stale_after: float = 120.0
    history: bool = True
    max_active: int = 5  # jobs per user waiting or running at once (0: no limit)


class JobNotFoundError(Exception):
    """No job has this id, or the caller may not see it (the same answer: no probing)."""


class JobStateError(Exception):
    """The job is not in a state that allows this (e.g. downloading an unfinished result)."""

    def __init__(self, job: Job, action: str) -> None:
        super().__init__(f"job {job.id} is {job.status}: cannot {action}")
        self.job = job
        self.action = action


class FileRejectedError(Exception):
    """The uploaded file cannot be scored; `problem` says why (a `TableError`)."""

    def __init__(self, problem: TableError) -> None:
        super().__init__(problem.code)
        self.problem = problem


class TooManyJobsError(Exception):
    """The user already has `limit` jobs waiting or running."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} jobs are already waiting or running")
        self.limit = limit


class StrictRejectedError(Exception):
    """Strict mode: some rows are invalid, so nothing was scored."""

    def __init__(self, errors: list[FieldError], total: int) -> None:
        super().__init__(f"{total} invalid row(s)")
        self.errors = errors
        self.total = total


@dataclass(frozen=True)
class Owner:
    """Who a job belongs to, and whether they may see everyone's (admins)."""

    user_id: int | None
    admin: bool = False


def new_job_id() -> str:
    return secrets.token_hex(16)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- files ------------------------------------------------------------------------------
def job_folder(settings: JobSettings, job_id: str) -> Path:
    return settings.folder / job_id


# -- creating and starting --------------------------------------------------------------
def create(
    session: Session,
    settings: JobSettings,
    model: LoadedModel,
    upload: IO[bytes],
    *,
    filename: str,
    caller: Caller,
    strict: bool = False,
    kind: Kind | None = None,
    executor: str = "local",
) -> Job:
    """Store the upload under a generated name and read its format; raise
    `FileRejectedError` (and keep nothing) if it cannot be scored, `TooManyJobsError` if the
    user has enough jobs in flight (disk and workers are shared)."""
    if settings.max_active and caller.user_id is not None:
        active = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.user_id == caller.user_id, Job.status.in_(("uploaded", *JOB_ACTIVE)))
        )
        if (active or 0) >= settings.max_active:
            raise TooManyJobsError(settings.max_active)
    job_id = new_job_id()
    folder = job_folder(settings, job_id)
    folder.mkdir(parents=True, mode=0o700)
    try:
        size = spool(upload, folder / INPUT, settings.max_bytes)
        features = model.manifest.features
        fmt = detect(folder / INPUT, features, kind)
        if settings.max_rows and fmt.rows_estimate > settings.max_rows:
            raise TableError("too_many_rows", max=settings.max_rows)
        columns = map_columns(fmt.header, features)
        if not columns.ready:
            raise TableError("missing_columns", features=columns.missing_required)
    except TableError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise FileRejectedError(exc) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = Job(
        id=job_id,
        model=model.name,
        version=model.manifest.version,
        user_id=caller.user_id,
        token_id=caller.token_id,
        source=caller.source,
        request_id=caller.request_id,
        filename=_label(filename),
        size=size,
        table_format=fmt.to_json(),
        strict=strict,
        executor=executor,
        status="uploaded",
        rows_total=fmt.rows_estimate,
        created_at=utcnow(),
        expires_at=utcnow() + settings.result_ttl,
    )
    session.add(job)
    session.commit()
    return job


def _label(filename: str) -> str:
    """The client's file name, kept only to show it back: no folders, no control characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "upload"


def start(session: Session, job: Job) -> Job:
    """Queue an uploaded job for a worker."""
    if job.status != "uploaded":
        raise JobStateError(job, "start")
    job.status = "queued"
    job.queued_at = utcnow()
    session.commit()
    return job


def cancel(session: Session, settings: JobSettings, job: Job) -> Job:
    """Cancel at once what has not started; ask a running job's worker to stop."""
    if job.status in JOB_FINISHED:
        raise JobStateError(job, "cancel")
    if job.status == "running":
        job.cancel_requested = True
        session.commit()
        return job
    job.status = "cancelled"
    job.finished_at = utcnow()
    session.commit()
    delete_files(settings, job)
    session.commit()
    return job


def delete_files(settings: JobSettings, job: Job) -> None:
    shutil.rmtree(job_folder(settings, job.id), ignore_errors=True)
    job.files_deleted = True


# -- reading ------------------------------------------------------------------------------
def get(session: Session, owner: Owner, job_id: str) -> Job:
    job = session.get(Job, job_id) if len(job_id) == 32 else None
    if job is None or not (owner.admin or job.user_id == owner.user_id):
        raise JobNotFoundError(job_id)
    return job


def listing(session: Session, owner: Owner, limit: int = 100) -> list[Job]:
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if not owner.admin:
        query = query.where(Job.user_id == owner.user_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Preview:
    format: TableFormat
    columns: ColumnMap
    rows: list[Sequence[Any]]


def preview(settings: JobSettings, model: LoadedModel, job: Job, rows: int = 5) -> Preview:
    fmt = TableFormat.from_json(job.table_format)
    features = model.manifest.features
    columns = map_columns(fmt.header, features)
    path = job_folder(settings, job.id) / INPUT
    first = sample(path, fmt, columns, features, rows) if path.exists() else []
    return Preview(fmt, columns, first)


def progress(job: Job, now: datetime | None = None) -> dict[str, Any]:
    """Rows done of the total, the rate so far and the time left at that rate."""
    now = now or utcnow()
    total = max(job.rows_total, job.rows_done)
    rate = None
    left = None
    if job.started_at is not None and job.rows_done:
        end = job.finished_at or job.heartbeat_at or now
        seconds = max((end - job.started_at).total_seconds(), 1e-3)
        rate = job.rows_done / seconds
        if job.status == "running":
            left = max(total - job.rows_done, 0) / rate
    percent = (
        100.0 if job.status == "succeeded" else (100.0 * job.rows_done / total if total else 0.0)
    )
    return {
        "rows_total": total,
        "rows_done": job.rows_done,
        "rows_scored": job.rows_scored,
        "rows_rejected": job.rows_rejected,
        "percent": round(min(percent, 100.0), 1),
        "rows_per_second": None if rate is None else round(rate, 1),
        "seconds_left": None if left is None else round(left, 1),
    }


def as_json(job: Job, translate: Translate = lambda s: s) -> dict[str, Any]:
    return {
        "id": job.id,
        "model": job.model,
        "version": job.version,
        "status": job.status,
        "filename": job.filename,
        "size": job.size,
        "strict": job.strict,
        "format": {k: v for k, v in job.table_format.items() if k != "rows_estimate"},
        "notes": [messages.render_code(messages.FILE_NOTES, n, (), translate) for n in _notes(job)],
        "progress": progress(job),
        "cancel_requested": job.cancel_requested,
        "error": None if job.error_code is None else {"code": job.error_code, "message": job.error},
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at and job.started_at.isoformat(),
        "finished_at": job.finished_at and job.finished_at.isoformat(),
        "expires_at": job.expires_at and job.expires_at.isoformat(),
        "result_available": job.status in ("succeeded",) and not job.files_deleted,
    }


def _notes(job: Job) -> list[str]:
    return list(job.table_format.get("notes", ()))


# -- the worker side ----------------------------------------------------------------------
class Interrupted(Exception):
    """The worker is shutting down: the job goes back to the queue."""


@dataclass
class Tally:
    done: int = 0
    scored: int = 0
    rejected: int = 0


class JobRunner:
    """Claims and scores jobs. One per process; used by every executor and the sync API."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        registry: Registry,
        settings: JobSettings,
    ) -> None:
        self._engine = engine
        self.registry = registry
        self.settings = settings
        self.stopping = threading.Event()
        self._last_housekeeping = 0.0

    def session(self) -> Session:
        return Session(self._engine(), expire_on_commit=False)

    def claim(self, job_id: str, *, waiting: str = "queued") -> bool:
        """Take a queued job for this worker; False if another took it (or it was cancelled).
        The synchronous API takes its own job straight from "uploaded"."""
        now = utcnow()
        with self.session() as session:
            taken = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == waiting)
                .values(
                    status="running",
                    worker=worker_name(),
                    started_at=now,
                    heartbeat_at=now,
                    rows_done=0,
                    rows_scored=0,
                    rows_rejected=0,
                )
            )
            session.commit()
            return bool(getattr(taken, "rowcount", 0) == 1)

    def claim_next(self, executor: str = "local") -> str | None:
        with self.session() as session:
            queued = session.scalars(
                select(Job.id)
                .where(Job.status == "queued", Job.executor == executor)
                .order_by(Job.queued_at)
                .limit(5)
            ).all()
        for job_id in queued:
            if self.claim(job_id):
                return job_id
        return None

    def run(self, job_id: str) -> None:
        """Score a claimed job to its end; every outcome is written to the job row."""
        with self.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != "running":
                return
            started = time.perf_counter()
            try:
                tally = self._score(session, job)
            except Interrupted:
                self._requeue(session, job)
                return
            except TableError as exc:
                self._fail(session, job, exc.code, _file_message(exc))
                return
            except StrictRejectedError as exc:
                job.rows_rejected = exc.total
                self._fail(
                    session,
                    job,
                    "strict",
                    f"{exc.total} row(s) are invalid; in strict mode nothing was scored",
                    keep_errors=True,
                )
                return
            except Exception as exc:  # the job fails, the worker lives on
                log.exception("job %s failed", job_id)
                self._fail(session, job, "internal", f"internal error ({type(exc).__name__})")
                return
            if tally is None:
                return  # cancelled
            job.status = "succeeded"
            job.rows_total = tally.done
            job.finished_at = utcnow()
            job.expires_at = job.finished_at + self.settings.result_ttl
            session.commit()
            log_fields(
                log,
                logging.INFO,
                "job succeeded",
                {
                    "event": "job",
                    "job_id": job.id,
                    "model": job.model,
                    "rows": tally.done,
                    "scored": tally.scored,
                    "rejected": tally.rejected,
                    "seconds": round(time.perf_counter() - started, 3),
                    "outcome": "succeeded",
                },
            )

    def _score(self, session: Session, job: Job) -> Tally | None:
        model = self.registry.get(job.model)
        fmt = TableFormat.from_json(job.table_format)
        features = model.manifest.features
        columns = map_columns(fmt.header, features)
        folder = job_folder(self.settings, job.id)
        path = folder / INPUT
        if not path.exists():
            raise TableError("empty_file")
        settings = self.settings
        chunks = lambda: read(  # noqa: E731
            path, fmt, columns, features, chunk_rows=settings.chunk_rows, max_rows=settings.max_rows
        )
        self._forget_history(job)
        if job.strict:
            self._validate_everything(job, model, chunks())
        history = _Pipe(self._engine) if settings.history else None
        with ResultWriter(folder, model, fmt) as result, history or contextlib.nullcontext():
            tally = Tally()
            for chunk in chunks():
                if self.stopping.is_set():
                    raise Interrupted
                checked = check_chunk(model.schema, chunk)
                began = time.perf_counter()
                prediction = model.engine.run(checked.columns) if len(checked.kept) else None
                seconds = time.perf_counter() - began
                result.add(chunk, checked, prediction)
                if prediction is not None and history is not None:
                    records = _history_rows(job, model, checked, prediction, chunk.start, seconds)
                    history.put(records)
                tally.done += len(chunk)
                tally.scored += len(checked.kept)
                tally.rejected += len(chunk) - len(checked.kept)
                if not self._report(session, job, tally):
                    self._cancelled(session, job)
                    return None
        if not tally.done:
            raise TableError("no_rows")  # only blank lines under the header
        return tally

    def _validate_everything(self, job: Job, model: LoadedModel, chunks: Iterator[Any]) -> None:
        errors: list[FieldError] = []
        total = 0
        folder = job_folder(self.settings, job.id)
        with (folder / ERRORS).open("wb") as out:
            for chunk in chunks:
                if self.stopping.is_set():
                    raise Interrupted
                checked = check_chunk(model.schema, chunk)
                if checked.errors:
                    write_errors(out, checked.errors, chunk.start, chunk.lines)
                    total += len(chunk) - len(checked.kept)
                    if len(errors) < 1000:
                        errors.extend(checked.errors[: 1000 - len(errors)])
        if total:
            raise StrictRejectedError(errors, total)

    def _report(self, session: Session, job: Job, tally: Tally) -> bool:
        """Write progress and the heartbeat; False when a cancel was asked for."""
        job.rows_done = tally.done
        job.rows_scored = tally.scored
        job.rows_rejected = tally.rejected
        job.rows_total = max(job.rows_total, tally.done)
        job.heartbeat_at = utcnow()
        session.commit()
        session.refresh(job, ["cancel_requested", "status"])
        return not job.cancel_requested and job.status == "running"

    def _cancelled(self, session: Session, job: Job) -> None:
        if job.status == "running":
            job.status = "cancelled"
            job.finished_at = utcnow()
        delete_files(self.settings, job)
        session.commit()

    def _fail(
        self, session: Session, job: Job, code: str, message: str, *, keep_errors: bool = False
    ) -> None:
        job.status = "failed"
        job.error_code = code
        job.error = message
        job.finished_at = utcnow()
        folder = job_folder(self.settings, job.id)
        if keep_errors:
            for name in (INPUT, ANSWERS, META):
                (folder / name).unlink(missing_ok=True)
        else:
            delete_files(self.settings, job)
        session.commit()
        log_fields(
            log,
            logging.WARNING,
            "job failed",
            {"event": "job", "job_id": job.id, "outcome": "failed", "error": message},
        )

    def _requeue(self, session: Session, job: Job) -> None:
        """An interrupted job goes back to the queue, unless it was cancelled meanwhile (it
        ends so) or is no longer running (reaped as stale by another machine: it stays so)."""
        session.refresh(job, ["cancel_requested", "status"])
        if job.status != "running":
            return
        if job.cancel_requested:
            self._cancelled(session, job)
            return
        job.status = "queued"
        job.worker = None
        job.rows_done = job.rows_scored = job.rows_rejected = 0
        session.commit()

    def _forget_history(self, job: Job) -> None:
        """A job that starts again (after a requeue) first drops the records of its last try."""
        low, high = _record_id(job.id, 0), _record_id(job.id, 0xFFFFFFFFFFFF)
        with Session(self._engine()) as session:
            session.execute(
                delete(PredictionRecord).where(
                    PredictionRecord.id >= low, PredictionRecord.id <= high
                )
            )
            session.commit()

    # -- housekeeping ---------------------------------------------------------------------
    def housekeeping(self, every: float = 30.0) -> None:
        """Reap dead workers' jobs and delete expired files, at most every `every` seconds."""
        now = time.monotonic()
        if now - self._last_housekeeping < every:
            return
        self._last_housekeeping = now
        try:
            self.reap()
            self.expire()
        except Exception:
            log.exception("job housekeeping failed")

    def reap(self) -> int:
        """Mark failed the running jobs whose worker is gone; return how many."""
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.stale_after)
        host = socket.gethostname()
        reaped = 0
        with self.session() as session:
            running = session.scalars(select(Job).where(Job.status == "running")).all()
            for job in running:
                reason = _death(job, host, stale)
                if reason is None:
                    continue
                done = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == "running", Job.worker == job.worker)
                    .values(
                        status="failed",
                        error_code="worker_lost",
                        error=reason,
                        finished_at=now,
                        files_deleted=True,
                    )
                )
                session.commit()
                if getattr(done, "rowcount", 0) == 1:
                    reaped += 1
                    shutil.rmtree(job_folder(self.settings, job.id), ignore_errors=True)
                    log_fields(
                        log,
                        logging.WARNING,
                        "job failed",
                        {"event": "job", "job_id": job.id, "outcome": "failed", "error": reason},
                    )
        return reaped

    def expire(self) -> int:
        """Delete the files of jobs past their expiry time."""
        now = utcnow()
        with self.session() as session:
            old = session.scalars(
                select(Job).where(
                    Job.files_deleted.is_(False),
                    Job.expires_at < now,
                    or_(Job.status.in_(JOB_FINISHED), Job.status == "uploaded"),
                )
            ).all()
            for job in old:
                delete_files(self.settings, job)
                if job.status == "uploaded":
                    job.status = "cancelled"
                    job.finished_at = now
            session.commit()
            return len(old)

    def requeue_mine(self) -> None:
        """A stopping worker puts back the jobs it still holds, once its job threads have
        stopped (a job interrupted at a chunk has already put itself back)."""
        me = worker_name()
        with self.session() as session:
            session.execute(
                update(Job)
                .where(and_(Job.status.in_(JOB_ACTIVE), Job.worker == me))
                .values(status="queued", worker=None, rows_done=0, rows_scored=0, rows_rejected=0)
            )
            session.commit()


class _Pipe:
    """Writes one chunk's history while the next chunk is scored: the database driver lets
    go of the GIL while it works, so the two overlap. At most one chunk waits."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "job-history")
        self._pending: concurrent.futures.Future[None] | None = None

    def put(self, rows: list[tuple[Any, ...]]) -> None:
        self._wait()
        self._pending = self._pool.submit(bulk_insert, self._engine(), rows)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a failed write fails the job

    def __enter__(self) -> _Pipe:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:
                self._wait()
        finally:
            self._pool.shutdown(wait=True)


def _death(job: Job, host: str, stale: datetime) -> str | None:
    worker = job.worker or ""
    where, _, pid = worker.rpartition(":")
    if where == host and pid.isdigit() and not alive(int(pid)):
        return f"the worker process {pid} on {host} stopped while scoring this job"
    beat = job.heartbeat_at or job.started_at
    if beat is not None and beat < stale:
        seconds = int((utcnow() - beat).total_seconds())
        return f"no progress from worker {worker} for {seconds} s; it is presumed dead"
    return None


def _file_message(exc: TableError) -> str:
    return messages.render_code(messages.FILE_MESSAGES, exc.code, exc.params)


# -- history records -------------------------------------------------------------------
def _record_id(job_id: str, row: int) -> str:
    """History ids of a job's rows: the job's first 80 random bits, then the row number."""
    return f"{job_id[:20]}{row:012x}"


def _history_rows(
    job: Job,
    model: LoadedModel,
    checked: CheckedChunk,
    prediction: Prediction,
    start: int,
    seconds: float,
) -> list[tuple[Any, ...]]:
    now = utcnow()
    per_row = seconds * 1000 / max(len(checked.kept), 1)
    inputs = _json_objects(checked.columns.names, checked.columns.values, checked.columns.matrix)
    rows_numbers = (checked.kept + start).tolist()
    if prediction.values is not None:
        answers: list[tuple[str | None, str | None, float | None]] = [
            (None, None, v) for v in prediction.values.tolist()
        ]
    else:
        keys = [str(c) for c in prediction.classes]
        labels = [str(plain(label)) for label in prediction.labels]
        if prediction.probabilities is not None:
            probs = np.asarray(prediction.probabilities, dtype=np.float64)
            texts = _json_objects(keys, probs.T.tolist(), probs)
            answers = [(label, p, None) for label, p in zip(labels, texts, strict=True)]
        else:
            answers = [(label, None, None) for label in labels]
    # Read the job's attributes once: an ORM attribute costs more than the tuple itself.
    head = (model.manifest.name, model.manifest.version, model.sha256)
    tail = (job.user_id, job.token_id, "batch", job.request_id, job.id)
    prefix = job.id[:20]
    return [
        (f"{prefix}{number:012x}", now, *head, row_inputs, *answer, per_row, *tail)
        for number, row_inputs, answer in zip(rows_numbers, inputs, answers, strict=True)
    ]


def _json_objects(
    keys: Sequence[str], columns: Sequence[Sequence[Any]], matrix: np.ndarray | None
) -> list[str]:
    """One JSON object per row of `columns`. Finite float matrices are written by orjson a
    column at a time and the numbers dropped into a template: ~10x cheaper than building and
    dumping a dict per row (the numbers are the same shortest round-trip texts)."""
    if matrix is not None and matrix.dtype == np.float64 and np.isfinite(matrix).all():
        if not matrix.size:
            return ["{}"] * len(matrix) if not keys else []
        numbers = [
            orjson.dumps(np.ascontiguousarray(matrix[:, j]), option=orjson.OPT_SERIALIZE_NUMPY)
            .decode()[1:-1]
            .split(",")
            for j in range(len(keys))
        ]
        template = "{" + ",".join(orjson.dumps(k).decode().replace("%", "%%") + ":%s" for k in keys)
        return [template % row + "}" for row in zip(*numbers, strict=True)]
    dumps = orjson.dumps
    return [
        dumps(dict(zip(keys, row, strict=True)), option=orjson.OPT_SERIALIZE_NUMPY).decode()
        for row in zip(*columns, strict=True)
    ]


# -- downloads ------------------------------------------------------------------------------
def result_folder(settings: JobSettings, job: Job) -> Path:
    """The folder of a job whose result can be read (else `JobStateError`)."""
    folder = job_folder(settings, job.id)
    if job.status != "succeeded" or job.files_deleted or not results.available(folder):
        raise JobStateError(job, "download the result")
    return folder


def errors_path(settings: JobSettings, job: Job) -> Path:
    path = job_folder(settings, job.id) / ERRORS
    if job.status not in ("succeeded", "failed") or job.files_deleted or not path.exists():
        raise JobStateError(job, "download the errors report")
    return path
