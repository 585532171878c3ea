"""Batch scoring pages: upload a file, preview it, start, follow, download; the jobs list.

A job belongs to the signed-in user who uploaded it (an admin sees everyone's); anyone
else gets the same 404 as for a job that does not exist.
"""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from ..batch import allow_upload, errors_response, get_executor, get_runner, result_response
from ..context import caller, get_gate, get_registry
from ..extensions import csrf, db
from ..runtime import messages
from ..runtime.errors import ModelNotFoundError
from ..runtime.registry import LoadedModel
from ..services import jobs, results
from ..services.predictions import Caller
from ..storage.tables import JOB_FINISHED, Job
from . import bp
from .forms import BatchForm, upload_kind

PREVIEW_ROWS = 5
RESULT_ROWS = 10
STATUS = {
    "uploaded": _l("Uploaded"),
    "queued": _l("Queued"),
    "running": _l("Running"),
    "succeeded": _l("Done"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
}
STATUS_COLORS = {
    "uploaded": "info",
    "queued": "secondary",
    "running": "primary",
    "succeeded": "success",
    "failed": "danger",
    "cancelled": "dark",
}
KINDS = {"csv": "CSV", "ndjson": "JSON Lines"}
ENCODINGS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (BOM)",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
}
DELIMITERS = {",": _l("commas"), ";": _l("semicolons"), "\t": _l("tabs"), "|": _l("vertical bars")}


@bp.context_processor
def job_words() -> dict[str, Any]:
    """The names of statuses, formats and separators the job templates show."""
    return {
        "status_names": STATUS,
        "status_colors": STATUS_COLORS,
        "kinds": KINDS,
        "encodings": ENCODINGS,
        "delimiters": DELIMITERS,
    }


def _owner() -> jobs.Owner:
    return jobs.Owner(current_user.record.id, current_user.is_admin)


def _job(job_id: str) -> Job:
    """The viewer's job; a running one whose worker died is marked failed first."""
    job = jobs.get(db.session, _owner(), job_id)
    if job.status == "running" and get_runner().reap():
        db.session.refresh(job)
    return job


@bp.route("/models/<name>/batch", methods=["GET", "POST"])
@login_required
@csrf.exempt  # checked below, once the size limit allows the body to be read
def batch_upload(name: str) -> ResponseReturnValue:
    model = get_registry().get(name)
    who = caller("web")
    get_gate().check(model, who)
    try:
        form = _read_form()
    except RequestEntityTooLarge:
        return _upload_page(model, BatchForm(formdata=None), _too_large(), 413)
    if not form.validate_on_submit():
        return _upload_page(model, form, status=422 if form.errors else 200)
    try:
        job = _create(model, who, form)
    except jobs.FileRejectedError as exc:
        code, params = exc.problem.code, exc.problem.params
        text = messages.render_code(messages.FILE_MESSAGES, code, params, gettext)
        return _upload_page(model, form, text, 413 if code == "too_large" else 422)
    return redirect(url_for("web.job_page", job_id=job.id), 303)


def _read_form() -> BatchForm:
    """The form; a POST's body may be up to JOB_MAX_BYTES (plus the form around the file),
    and its CSRF token is checked only once that limit is in place."""
    if request.method == "POST":
        allow_upload()
        if current_app.config["WTF_CSRF_ENABLED"]:
            csrf.protect()
    return BatchForm()


def _create(model: LoadedModel, who: Caller, form: BatchForm) -> Job:
    upload = form.file.data
    filename = upload.filename or "upload"
    return jobs.create(
        db.session,
        get_runner().settings,
        model,
        upload.stream,
        filename=filename,
        caller=who,
        strict=bool(form.strict.data),
        kind=upload_kind(filename),
        executor=get_executor().name,
    )


def _too_large() -> str:
    limit = int(current_app.config["JOB_MAX_BYTES"])
    return messages.render_code(messages.FILE_MESSAGES, "too_large", (("max", limit),), gettext)


def _upload_page(
    model: LoadedModel, form: BatchForm, problem: str = "", status: int = 200
) -> ResponseReturnValue:
    if problem:
        form.file.errors = [*form.file.errors, problem]
    page = render_template(
        "web/batch.html",
        model=model,
        form=form,
        max_size=file_size(limit) if (limit := int(current_app.config["JOB_MAX_BYTES"])) else "",
    )
    return page, status


@bp.get("/jobs")
@login_required
def job_list() -> ResponseReturnValue:
    found = jobs.listing(db.session, _owner())
    return render_template("web/jobs.html", jobs=found)


@bp.get("/jobs/<job_id>")
@login_required
def job_page(job_id: str) -> ResponseReturnValue:
    job = _job(job_id)
    return render_template("web/job.html", **_page_context(job))


