"""The form lane answers a visitor's form post exactly as the Flask path does, or hands it over."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from werkzeug.test import EnvironBuilder, TestResponse

from modelserve.extensions import db
from modelserve.fastlane import FastLane
from modelserve.formlane import FormLane, lane_is_safe
from modelserve.runtime.errors import DeadlineExceededError
from modelserve.runtime.registry import Registry
from modelserve.services import access
from tests.api.test_fast_lane import counted, history
from tests.conftest import csrf_token, sign_in

EXAM = "/models/exam"
IRIS = "/models/iris"
VALUES = {"f0": "6", "f1": "8"}
IRIS_VALUES = {"f0": "6.3", "f1": "3.3", "f2": "6.0", "f3": "2.5"}
FORM = "application/x-www-form-urlencoded"

# A visitor's post: (client, the CSRF token of its session) -> the response.
Post = Callable[[FlaskClient, str], TestResponse]


def form(token: str, values: dict[str, str]) -> dict[str, str]:
    return {"csrf_token": token, **values}


# Posts the lane answers (once the page around the result is kept).
SERVED: dict[str, Post] = {
    "exam": lambda c, t: c.post(EXAM, data=form(t, VALUES)),
    "exam again, other values": lambda c, t: c.post(EXAM, data=form(t, {"f0": "0.5", "f1": "3"})),
    "english browser": lambda c, t: c.post(
        EXAM, data=form(t, VALUES), headers={"Accept-Language": "en"}
    ),
    "iris": lambda c, t: c.post(IRIS, data=form(t, IRIS_VALUES)),
    "charset param": lambda c, t: c.post(
        EXAM,
        data=f"csrf_token={t}&f0=6&f1=8".encode(),
        content_type=f"{FORM}; charset=utf-8",
    ),
    "encoded and repeated fields": lambda c, t: c.post(
        EXAM,
        data=f"f0=%36&f0=9&csrf_token={t}&f1=+8+&unknown=%E2%9C%93&csrf_token=x".encode(),
        content_type=FORM,
    ),
    "request id given": lambda c, t: c.post(
        EXAM, data=form(t, VALUES), headers={"X-Request-ID": "form-1"}
    ),
    "invalid values": lambda c, t: c.post(EXAM, data=form(t, {"f0": "many", "f1": "99"})),
    "invalid values, english": lambda c, t: c.post(
        EXAM, data=form(t, {"f0": "", "f1": "<b>"}), headers={"Accept-Language": "en"}
    ),
}

# Posts the lane hands to Flask.
HANDED: dict[str, Post] = {
    "no token": lambda c, t: c.post(EXAM, data=VALUES),
    "forged token": lambda c, t: c.post(EXAM, data=form("a" + t[1:], VALUES)),
    "token in a header": lambda c, t: c.post(EXAM, data=VALUES, headers={"X-CSRFToken": t}),
    "query string": lambda c, t: c.post(EXAM + "?f0=1", data=form(t, VALUES)),
    "https": lambda c, t: c.post(
        EXAM,
        data=form(t, VALUES),
        base_url="https://localhost",
        headers={"Referer": "https://localhost/models/exam"},
    ),
    "unknown model": lambda c, t: c.post("/models/nope", data=form(t, VALUES)),
    "multipart": lambda c, t: c.post(
        EXAM, data=form(t, VALUES), content_type="multipart/form-data"
    ),
    "not utf-8": lambda c, t: c.post(
        EXAM, data=f"csrf_token={t}&f0=6&f1=\xff".encode("latin-1"), content_type=FORM
    ),
    "authorization header": lambda c, t: c.post(
        EXAM, data=form(t, VALUES), headers={"Authorization": "Bearer ms_x"}
    ),
}


def seen(response: TestResponse) -> tuple[int, str, list[tuple[str, str]]]:
    """Status, page and headers, with what differs by chance (ids, timings, tokens) masked."""
    rid = response.headers["X-Request-ID"]
    page = response.get_data(as_text=True).replace(rid, "RID")
    page = re.sub(r"· [0-9.]+ ms", "· T ms", page)
    page = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+"', r'\1TOKEN"', page)
    headers = [(k, "RID" if k == "X-Request-ID" else v) for k, v in response.headers.items()]
    headers = [(k, re.sub(r"session=[^;]+", "session=S", v)) for k, v in headers]
    return response.status_code, page, headers


def lane_of(app: Flask) -> FormLane | None:
    wsgi: Any = app.wsgi_app
    while wsgi is not None and not isinstance(wsgi, FormLane):
        wsgi = getattr(wsgi, "flask", None)
    return wsgi


@pytest.fixture
def apps(make_app, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """The same app with the lanes (`on`) and without them (`off`), each its own database."""
    on = make_app()
    off = make_app(
        FAST_LANE=False,
        DATABASE_URL=f"sqlite:///{tmp_path / 'off.db'}",
        INSTANCE_PATH=str(tmp_path / "off"),
    )
    assert lane_of(on) is not None and lane_of(off) is None
    yield on, off


def visitor(app: Flask, page: str = EXAM) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, csrf_token(client, page)


def handoffs(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model pages whose posts the form lane hands to Flask from now on."""
    lane = lane_of(app)
    assert lane is not None
    handed: list[str] = []
    flask = lane.flask

    def count(environ: dict[str, Any], start: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].startswith("/models/"):
            handed.append(environ["PATH_INFO"])
        return flask(environ, start)

    monkeypatch.setattr(lane, "flask", count)
    return handed


