"""Template translations looked up once per request and per message, not once per call.

Flask-Babel's template `_()` calls `get_translations()` for every message: three context
lookups, the locale turned into a string and a cache lookup each time, and a result page has
a dozen messages. The locale cannot change within a request here (nothing uses
`force_locale` or `refresh` while rendering), so the first lookup of a request is kept on `g`
and handed to each rendered template in its context.
The templates' `_()` then finds each message already translated (and wrapped in `Markup`
under autoescaping), per translations object, instead of going through three layers of
`jinja2.ext` calls; the result is jinja2's new-style gettext's, formatting included.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from babel import Locale
from flask import Flask, g
from flask_babel import get_translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

# Template messages are literals, so this stays small; emptied if it ever is not.
MAX_MESSAGES = 4096
# The request's translations, handed to each template once (reading `g` costs a proxy lookup).
TRANSLATIONS = "_modelserve_translations"
_messages: dict[tuple[Any, str, bool], str] = {}


@cache
def parsed_locale(code: str) -> Locale:
    """One `Locale` per code: Flask-Babel parses the selector's string on every request, and
    `Locale.parse` checks the locale data file on disk each time; a `Locale` passes through."""
    return Locale.parse(code)


def request_translations() -> Any:
    """This request's (or app context's) translations, looked up once."""
    found = g.get(TRANSLATIONS)
    if found is None:
        found = g._modelserve_translations = get_translations()
    return found


@pass_context
def template_gettext(context: Context, string: str, **variables: Any) -> str:
    """The templates' `_()`: jinja2.ext's new-style `gettext` with each translation kept."""
    translations = context.get(TRANSLATIONS) or request_translations()
    key = (translations, string, context.eval_ctx.autoescape)
    message = _messages.get(key)
    if message is None:
        message = translations.ugettext(string)
        if context.eval_ctx.autoescape:
            message = Markup(message)  # noqa: S704 - our own catalogues, as jinja2.ext does
        if len(_messages) >= MAX_MESSAGES:
            _messages.clear()
        _messages[key] = message
    return message % variables  # always a format string, as in jinja2.ext


def install_cached_gettext(app: Flask) -> None:
    """Replace the template gettext callables Flask-Babel installed with memoised ones."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals["_"] = template_gettext
    app.context_processor(lambda: {TRANSLATIONS: request_translations()})
