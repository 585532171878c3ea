"""Result pages: the prediction's own part rendered alone, inside a page shell kept per key.

A result page is `web/result.html` (the layout, navigation, title) around
`web/_result_body.html` (the prediction, its probabilities, the inputs). The body is rendered
from what it is given (the model, the outcome, the language and two URLs) and reads nothing of
the request. For a visitor (not signed in, no flashed messages waiting) everything around it
depends only on the script root, the path, the language, the model and whether visitors may
register (`ShellKey`), so that shell is rendered once per key, with a marker where the body
goes, and kept split in two: a result page is then the kept head, a rendered body and the kept
tail, the same bytes as rendering the whole page. Signed-in users' pages (a fresh CSRF token,
their name) and pages with messages are rendered whole, from the same two templates.

The form lane (`formlane.py`) answers visitors' form posts from the same kept shells and the
same `ResultPages.body`, so both paths give the same page.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from flask import Flask, current_app, render_template, request, session, url_for
from flask_login import current_user
from jinja2 import Environment
from markupsafe import Markup

from ..i18n import TRANSLATIONS, Language, request_language
from ..runtime.registry import LoadedModel
from ..services.predictions import Outcome

# Shells kept per app; emptied when full (a key holds a path, so there are few).
MAX_SHELLS = 256
EXTENSION = "modelserve.result_pages"
BODY = "web/_result_body.html"


class ShellKey(NamedTuple):
    """Everything the shell of a visitor's result page depends on."""

    script_root: str
    full_path: str
    lang: str
    model: LoadedModel
    self_registration: bool


class Shell(NamedTuple):
    """A result page around its body: the markup before and after, and the body's URLs."""

    head: str
    tail: str
    index_url: str
    model_url: str


class Shown(NamedTuple):
    """What a result page shows of an outcome in a language, as the body template lays it out."""

    label: Any  # the prediction: a class's label, or the value as `num` writes it
    # Per class: its label, its probability, that as a percentage ("76.3"), whether chosen;
    # None for a model without probabilities.
    classes: list[tuple[str, Any, str, bool]] | None
    inputs: list[tuple[str, Any, str | None]]  # per feature: its title, the value, its unit
    query: str  # the inputs as the form's query string ("Change the values")
    latency: str  # milliseconds, one decimal


def shown(env: Environment, model: LoadedModel, outcome: Outcome, lang: str) -> Shown:
    """The page's texts of `outcome` (its first row), with the templates' own filters."""
    m = model.manifest
    p = outcome.prediction
    num = env.filters["num"]
    row = outcome.rows[0]
    label = num(p.values[0]) if p.values is not None else m.class_label(p.labels[0], lang)
    classes = None
    if p.probabilities is not None:
        chosen = p.labels[0]
        classes = [
            (m.class_label(cls, lang), prob, "%.1f" % (prob * 100), cls == chosen)
            for cls, prob in zip(p.classes, p.probabilities[0], strict=False)
        ]
    inputs = [(f.title(lang), num(row[f.name]), f.unit) for f in m.features]
    query = env.filters["prefill_query"](row)
    return Shown(label, classes, inputs, query, "%.1f" % outcome.latency_ms)  # noqa: UP031


class ResultPages:
    """The shells of one app, and the body renderer both paths share."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.shells: dict[ShellKey, Shell] = {}
        # A marker no page can contain by chance: where the body goes in a shell.
        self.slot = Markup(f"<!--result-{secrets.token_hex(16)}-->")  # noqa: S704 - our own

    def body(self, model: LoadedModel, outcome: Outcome, lang: Language, shell: Shell) -> str:
        """The prediction's part of the page, from its arguments alone."""
        env = self.app.jinja_env
        template = env.get_template(BODY)
        given: dict[str, Any] = {
            "model": model,
            "shown": shown(env, model, outcome, lang.code),
            "current_lang": lang.code,
            TRANSLATIONS: lang.translations,
            "index_url": shell.index_url,
            "model_url": shell.model_url,
            "_": env.globals["_"],
        }
        # `Template.render`, minus the globals: without `request`, `session`, `url_for` and
        # the rest, the body cannot depend on them (nor pay for copying them into a context).
        context = template.new_context(given, shared=True)
        try:
            return env.concat(template.root_render_func(context))  # type: ignore[attr-defined]
        except Exception:
            env.handle_exception()

    def page(self, shell: Shell, model: LoadedModel, outcome: Outcome, lang: Language) -> str:
        return shell.head + self.body(model, outcome, lang, shell) + shell.tail

    def keep(self, key: ShellKey, shell: Shell) -> None:
        if len(self.shells) >= MAX_SHELLS:
            self.shells.clear()
        self.shells[key] = shell


def result_pages(app: Flask) -> ResultPages:
    pages: ResultPages | None = app.extensions.get(EXTENSION)
    if pages is None:
        pages = app.extensions[EXTENSION] = ResultPages(app)
    return pages


def visitor_key(model: LoadedModel, lang: str) -> ShellKey | None:
    """This request's shell key, or None when its shell may hold more (a user, messages)."""
    if current_user.is_authenticated or "_flashes" in session:
        return None
    return ShellKey(
        request.script_root,
        request.full_path,
        lang,
        model,
        bool(current_app.config["SELF_REGISTRATION"]),
    )


def result_page(model: LoadedModel, outcome: Outcome) -> str:
    """The result page of `outcome`, with a visitor's shell kept (see the module)."""
    pages = result_pages(current_app._get_current_object())  # type: ignore[attr-defined]
    lang = request_language()
    key = visitor_key(model, lang.code)
    shell = pages.shells.get(key) if key is not None else None
    if shell is not None:
        return pages.page(shell, model, outcome, lang)
    urls = url_for("web.index"), url_for("web.model_page", name=model.name)
    if key is not None:
        around = render_template("web/result.html", model=model, body=pages.slot)
        head, found, tail = around.partition(pages.slot)
        if found and pages.slot not in tail:  # the body's place, once
            shell = Shell(head, tail, *urls)
            pages.keep(key, shell)
            return pages.page(shell, model, outcome, lang)
    body = pages.body(model, outcome, lang, Shell("", "", *urls))
    return render_template("web/result.html", model=model, body=Markup(body))  # noqa: S704
