"""A WSGI fast lane for `POST /api/v1/models/<name>/predict`.

Flask's request context, session, Babel, CSRF and login hooks cost more CPU than the
prediction itself. The lane answers a request without them only when it can prove the Flask
view would hand the service the same rows for the same caller: POST to the exact path, an
`application/json` body within `MAX_CONTENT_LENGTH` (with a Content-Length, no chunked
encoding), no `Authorization` header (token holders take the Flask path, which verifies the
token), no `Cookie` header (so no session or remember cookie could be read or refreshed), a
model that exists and whose effective access level (manifest or admin override) is
`public`, at most `MAX_ROWS` rows, a body orjson parses into rows. Every check runs before
anything with side effects; a request that fails one goes to Flask with its body
re-wrapped, unchanged. The lane is installed only when the request hooks Flask would run are
the known ones (`KNOWN_HOOKS`): with CORS on (Flask-CORS answers even requests without an
Origin with its headers), app-wide rate limits, or any hook added later, every request goes
to Flask.

Then the lane calls the same service with the same anonymous `Caller` that
`context.caller("api")` builds (request id, `LOG_INPUTS`, metrics), so history, the log line
and metrics are the Flask path's. An error the service raises (invalid rows, deadline,
overload, database down) is answered by Flask's own error handlers in a request context
built from the same environ, so every error body stays the same. The success answer carries
the status, body and headers the Flask path gives (`app.json.response` plus `register_hooks`'
headers), written straight to `start_response`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import Flask, g

from .context import request_id_of
from .headers import common_headers
from .jsonio import fast_loads
from .metrics import Metrics
from .runtime.registry import LoadedModel
from .services import predictions

PATH_RE = re.compile(r"/api/v1/models/([A-Za-z0-9._-]+)/predict")
ALLOWED_MIMETYPE = "application/json"
# Any of these sends the request to Flask: tokens, sessions, chunked bodies.
FLASK_ONLY_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_TRANSFER_ENCODING")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FastLane:
    """WSGI middleware in front of `app.wsgi_app` (see the module's docstring)."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.flask = wsgi_app
        # The status and headers `app.json.response` starts an answer with.
        probe = app.response_class(b"", mimetype=app.json.mimetype)  # type: ignore[attr-defined]
        self._status: str = probe.status
        self._head: list[tuple[str, str]] = probe.headers.to_wsgi_list()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.flask(environ, start_response)
        match = PATH_RE.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or not self._plain(environ):
            return self.flask(environ, start_response)
        body = read_body(environ)
        if body is None:
            return self.flask(environ, start_response)
        return self._serve(match.group(1), body, environ, start_response)

    def _plain(self, environ: dict[str, Any]) -> bool:
        """No header that only the Flask path handles, a JSON body of a size Flask accepts."""
        if any(key in environ for key in FLASK_ONLY_HEADERS):
            return False
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if mimetype != ALLOWED_MIMETYPE:
            return False
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isascii() and length.isdigit()):
            return False
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        return limit is None or int(length) <= int(limit)

    def _serve(
        self, name: str, body: bytes, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        rows = self._rows(name, body)
        if rows is None:
            environ["wsgi.input"].seek(0)
            return self.flask(environ, start_response)
        return self._predict(name, rows, environ, start_response)

    def _predict(
        self, name: str, rows: list[Any], environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """`context.predict(name, rows, "api")` for an anonymous caller, and the view's answer."""
        app = self.app
        rid = request_id_of(environ)
        try:
            # The model is public (`_rows`), so the gate lets the anonymous caller through.
            outcome = predict_anonymously(app, "api", name, rows, rid)
        except Exception as exc:  # invalid input too: answered by Flask's handlers, as the view's
            return flask_failure(app, exc, rid, environ, start_response)
        body = app.json.response_body(predictions.as_json(outcome))  # type: ignore[attr-defined]
        # `app.json.response`'s headers, `add_common_headers`, then the `Vary: Cookie` that
        # Flask-Login's remember-cookie hook causes by reading the (empty) session on every
        # request (`sessions.save_session`).
        headers = [
            (key, str(len(body)) if key == "Content-Length" else value) for key, value in self._head
        ]
        headers += common_headers(rid)
        headers.append(("Vary", "Cookie"))
        start_response(self._status, headers)
        return [body]

    def _rows(self, name: str, body: bytes) -> list[Any] | None:
        """The rows when the Flask path would hand them to the service for an anonymous
        caller, else None. Whether they are valid is the service's to say."""
        model = self.app.extensions["modelserve.registry"].models.get(name)
        if model is None or not is_public(self.app, model):
            return None
        rows = rows_of(body)
        if rows is None:
            return None
        max_rows = int(self.app.config["MAX_ROWS"])
        if max_rows and len(rows) > max_rows:
            return None
        return rows


def predict_anonymously(
    app: Flask, source: str, name: str, rows: Sequence[Any], rid: str
) -> predictions.Outcome:
    """`context.predict(name, rows, source)` for an anonymous caller of a public model (a lane
    has checked the level, so no gate), with the caller `context.caller(source)` would build.

    No app context is pushed: the service needs none, and pushing and popping one costs more
    than the metrics.
    """
    metrics: Metrics | None = app.extensions.get("modelserve.metrics")
    caller = predictions.Caller(
        source,
        request_id=rid,
        log_inputs=bool(app.config["LOG_INPUTS"]),
        observe=metrics.observe if metrics else None,
    )
    extensions = app.extensions
    return predictions.predict(
        extensions["modelserve.registry"],
        name,
        rows,
        caller,
        max_rows=int(app.config["MAX_ROWS"]),
        gate=None,
        recorder=extensions["modelserve.history"],
    )


def read_body(environ: dict[str, Any]) -> bytes | None:
    """The whole body, with `wsgi.input` re-wrapped so Flask can read it again."""
    length = int(environ["CONTENT_LENGTH"])
    try:
        body: bytes = environ["wsgi.input"].read(length) if length else b""
    except Exception:  # a client that went away: Flask reads what is left and says so
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    return body if len(body) == length else None


def is_public(app: Flask, model: LoadedModel) -> bool:
    """The model's effective level (admin overrides included) is `public`."""
    gate = app.extensions["modelserve.gate"]
    try:
        level = gate.cached_level(model)
        if level is None:  # due a reload, which reads the database: in an app context
            with app.app_context():
                level = gate.level(model)
    except Exception:  # the levels cannot be read: Flask's path fails closed and says so
        return False
    return bool(level == "public")


def flask_failure(
    app: Flask,
    exc: Exception,
    rid: str,
    environ: dict[str, Any],
    start_response: StartResponse,
    respond: Callable[[Exception], Any] | None = None,
) -> Iterable[bytes]:
    """The response Flask gives when its view meets `exc`, as `full_dispatch_request` would
    give it: `respond(exc)` (a view's own answer to it, run in the request context) when
    given, else the error handlers'.

    The body is read again from the start. The request context pushes its own app context,
    where `g.request_id` is set to the one already logged; with `respond`, `g.csrf_valid` is
    set too, as `CSRFProtect` sets it (the form lane answers only posts whose token passed).
    """
    environ["wsgi.input"].seek(0)
    ctx = app.request_context(environ)
    ctx.push()
    error: BaseException | None = None
    try:
        g.request_id = rid
        try:
            if respond is None:
                rv = app.handle_user_exception(exc)
            else:
                g.csrf_valid = True
                try:
                    rv = respond(exc)
                except Exception as raised:
                    rv = app.handle_user_exception(raised)
            response = app.finalize_request(rv)
        except Exception as unhandled:
            error = unhandled
            response = app.handle_exception(unhandled)
        return response(environ, start_response)  # type: ignore[no-any-return]
    finally:
        if error is not None and app.should_ignore_error(error):
            error = None
        ctx.pop(error)


def rows_of(body: bytes) -> list[Any] | None:
    """`api.parsing.rows_of(json_body(...))` when orjson parses the body and no error is due."""
    parsed, value = fast_loads(body)
    if not parsed or not isinstance(value, dict):
        return None
    if "instances" in value and len(value) == 1:
        rows = value["instances"]
        return rows if isinstance(rows, list) and rows else None
    return [value]


# The request hooks the Flask path runs for this endpoint, and why the lane may skip them:
# CSRF exempts the API blueprint; `authenticate_token` does nothing without Authorization;
# Flask-Login's remember-cookie hook does nothing without a session (no Cookie) unless
# REMEMBER_COOKIE_REFRESH_EACH_REQUEST is on, but it reads the session, which makes Flask
# add `Vary: Cookie`; that and `security_headers` the lane adds itself.
# Any other hook (CORS, app-wide rate limits, a future authentication hook) turns it off.
KNOWN_HOOKS = {
    "before_request_funcs": {
        None: ["flask_wtf.csrf:CSRFProtect.init_app.<locals>.csrf_protect"],
        "api": ["modelserve.api.auth:authenticate_token"],
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


def hook_names(
    app: Flask, attribute: str, blueprints: tuple[str, ...] = ("api",)
) -> dict[str | None, list[str]]:
    """The hooks that run on a request to `blueprints`, as `module:qualname`, by blueprint."""
    hooks: dict[str | None, list[Any]] = getattr(app, attribute)
    return {
        scope: [f"{f.__module__}:{f.__qualname__}" for f in funcs]
        for scope, funcs in hooks.items()
        if (scope is None or scope in blueprints) and funcs
    }


def lane_is_safe(app: Flask) -> bool:
    """Only the hooks in KNOWN_HOOKS would run, and none of them can change the answer."""
    if flask_checks_more(app):
        return False
    return all(hook_names(app, name) == known for name, known in KNOWN_HOOKS.items())


def flask_checks_more(app: Flask) -> bool:
    """Settings under which Flask's path checks or does what a lane does not: a bound host
    (`SERVER_NAME`) or trusted hosts (`TRUSTED_HOSTS`: a request for another host is refused
    with 400), or a remember cookie refreshed on every request."""
    config = app.config
    return bool(
        config.get("SERVER_NAME")
        or config.get("TRUSTED_HOSTS") is not None
        or config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST")
    )


def register_fast_lane(app: Flask) -> None:
    """Put the lane in front of Flask (FAST_LANE, on by default) when it is provably safe."""
    if app.config.get("FAST_LANE", True) and lane_is_safe(app):
        app.wsgi_app = FastLane(app, app.wsgi_app)  # type: ignore[method-assign]