def _page_context(job: Job) -> dict[str, Any]:
    """What the job page shows in the job's state: preview, progress or result."""
    settings = get_runner().settings
    model = _model_of(job)
    context: dict[str, Any] = {
        "job": job,
        "model": model,
        "progress": jobs.progress(job),
        "text": progress_text(job),
        "notes": [
            messages.render_code(messages.FILE_NOTES, n, (), gettext)
            for n in job.table_format.get("notes", ())
        ],
        "failure": failure_text(job),
    }
    if job.status == "uploaded" and model is not None:
        context["preview"] = jobs.preview(settings, model, job, PREVIEW_ROWS)
    if job.status == "succeeded" and not job.files_deleted:
        context["head"] = _head(settings, job)
    context["has_errors"] = job.rows_rejected > 0 and _errors_ready(job)
    return context


def _head(settings: jobs.JobSettings, job: Job) -> tuple[list[str], list[list[Any]]] | None:
    """The first rows of the result; None when its file is gone (shown as expired)."""
    try:
        folder = jobs.result_folder(settings, job)
        columns, _original, rows = results.table(folder, gettext, limit=RESULT_ROWS)
        return columns, list(rows)
    except (jobs.JobStateError, FileNotFoundError):
        return None


def _model_of(job: Job) -> LoadedModel | None:
    """The job's model, if this server still serves it (its page shows the job anyway)."""
    try:
        return get_registry().get(job.model)
    except ModelNotFoundError:
        return None


def _errors_ready(job: Job) -> bool:
    try:
        jobs.errors_path(get_runner().settings, job)
    except jobs.JobStateError:
        return False
    return True


@bp.get("/jobs/<job_id>/status.json")
@login_required
def job_status(job_id: str) -> ResponseReturnValue:
    job = _job(job_id)
    body = jobs.as_json(job, gettext)
    body["finished"] = job.status in JOB_FINISHED
    body["text"] = progress_text(job)
    return jsonify(body)


@bp.post("/jobs/<job_id>/start")
@login_required
def job_start(job_id: str) -> ResponseReturnValue:
    job = _job(job_id)
    get_gate().check(get_registry().get(job.model), caller("web"))
    if job.status == "uploaded":  # a second click (or another tab) changes nothing
        jobs.start(db.session, job)
        get_executor().submit(job.id)
    return redirect(url_for("web.job_page", job_id=job.id), 303)


@bp.post("/jobs/<job_id>/cancel")
@login_required
def job_cancel(job_id: str) -> ResponseReturnValue:
    job = _job(job_id)
    if job.status in JOB_FINISHED:
        flash(gettext("The job had already finished."), "info")
    else:
        jobs.cancel(db.session, get_runner().settings, job)
    return redirect(url_for("web.job_page", job_id=job.id), 303)


@bp.get("/jobs/<job_id>/result.<fmt>")
@login_required
def job_result(job_id: str, fmt: str) -> ResponseReturnValue:
    formats = {"csv": "csv", "jsonl": "ndjson"}
    if fmt not in formats:
        abort(404)
    return result_response(_job(job_id), formats[fmt])


@bp.get("/jobs/<job_id>/errors.csv")
@login_required
def job_errors(job_id: str) -> ResponseReturnValue:
    return errors_response(_job(job_id), "csv")


# -- words for the page and the status JSON -------------------------------------------------
def progress_text(job: Job) -> dict[str, str]:
    """Rows done of the total, percent, rate and time left, in the reader's language."""
    shown = jobs.progress(job)
    rate, left = shown["rows_per_second"], shown["seconds_left"]
    return {
        "status": str(STATUS.get(job.status, job.status)),
        "percent": gettext("%(percent)s %%", percent=format_decimal(shown["percent"], "0.0")),
        "rows": ngettext(
            "%(done)s of %(total)s row",
            "%(done)s of %(total)s rows",
            shown["rows_total"],
            done=format_decimal(shown["rows_done"]),
            total=format_decimal(shown["rows_total"]),
        ),
        "rate": ""
        if rate is None
        else gettext("%(rate)s rows/s", rate=format_decimal(round(rate), "#,##0")),
        "left": "" if left is None else gettext("%(time)s left", time=duration(left)),
        "scored": format_decimal(shown["rows_scored"]),
        "rejected": format_decimal(shown["rows_rejected"]),
    }


def duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 2 h 07 min: units every language here reads."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def file_size(size: int) -> str:
    """1073741824 -> "1 GiB" (binary units, as the limit is set)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{format_decimal(round(size / scale, 1))} {unit}"
    return f"{size} B"


def failure_text(job: Job) -> str:
    """Why a job failed, translated when the reason has no details to lose."""
    code = job.error_code
    if job.status != "failed" or code is None:
        return ""
    if code == "strict":
        return ngettext(
            "%(num)d row is invalid; in strict mode nothing was scored.",
            "%(num)d rows are invalid; in strict mode nothing was scored.",
            job.rows_rejected,
        )
    template = messages.FILE_MESSAGES.get(code, "")
    if template and "%(" not in template:
        return messages.render_code(messages.FILE_MESSAGES, code, (), gettext)
    return job.error or gettext("The file could not be scored.")
