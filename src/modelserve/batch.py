"""Batch jobs in the app: settings, the runner, and the executor (threads or Celery)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, Response, current_app, request, stream_with_context
from flask_babel import gettext
from sqlalchemy import Engine

from .extensions import db
from .services import jobs, results
from .services.executors import CeleryExecutor, Executor, LocalExecutor
from .services.jobs import JobRunner, JobSettings
from .services.tokens import parse_duration
from .storage.tables import Job


def job_settings(app: Flask) -> JobSettings:
    config = app.config
    folder = config["JOB_FOLDER"] or Path(app.instance_path) / "jobs"
    return JobSettings(
        folder=Path(folder),
        chunk_rows=int(config["JOB_CHUNK_ROWS"]),
        max_rows=int(config["JOB_MAX_ROWS"]),
        max_bytes=int(config["JOB_MAX_BYTES"]),
        sync_rows=int(config["JOB_SYNC_ROWS"]),
        result_ttl=parse_duration(str(config["JOB_RESULT_TTL"])),
        stale_after=float(config["JOB_STALE_AFTER"]),
        history=bool(config["JOB_HISTORY"]),
        max_active=int(config["JOB_MAX_ACTIVE"]),
    )


def register_jobs(app: Flask) -> None:
    settings = job_settings(app)
    settings.folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def engine() -> Engine:
        with app.app_context():
            return db.engine

    runner = JobRunner(
        engine,
        app.extensions["modelserve.registry"],
        settings,
    )
    broker = str(app.config["CELERY_BROKER_URL"] or "")
    executor: Executor
    if broker:
        from .celery_app import make_celery  # noqa: PLC0415 - only when Celery is configured

        executor = CeleryExecutor(make_celery(broker))
    else:
        executor = LocalExecutor(runner, threads=int(app.config["JOB_THREADS"]))
    app.extensions["modelserve.jobs"] = runner
    app.extensions["modelserve.executor"] = executor


def get_runner() -> JobRunner:
    runner: JobRunner = current_app.extensions["modelserve.jobs"]
    return runner


def get_executor() -> Executor:
    executor: Executor = current_app.extensions["modelserve.executor"]
    return executor


# Multipart framing and the form's other fields, on top of the file itself.
FORM_OVERHEAD = 1 << 20


def allow_upload() -> None:
    """Let this request's body be as large as a job file may be (the app's 4 MiB default is
    for JSON): `JOB_MAX_BYTES` plus the multipart framing; 0 means no limit. The file itself
    is held to `JOB_MAX_BYTES` exactly while it is spooled (`jobs.create`)."""
    limit = int(current_app.config["JOB_MAX_BYTES"])
    request.max_content_length = limit + FORM_OVERHEAD if limit else sys.maxsize


# -- downloads, shared by the API and the pages --------------------------------------------
FORMATS = {"csv": "text/csv", "ndjson": "application/x-ndjson"}


def download_name(job: Job, suffix: str, fmt: str) -> str:
    """`<the upload's name>-<suffix>.<ext>`, in plain ASCII (the label is the client's)."""
    stem = job.filename.rsplit(".", 1)[0] if "." in job.filename else job.filename
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "job"
    return f"{stem[:80]}-{suffix}.{'csv' if fmt == 'csv' else 'jsonl'}"


def chosen_format(default: str = "csv") -> str:
    """?format=csv|ndjson, else the Accept header, else `default`."""
    asked = request.args.get("format")
    if asked in FORMATS:
        return asked
    best = request.accept_mimetypes.best_match([FORMATS[default], *FORMATS.values()])
    return "ndjson" if best == FORMATS["ndjson"] else "csv" if best else default


def file_response(
    job: Job, body: Iterator[str] | Iterator[bytes], fmt: str, suffix: str
) -> Response:
    response = Response(stream_with_context(body), mimetype=FORMATS[fmt])
    if fmt == "csv":
        response.mimetype_params["charset"] = "utf-8"
        response.mimetype_params["header"] = "present"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{download_name(job, suffix, fmt)}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def result_response(job: Job, fmt: str) -> Response:
    folder = jobs.result_folder(get_runner().settings, job)
    body = (
        results.csv_chunks(folder, gettext)
        if fmt == "csv"
        else results.ndjson_chunks(folder, gettext)
    )
    return file_response(job, body, fmt, "scored")


def errors_response(job: Job, fmt: str) -> Response:
    path = jobs.errors_path(get_runner().settings, job)
    body = (
        results.errors_csv(path, gettext) if fmt == "csv" else results.errors_ndjson(path, gettext)
    )
    return file_response(job, body, fmt, "errors")
