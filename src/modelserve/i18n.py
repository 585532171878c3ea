"""Template translations looked up once per request instead of once per message.

Flask-Babel's template `_()` calls `get_translations()` for every message: three context
lookups, the locale turned into a string and a cache lookup each time, and a result page has
a dozen messages. The locale cannot change within a request here (nothing uses
`force_locale` or `refresh` while rendering), so the first lookup of a request is kept on `g`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from babel import Locale
from flask import Flask, g
from flask_babel import get_translations


@cache
def parsed_locale(code: str) -> Locale:
    """One `Locale` per code: Flask-Babel parses the selector's string on every request, and
    `Locale.parse` checks the locale data file on disk each time; a `Locale` passes through."""
    return Locale.parse(code)


def request_translations() -> Any:
    """This request's (or app context's) translations, looked up once."""
    found = g.get("_modelserve_translations")
    if found is None:
        found = g._modelserve_translations = get_translations()
    return found


def install_cached_gettext(app: Flask) -> None:
    """Replace the template gettext callables Flask-Babel installed with memoised ones."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
    )
