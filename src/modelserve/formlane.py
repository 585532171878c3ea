"""A WSGI fast lane for a visitor's form post: `POST /models/<name>`, answered by its result page.

Flask's request context, form parsing, session, CSRF and login hooks and the page's layout cost
several times the prediction. The lane answers a post without them only when it can prove the
Flask path would give the same page for the same caller. Every one of these must hold, and all
are checked before anything with side effects:

- a plain post: POST to the exact path with no query string, over http (over https,
  Flask-WTF also checks the Referer, so Flask answers), no `Authorization` or
  `Transfer-Encoding` header, an `application/x-www-form-urlencoded` body of a known length
  within `MAX_CONTENT_LENGTH` (and `MAX_FORM_BYTES`) that decodes as UTF-8;
- a visitor: the cookies are the session cookie and perhaps `lang`, nothing else (no remember
  cookie), and the session, opened by the app's own session interface (`sessions.py`), holds
  only the CSRF token: no signed-in user, no flashed messages, not permanent. Such a session
  is read but never changed, so Flask would set no cookie;
- the CSRF check passes as Flask-WTF's `validate_csrf` does it, with the same serializer
  (`signing.csrf_serializer`), salt, time limit and field: the form's first `csrf_token`
  value is signed by the key, within its age, and the same as the session's;
- the model exists and its effective access level is `public` (`fastlane.is_public`);
- the page around the result is already kept (`web/results.py`: the Flask path keeps it on its
  first visitor's post for this path, language and model), and so is the language's catalogue.

The rows are `forms.form_rows` of the same parsed form, and the service is called with the
same anonymous `Caller` as `context.caller("web")`, so history, the log line and metrics are the
Flask path's. An invalid value is answered by the view's own `invalid_page` in a request context
built from the same environ (422, the form with its errors), and any other error by Flask's
error handlers (`fastlane.flask_failure`). The page is `ResultPages.page` of the kept shell,
the same call as the Flask path's, with the status and headers Flask gives it.

The lane is installed only when the request hooks Flask would run for the page are the known
ones (`KNOWN_HOOKS`) and the session, CSRF and login parts are this app's own; any other
(app-wide rate limits, CORS, a hook added later) keeps every post on the Flask path.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import flask_wtf.csrf
from flask import Flask
from flask.typing import ResponseReturnValue
from itsdangerous import BadData
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.http import parse_cookie

from . import fastlane
from .context import request_id_of
from .extensions import VisitorAwareLoginManager
from .fastlane import (
    StartResponse,
    WsgiApp,
    flask_failure,
    is_public,
    predict_anonymously,
    read_body,
)
from .headers import add_common_headers
from .i18n import LANGUAGE, Language, choose_locale
from .runtime.errors import ValidationError
from .runtime.registry import LoadedModel
from .sessions import CachedSessionInterface
from .signing import csrf_serializer
from .web.forms import form_rows
from .web.results import ResultPages, Shell, ShellKey, result_pages
from .web.views import invalid_page

PATH_RE = re.compile(r"/models/([A-Za-z0-9._-]+)")
FORM_MIMETYPE = "application/x-www-form-urlencoded"
# A model form is a few short fields; a longer body goes the Flask way.
MAX_FORM_BYTES = 64 * 1024
LANG_COOKIE = "lang"
FLASK_ONLY_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_TRANSFER_ENCODING")
# Flask-WTF's salt for CSRF tokens (`generate_csrf`, `validate_csrf`).
CSRF_SALT = "wtf-csrf-token"


class Visit(NamedTuple):
    """A post the lane answers: everything checked, nothing done yet."""

    model: LoadedModel
    rows: list[dict[str, str]]
    lang: Language
    shell: Shell


class FormLane:
    """WSGI middleware in front of `app.wsgi_app` (see the module's docstring)."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.flask = wsgi_app
        self.pages: ResultPages = result_pages(app)
        self.sessions: CachedSessionInterface = app.session_interface  # type: ignore[assignment]
        # The status and headers of an HTML page: the view's string, then `security_headers`.
        probe = app.response_class("", mimetype="text/html")
        add_common_headers(probe.headers, "", html=True)
        self._status: str = probe.status
        self._head: list[tuple[str, str]] = probe.headers.to_wsgi_list()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.flask(environ, start_response)
        match = PATH_RE.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or not self._plain(environ):
            return self.flask(environ, start_response)
        body = read_body(environ)
        if body is None:  # a client that went away: Flask reads what is left and says so
            return self.flask(environ, start_response)
        visit = self._visit(match.group(1), body, environ)
        if visit is None:
            environ["wsgi.input"].seek(0)  # `read_body` re-wrapped it
            return self.flask(environ, start_response)
        return self._answer(visit, environ, start_response)

    def _plain(self, environ: dict[str, Any]) -> bool:
        """A form post over http with no query, headers or size only Flask handles."""
        if environ.get("QUERY_STRING") or environ.get("wsgi.url_scheme") != "http":
            return False
        if any(key in environ for key in FLASK_ONLY_HEADERS) or "HTTP_COOKIE" not in environ:
            return False
        if not environ.get("SCRIPT_NAME", "").isascii():
            return False
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if mimetype != FORM_MIMETYPE:
            return False
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isascii() and length.isdigit()) or int(length) > MAX_FORM_BYTES:
            return False
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        return limit is None or int(length) <= int(limit)

    def _visit(self, name: str, body: bytes, environ: dict[str, Any]) -> Visit | None:
        """The visit when the Flask path would answer it with a result page, else None."""
        app = self.app
        config = app.config
        checked = config["WTF_CSRF_ENABLED"] and config["WTF_CSRF_CHECK_DEFAULT"]
        visitor = self._visitor(environ) if checked else None
        model = app.extensions["modelserve.registry"].models.get(name)
        if visitor is None or model is None or "POST" not in config["WTF_CSRF_METHODS"]:
            return None
        lang_cookie, session = visitor
        lang = self._language(lang_cookie, environ)
        key = ShellKey(
            environ.get("SCRIPT_NAME", "").rstrip("/"),
            environ["PATH_INFO"] + "?",
            lang.code if lang is not None else "",
            model,
            bool(config["SELF_REGISTRATION"]),
        )
        shell = self.pages.shells.get(key)
        if lang is None or shell is None:
            return None
        form = parse_form(body)
        field = config["WTF_CSRF_FIELD_NAME"]
        if form is None or not self._csrf_passes(form.get(field), session.get(field)):
            return None
        if not is_public(app, model):
            return None
        return Visit(model, form_rows(form, model), lang, shell)

    def _visitor(self, environ: dict[str, Any]) -> tuple[str | None, dict[str, Any]] | None:
        """The `lang` cookie and the session of a visitor whose session holds only the CSRF
        token, and who sends no other cookie; None for anyone else."""
        name = self.sessions.get_cookie_name(self.app)
        cookies = visitor_cookies(environ.get("HTTP_COOKIE", ""), name)
        if cookies is None:
            return None
        session = self.sessions.contents(self.app, cookies[1], copy=False)
        if set(session) != {self.app.config["WTF_CSRF_FIELD_NAME"]}:
            return None
        return cookies[0], session

    def _language(self, cookie: str | None, environ: dict[str, Any]) -> Language | None:
        """`request_language()` as the Flask path would find it, when already kept."""
        config = self.app.config
        locale = choose_locale(
            cookie,
            environ.get("HTTP_ACCEPT_LANGUAGE", ""),
            tuple(config["LANGUAGES"]),
            config["BABEL_DEFAULT_LOCALE"],
        )
        found: Language | None = self.app.extensions.get(LANGUAGE, {}).get(locale)
        return found

    def _csrf_passes(self, token: str | None, session_token: Any) -> bool:
        """Flask-WTF's `validate_csrf(token)` passes (its checks, in its order)."""
        config = self.app.config
        secret = config.get("WTF_CSRF_SECRET_KEY", self.app.secret_key)
        if not token or not secret or not isinstance(session_token, str):
            return False
        serializer = csrf_serializer(secret, salt=CSRF_SALT)
        try:
            signed = serializer.loads(token, max_age=config.get("WTF_CSRF_TIME_LIMIT", 3600))
        except BadData:
            return False
        if not (isinstance(signed, str) and signed.isascii() and session_token.isascii()):
            return False
        return hmac.compare_digest(session_token, signed)

    def _answer(
        self, visit: Visit, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """`context.predict(name, rows, "web")` for the visitor, and the view's page."""
        app = self.app
        rid = request_id_of(environ)
        model = visit.model
        try:
            # The model is public (`_visit`), so the gate lets the visitor through.
            outcome = predict_anonymously(app, "web", model.name, visit.rows, rid)
        except ValidationError as exc:  # the view's answer: the form with its errors
            return flask_failure(app, exc, rid, environ, start_response, self._invalid(model))
        except Exception as exc:  # answered by Flask's handlers, as the view's
            return flask_failure(app, exc, rid, environ, start_response)
        page = self.pages.page(visit.shell, model, outcome, visit.lang).encode()
        values = {"Content-Length": str(len(page)), "X-Request-ID": rid}
        start_response(self._status, [(key, values.get(key, value)) for key, value in self._head])
        return [page]

    @staticmethod
    def _invalid(model: LoadedModel) -> Callable[[Exception], ResponseReturnValue]:
        def respond(exc: Exception) -> ResponseReturnValue:
            if not isinstance(exc, ValidationError):
                raise exc
            return invalid_page(model, exc)

        return respond


@lru_cache(maxsize=1024)
def visitor_cookies(header: str, session_cookie: str) -> tuple[str | None, str] | None:
    """The `lang` cookie and the session cookie of a `Cookie` header that holds the session
    cookie, perhaps `lang`, and nothing else, each once (as `request.cookies` parses it); None
    for any other. A browser sends the same header again and again, so answers are kept."""
    cookies = parse_cookie(header)
    if session_cookie not in cookies or not set(cookies) <= {session_cookie, LANG_COOKIE}:
        return None
    if any(len(values) != 1 for values in cookies.listvalues()):
        return None
    return cookies.get(LANG_COOKIE), cookies[session_cookie]


def parse_form(body: bytes) -> ImmutableMultiDict[str, str] | None:
    """`request.form` of this body, as Werkzeug parses a urlencoded one; None if not UTF-8."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    return ImmutableMultiDict(parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"))


# The request hooks the Flask path runs for the model page, and why the lane may skip them:
# `csrf_protect` passes exactly when `_csrf_passes` does; Flask-Login's remember-cookie hook
# finds no `_remember` in a visitor's session and changes nothing (it reads the session, which
# makes Flask add `Vary: Cookie`, already in `security_headers`' `Vary`); the lane adds
# `security_headers`' headers itself. The web blueprint has no hooks of its own.
KNOWN_HOOKS = {
    "before_request_funcs": {
        None: ["flask_wtf.csrf:CSRFProtect.init_app.<locals>.csrf_protect"],
    },
    "after_request_funcs": {
        None: [
            "flask_login.login_manager:LoginManager._update_remember_cookie",
            "modelserve.app:register_hooks.<locals>.security_headers",
        ],
    },
    "teardown_request_funcs": {},
    "url_value_preprocessors": {},
}


def lane_is_safe(app: Flask) -> bool:
    """Only the hooks in KNOWN_HOOKS would run, and the session, CSRF and login are ours."""
    login = getattr(app, "login_manager", None)
    csrf = app.extensions.get("csrf")
    web = app.blueprints.get("web")
    ours = (
        type(app.session_interface) is CachedSessionInterface
        and flask_wtf.csrf.URLSafeTimedSerializer is csrf_serializer
        and isinstance(login, VisitorAwareLoginManager)
        and login._request_callback is None
        and getattr(login, "_header_callback", None) is None
        and csrf is not None
        and web is not None
        and web not in csrf._exempt_blueprints
    )
    if not ours or fastlane.flask_checks_more(app):
        return False
    return all(
        fastlane.hook_names(app, name, ("web",)) == known for name, known in KNOWN_HOOKS.items()
    )


def register_form_lane(app: Flask) -> None:
    """Put the lane in front of Flask (FAST_LANE, on by default) when it is provably safe."""
    if app.config.get("FAST_LANE", True) and lane_is_safe(app):
        app.wsgi_app = FormLane(app, app.wsgi_app)  # type: ignore[method-assign]
