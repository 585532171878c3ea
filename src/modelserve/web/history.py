"""History pages: the signed-in user's records (an admin's: everyone's), filters, exports."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, abort, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional

from ..extensions import db
from ..services import history
from . import bp


class FilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form changes nothing

    model = StringField(_l("Model"), validators=[Optional(), Length(max=64)])
    version = StringField(_l("Version"), validators=[Optional(), Length(max=64)])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=200)])
    user = StringField(_l("User"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


def _viewer() -> history.Viewer:
    return history.Viewer(current_user.record.id, current_user.is_admin)


def _filters() -> tuple[FilterForm, history.Filters]:
    form = FilterForm(formdata=request.args)
    if not form.validate():
        return form, history.Filters()
    return form, history.Filters(
        model=form.model.data or "",
        version=form.version.data or "",
        label=form.label.data or "",
        user=form.user.data or "",
        since=form.since.data,
        until=form.until.data,
    )


@bp.get("/history")
@login_required
def history_list() -> ResponseReturnValue:
    form, filters = _filters()
    number = request.args.get("page", 1, type=int) or 1
    result = history.page(db.session, _viewer(), filters, number)
    models = history.distinct_values(db.session, _viewer(), "model")
    status = 422 if form.errors else 200
    return render_template(
        "history/list.html", form=form, page=result, filters=filters, models=models
    ), status


@bp.get("/history/<record_id>")
@login_required
def history_detail(record_id: str) -> ResponseReturnValue:
    try:
        record = history.get(db.session, _viewer(), record_id)
    except history.RecordNotFoundError:
        abort(404)
    rows = None
    if record.is_batch:
        rows = history.rows_page(record, request.args.get("page", 1, type=int) or 1)
    return render_template("history/detail.html", record=record, rows=rows)


@bp.get("/history/export.<fmt>")
@login_required
def history_export(fmt: str) -> ResponseReturnValue:
    if fmt not in ("csv", "jsonl"):
        abort(404)
    _, filters = _filters()
    rows = history.export_rows(history.export(db.session, _viewer(), filters), filters.label)
    lines = history.csv_lines(rows) if fmt == "csv" else history.jsonl_lines(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return Response(
        stream_with_context(lines),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="predictions-{stamp}.{fmt}"'},
    )
