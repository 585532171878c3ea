"""Pages: thin translations between forms and the prediction service."""

from __future__ import annotations

from flask import current_app, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from ..auth.views import safe_next
from ..context import caller, get_gate, get_registry
from ..context import predict as run_prediction
from ..runtime import messages
from ..runtime.errors import ValidationError
from ..runtime.registry import LoadedModel
from . import bp
from .forms import field_name, form_can_fail, form_class, form_rows
from .results import result_page

LANG_COOKIE = "lang"


@bp.get("/")
def index() -> ResponseReturnValue:
    models = get_gate().visible(get_registry(), caller("web"))
    return render_template(
        "web/index.html", models=models, hidden=len(get_registry()) - len(models)
    )


@bp.route("/models/<name>", methods=["GET", "POST"])
def model_page(name: str) -> ResponseReturnValue:
    model = get_registry().get(name)
    if request.method == "GET":  # a POST is checked by the prediction service itself
        get_gate().check(model, caller("web"))
        form = form_class(model)(formdata=prefill(model, request.args))
        return render_template("web/model.html", model=model, form=form)
    if form_can_fail():
        form = form_class(model)(formdata=request.form)
        if not form.validate():
            return render_template("web/model.html", model=model, form=form)
    try:
        outcome = run_prediction(name, form_rows(request.form, model), "web")
    except ValidationError as exc:
        return invalid_page(model, exc)
    return result_page(model, outcome)


def invalid_page(model: LoadedModel, exc: ValidationError) -> ResponseReturnValue:
    """The form again, with the posted values and each error under its field (422)."""
    form = form_class(model)(formdata=request.form)
    for error in exc.errors:
        index = model.schema.names.index(error.field) if error.field else 0
        form[field_name(index)].errors = [
            *form[field_name(index)].errors,
            messages.render(error, gettext),
        ]
    return render_template("web/model.html", model=model, form=form), 422


def prefill(model: LoadedModel, args: MultiDict[str, str]) -> MultiDict[str, str] | None:
    """Query parameters named like features fill the form (the result page links back so)."""
    values = {
        field_name(i): args[f.name] for i, f in enumerate(model.manifest.features) if f.name in args
    }
    return MultiDict(values) if values else None


@bp.get("/language/<code>")
def set_language(code: str) -> ResponseReturnValue:
    response = make_response(redirect(safe_next(request.args.get("next"), url_for("web.index"))))
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response
