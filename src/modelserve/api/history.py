"""History over the API, for tokens with the `history:read` scope."""

from __future__ import annotations

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from ..extensions import db
from ..services import history
from . import bp
from .auth import require_scope


def _viewer() -> history.Viewer:
    require_scope("history:read")
    token = g.api_token
    return history.Viewer(token.user_id, token.user.is_admin)


@bp.get("/history")
def history_page() -> ResponseReturnValue:
    viewer = _viewer()
    args = request.args
    filters = history.Filters(
        model=args.get("model", ""),
        version=args.get("version", ""),
        label=args.get("label", ""),
        user=args.get("user", ""),
    )
    result = history.page(db.session, viewer, filters, args.get("page", 1, type=int) or 1)
    return jsonify(
        {
            "page": result.number,
            "pages": result.pages,
            "total": result.total,
            "records": [history.as_dict(r) for r in result.records],
        }
    )


@bp.get("/history/<record_id>")
def history_record(record_id: str) -> ResponseReturnValue:
    """A record; a batch record with a page (`?page=`) of its rows, each as the API answered."""
    record = history.get(db.session, _viewer(), record_id)
    body = history.as_dict(record)
    if record.is_batch:
        rows = history.rows_page(record, request.args.get("page", 1, type=int) or 1)
        body["page"], body["pages"] = rows.number, rows.pages
        body["predictions"] = [
            {"row": index, "inputs": inputs, **answer} for index, inputs, answer in rows.rows
        ]
    return jsonify(body)
