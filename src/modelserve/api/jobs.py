"""Batch scoring over the API: upload a file, get the answer now or a job to follow."""

from __future__ import annotations

from typing import IO, Any

from flask import g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext

from ..batch import (
    allow_upload,
    chosen_format,
    errors_response,
    get_executor,
    get_runner,
    result_response,
)
from ..context import caller, get_gate, get_registry
from ..errors import ApiProblem
from ..extensions import db
from ..runtime.tabular import Kind
from ..services import jobs, results
from ..storage.tables import Job
from . import bp
from .auth import require_scope

KINDS: dict[str, Kind] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/plain": "csv",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/jsonlines": "ndjson",
    "application/json-lines": "ndjson",
}
SYNC_TYPES = ["application/json", "text/csv", "application/x-ndjson"]


def _owner() -> jobs.Owner:
    require_scope("predict")
    token = g.api_token
    return jobs.Owner(token.user_id, token.user.is_admin)


def _upload() -> tuple[IO[bytes], str, Kind | None]:
    """The file: a multipart part named "file", or the body itself (CSV or JSON Lines)."""
    if request.mimetype == "multipart/form-data":
        part = request.files.get("file")
        if part is None:
            raise ApiProblem(400, gettext("Send the file in a multipart part named “file”."))
        name = part.filename or "upload"
        kind: Kind | None = KINDS.get(part.mimetype)
        if name.lower().endswith((".jsonl", ".ndjson")):
            kind = "ndjson"
        elif name.lower().endswith((".csv", ".tsv", ".txt")):
            kind = "csv"
        return part.stream, name, kind
    if request.mimetype not in KINDS:
        raise ApiProblem(
            415,
            gettext(
                "Send CSV (text/csv), JSON Lines (application/x-ndjson) or a multipart file "
                "(got “%(type)s”).",
                type=request.mimetype or "nothing",
            ),
        )
    return request.stream, request.args.get("filename", "upload"), KINDS[request.mimetype]


def _flag(name: str) -> bool:
    value = request.args.get(name) or request.form.get(name) or ""
    return value.lower() in ("1", "true", "yes", "on")


@bp.post("/models/<name>/batch")
def batch(name: str) -> ResponseReturnValue:
    model = get_registry().get(name)
    _owner()
    who = caller("api")
    get_gate().check(model, who)
    allow_upload()
    stream, filename, kind = _upload()
    runner, executor = get_runner(), get_executor()
    job = jobs.create(
        db.session,
        runner.settings,
        model,
        stream,
        filename=filename,
        caller=who,
        strict=_flag("strict"),
        kind=kind,
        executor=executor.name,
    )
    wants_async = "respond-async" in request.headers.get("Prefer", "").lower()
    if job.rows_total > runner.settings.sync_rows or wants_async:
        jobs.start(db.session, job)
        executor.submit(job.id)
        location = url_for("api.job", job_id=job.id)
        response = jsonify(jobs.as_json(job, gettext))
        response.status_code = 202
        response.headers["Location"] = location
        if wants_async:
            response.headers["Preference-Applied"] = "respond-async"
        return response
    return _answer_now(job)


def _answer_now(job: Job) -> ResponseReturnValue:
    """Score in this request and answer in the format of `Accept` (JSON by default)."""
    runner = get_runner()
    runner.claim(job.id, waiting="uploaded")
    runner.run(job.id)
    db.session.refresh(job)
    if job.status == "failed":
        return _failed(job)
    best = request.accept_mimetypes.best_match(SYNC_TYPES, default="application/json")
    headers = {
        "X-Rows-Scored": str(job.rows_scored),
        "X-Rows-Rejected": str(job.rows_rejected),
        "Content-Location": url_for("api.job_result", job_id=job.id),
    }
    if best != "application/json":
        response = result_response(job, "csv" if best == "text/csv" else "ndjson")
        response.headers.update(headers)
        return response
    header, _original, rows = results.table(jobs.result_folder(runner.settings, job), gettext)
    errors: list[dict[str, Any]] = []
    if job.rows_rejected:
        errors = list(results.error_records(jobs.errors_path(runner.settings, job), gettext))
    body = {
        "job": jobs.as_json(job, gettext),
        "columns": header,
        "rows": list(rows),
        "errors": errors,
    }
    return jsonify(body), 200, headers


def _failed(job: Job) -> ResponseReturnValue:
    if job.error_code == "strict":
        path = jobs.errors_path(get_runner().settings, job)
        errors = list(results.error_records(path, gettext, limit=1000))
        raise ApiProblem(
            422,
            ngettext(
                "%(num)d row is invalid; in strict mode nothing was scored.",
                "%(num)d rows are invalid; in strict mode nothing was scored.",
                job.rows_rejected,
            ),
            errors=errors,
            job=url_for("api.job", job_id=job.id),
        )
    detail = job.error or gettext("The file could not be scored.")
    raise ApiProblem(422, detail, code=job.error_code)


@bp.get("/jobs")
def job_list() -> ResponseReturnValue:
    owner = _owner()
    return jsonify({"jobs": [jobs.as_json(j, gettext) for j in jobs.listing(db.session, owner)]})


def _job(job_id: str) -> Job:
    owner = _owner()
    runner = get_runner()
    runner.housekeeping()  # expiry and dead workers, at most every 30 s per process
    job = jobs.get(db.session, owner, job_id)
    if job.status == "running" and runner.reap():
        db.session.refresh(job)
    return job


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> ResponseReturnValue:
    found = _job(job_id)
    body = jobs.as_json(found, gettext)
    body["links"] = {
        "self": url_for("api.job", job_id=found.id),
        "result": url_for("api.job_result", job_id=found.id),
        "errors": url_for("api.job_errors", job_id=found.id),
        "cancel": url_for("api.job_cancel", job_id=found.id),
    }
    return jsonify(body)


@bp.get("/jobs/<job_id>/result")
def job_result(job_id: str) -> ResponseReturnValue:
    return result_response(_job(job_id), chosen_format())


@bp.get("/jobs/<job_id>/errors")
def job_errors(job_id: str) -> ResponseReturnValue:
    return errors_response(_job(job_id), chosen_format())


@bp.post("/jobs/<job_id>/cancel")
def job_cancel(job_id: str) -> ResponseReturnValue:
    found = jobs.cancel(db.session, get_runner().settings, _job(job_id))
    return jsonify(jobs.as_json(found, gettext)), 202