def test_the_lane_answers_as_flask_does(apps: tuple[Flask, Flask]) -> None:
    on, off = apps
    for name, case in {**SERVED, **HANDED}.items():
        for _ in range(2):  # the first post of a page keeps the page around the result
            got = seen(case(*visitor(on)))
            expected = seen(case(*visitor(off)))
            assert got == expected, name
    assert history(on) == history(off)
    assert counted(on) == counted(off)
    sources = {record[5] for record in history(on)}
    assert sources == {"web"}


def test_visitors_posts_are_served_by_the_lane(
    apps: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    on, _ = apps
    client, token = visitor(on)
    first = SERVED["exam"](client, token)  # keeps the page around an exam result, in Spanish
    handed = handoffs(on, monkeypatch)
    again = SERVED["exam"](client, token)
    assert first.status_code == again.status_code == 200
    assert seen(first)[1] == seen(again)[1]
    assert handed == []
    assert SERVED["invalid values"](client, token).status_code == 422
    assert handed == []  # the view's own answer, in a request context the lane built
    assert SERVED["iris"](client, token).status_code == 200
    assert handed == [IRIS]  # another page: kept now
    assert SERVED["iris"](client, token).status_code == 200
    assert handed == [IRIS]
    for name, case in HANDED.items():
        before = len(handed)
        case(*visitor(on))
        assert len(handed) == before + 1, name


def test_signed_in_users_messages_and_other_cookies_go_to_flask(
    apps: tuple[Flask, Flask], users: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    on, off = apps
    SERVED["exam"](*visitor(on))
    handed = handoffs(on, monkeypatch)

    bob = on.test_client()
    sign_in(bob, "bob")
    page = SERVED["exam"](bob, csrf_token(bob, EXAM))
    assert page.status_code == 200 and 'id="signed-in-as">bob<' in page.get_data(as_text=True)
    assert handed == [EXAM]

    client, token = visitor(on)
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Hola")]
    page = SERVED["exam"](client, token)
    assert page.status_code == 200 and ">Hola</div>" in page.get_data(as_text=True)
    assert handed == [EXAM] * 2
    # The message was shown once; the next post is a plain visitor's again.
    assert SERVED["exam"](client, token).status_code == 200
    assert handed == [EXAM] * 2

    client, token = visitor(on)
    client.set_cookie("remember_token", "x")
    assert SERVED["exam"](client, token).status_code == 200
    assert handed == [EXAM] * 3
    client, token = visitor(on)
    client.set_cookie("lang", "es")  # the language cookie is a visitor's too
    assert ">Aprobado<" in SERVED["exam"](client, token).get_data(as_text=True)
    assert handed == [EXAM] * 4  # its page around the result, in Spanish, is kept now
    assert ">Aprobado<" in SERVED["exam"](client, token).get_data(as_text=True)
    assert handed == [EXAM] * 4
    for app in (on, off):  # a model only signed-in users may use
        with app.app_context():
            access.set_level(db.session, "exam", "signed-in")
        app.extensions["modelserve.gate"].forget()
    got = SERVED["exam"](*visitor(on, IRIS))
    expected = SERVED["exam"](*visitor(off, IRIS))
    assert got.status_code == expected.status_code != 200
    assert seen(got) == seen(expected)


def test_an_expired_or_foreign_token_is_refused_as_flask_refuses_it(
    apps: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    on, off = apps
    SERVED["exam"](*visitor(on))
    handed = handoffs(on, monkeypatch)

    def expired(client: FlaskClient, token: str) -> TestResponse:
        app = client.application
        with client.session_transaction() as session:
            raw = session["csrf_token"]

        class Then(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - app.config["WTF_CSRF_TIME_LIMIT"] - 60

        serializer = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token", signer=Then)
        old = serializer.dumps(raw)
        return client.post(EXAM, data=form(old, VALUES))

    def foreign(client: FlaskClient, token: str) -> TestResponse:
        other = visitor(client.application)[1]  # signed by the key, for another session
        return client.post(EXAM, data=form(other, VALUES))

    for case in (expired, foreign):
        got, expected = case(*visitor(on)), case(*visitor(off))
        assert got.status_code == expected.status_code == 400
        assert seen(got) == seen(expected)
    assert handed == [EXAM] * 2


def test_errors_after_validation_are_answered_by_flask(
    apps: tuple[Flask, Flask], demo_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    on, off = apps
    SERVED["exam"](*visitor(on))
    SERVED["exam"](*visitor(off))
    handed = handoffs(on, monkeypatch)

    def fail(*args: object) -> None:
        raise DeadlineExceededError(0.1)

    monkeypatch.setattr(demo_registry, "run", fail)
    got, expected = SERVED["exam"](*visitor(on)), SERVED["exam"](*visitor(off))
    assert got.status_code == expected.status_code == 503
    assert seen(got) == seen(expected)
    assert handed == []
    assert counted(on) == counted(off)


def test_the_lane_stays_off_where_it_cannot_be_proved_equivalent(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def made(name: str, **config: object) -> Flask:
        return make_app(
            DATABASE_URL=f"sqlite:///{tmp_path / name}.db",
            INSTANCE_PATH=str(tmp_path / name),
            **config,
        )

    assert lane_of(made("default")) is not None
    assert lane_of(made("off", FAST_LANE=False)) is None
    assert lane_of(made("remember", REMEMBER_COOKIE_REFRESH_EACH_REQUEST=True)) is None
    assert lane_of(made("server-name", SERVER_NAME="models.example.com")) is None
    assert lane_of(made("trusted-hosts", TRUSTED_HOSTS=["models.example.com"])) is None
    # Flask-CORS adds its headers to every answer.
    assert lane_of(made("cors", CORS_ORIGINS=["https://app.example.com"])) is None

    app = made("hooked")
    assert lane_is_safe(app)
    app.before_request_funcs.setdefault("web", []).append(lambda: None)
    assert not lane_is_safe(app)
    app.before_request_funcs["web"].pop()
    app.after_request_funcs.setdefault(None, []).append(lambda response: response)
    assert not lane_is_safe(app)
    app.after_request_funcs[None].pop()
    assert lane_is_safe(app)

    # Settings read on each post: with CSRF checks off the form's own check runs, in Flask.
    SERVED["exam"](*visitor(app))
    handed = handoffs(app, monkeypatch)
    client, token = visitor(app)
    app.config["WTF_CSRF_ENABLED"] = False
    assert SERVED["exam"](client, token).status_code == 200
    assert handed == [EXAM]
    assert isinstance(made("again").wsgi_app, FastLane)


class Unreadable:
    """A request body whose client went away: every read fails, and it cannot seek."""

    def read(self, *args: object) -> bytes:
        raise OSError("the client went away")


def test_a_body_that_cannot_be_read_goes_to_flask_unread(apps: tuple[Flask, Flask]) -> None:
    on, off = apps
    client, token = visitor(on)
    SERVED["exam"](client, token)
    cookie = client.get_cookie("session")
    assert cookie is not None
    answers: list[str] = []
    for app in (on, off):
        body = f"csrf_token={token}&f0=6&f1=8".encode()
        environ = {
            **EnvironBuilder(
                path=EXAM,
                method="POST",
                data=body,
                content_type=FORM,
                headers={"Cookie": f"session={cookie.value}"},
            ).get_environ(),
            "wsgi.input": Unreadable(),
        }
        b"".join(app.wsgi_app(environ, lambda status, *rest: answers.append(status)))
    assert answers[0] == answers[1] and answers[0][:3] in ("400", "500")
