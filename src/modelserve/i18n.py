"""Template translations looked up once per request and per message, not once per call.

Flask-Babel's template `_()` calls `get_translations()` for every message: three context
lookups, the locale turned into a string and a cache lookup each time, and a result page has
a dozen messages. The locale cannot change within a request here (nothing uses
`force_locale` or `refresh` while rendering), so the request's language (`Language`: the
code and the translations Flask-Babel keeps for that locale, the pair kept per app and
locale) is looked up once, kept on `g` and handed to each rendered template in its context.
The locale selector's answer is kept per `Accept-Language` header.
The templates' `_()` then finds each message already translated (and wrapped in `Markup`
under autoescaping), per translations object, instead of going through three layers of
`jinja2.ext` calls; the result is jinja2's new-style gettext's, formatting included.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any, NamedTuple

from babel import Locale
from flask import Flask, current_app, g
from flask_babel import get_locale, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

# Template messages are literals, so this stays small; emptied if it ever is not.
MAX_MESSAGES = 4096
# The request's translations, handed to each template once (reading `g` costs a proxy lookup).
TRANSLATIONS = "_modelserve_translations"
# Where a request's `Language` is kept on `g`, and each app's languages in `app.extensions`.
LANGUAGE = "_modelserve_language"
# Distinct `Accept-Language` headers whose best match is kept.
MAX_HEADERS = 256
# Each message: its translation, and that translation formatted without variables (once used so).
_messages: dict[tuple[Any, str, bool], tuple[str, str | None]] = {}


def choose_locale(
    cookie: str | None, accept: str, languages: tuple[str, ...], default: str
) -> Locale:
    """The `lang` cookie's language, else the browser's best match, else the default."""
    if cookie in languages:
        return parsed_locale(cookie)
    return browser_locale(accept, languages, default)


@cache
def parsed_locale(code: str) -> Locale:
    """One `Locale` per code: Flask-Babel parses the selector's string on every request, and
    `Locale.parse` checks the locale data file on disk each time; a `Locale` passes through."""
    return Locale.parse(code)


@lru_cache(maxsize=MAX_HEADERS)
def browser_locale(accept: str, languages: tuple[str, ...], default: str) -> Locale:
    """The best match of an `Accept-Language` header (browsers send the same few again)."""
    best = parse_accept_header(accept, LanguageAccept).best_match(languages)
    return parsed_locale(best or default)


class Language(NamedTuple):
    """A request's language: its code (`current_lang` in templates) and its translations."""

    code: str
    translations: Any


def request_language() -> Language:
    """This request's (or app context's) language, looked up once and kept on `g`."""
    found: Language | None = g.get(LANGUAGE)
    if found is None:
        locale = get_locale()
        known = current_app.extensions.setdefault(LANGUAGE, {})
        found = known.get(locale)
        if found is None:  # the translations Flask-Babel keeps for this locale, for good
            found = known[locale] = Language(str(locale or "en"), get_translations())
        setattr(g, LANGUAGE, found)
    return found


def request_translations() -> Any:
    """This request's (or app context's) translations, looked up once."""
    return request_language().translations


@pass_context
def template_gettext(context: Context, string: str, **variables: Any) -> str:
    """The templates' `_()`: jinja2.ext's new-style `gettext` with each translation kept.

    A message is always a format string (as in jinja2.ext: `%%` becomes `%`); one used
    without variables is formatted once and kept so.
    """
    translations = context.get(TRANSLATIONS) or request_translations()
    key = (translations, string, context.eval_ctx.autoescape)
    found = _messages.get(key)
    if found is None:
        message = translations.ugettext(string)
        if context.eval_ctx.autoescape:
            message = Markup(message)  # noqa: S704 - our own catalogues, as jinja2.ext does
        if len(_messages) >= MAX_MESSAGES:
            _messages.clear()
        found = _messages[key] = (message, None)
    if variables:
        return found[0] % variables
    formatted = found[1]
    if formatted is None:
        formatted = found[0] % {}
        _messages[key] = (found[0], formatted)
    return formatted


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
    app.context_processor(language_context)


def language_context() -> dict[str, Any]:
    """`current_lang` and the translations the templates' `_()` reads."""
    code, translations = request_language()
    return {"current_lang": code, TRANSLATIONS: translations}
