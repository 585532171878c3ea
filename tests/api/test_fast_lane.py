"""The WSGI fast lane answers exactly as the Flask path does: status, body, headers, records."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from modelserve.extensions import db
from modelserve.fastlane import FastLane, lane_is_safe
from modelserve.runtime.batching import OverloadedError
from modelserve.runtime.errors import DeadlineExceededError
from modelserve.runtime.registry import Registry
from modelserve.services import access, accounts, tokens
from modelserve.storage.history import HistoryUnavailableError
from modelserve.storage.tables import PredictionRecord
from tests.conftest import PASSWORD
from tests.test_metrics import samples

EXAM = "/api/v1/models/exam/predict"
IRIS = "/api/v1/models/iris/predict"
ROW = {"estudio": 6, "sueno": 8}
IRIS_ROW = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}
JSON = {"Content-Type": "application/json"}

# (path, keyword arguments of client.post, or "cookie": (name, value) to send) for an app;
# `token` is a valid predict token there.
Request = Callable[[str], tuple[str, dict[str, Any]]]
CASES: dict[str, Request] = {
    "single row": lambda token: (EXAM, {"json": ROW}),
    "instances": lambda token: (EXAM, {"json": {"instances": [ROW, {"estudio": 0, "sueno": 3}]}}),
    "iris": lambda token: (IRIS, {"json": IRIS_ROW}),
    "charset param": lambda token: (
        EXAM,
        {"data": b'{"estudio": 6, "sueno": 8}', "content_type": "application/json; charset=utf-8"},
    ),
    "invalid values": lambda token: (EXAM, {"json": {"estudio": "many", "sueno": 99}}),
    "invalid values es": lambda token: (
        EXAM,
        {"json": {"estudio": -1}, "headers": {"Accept-Language": "es"}},
    ),
    "unknown field": lambda token: (EXAM, {"json": {**ROW, "extra": 1}}),
    "bad json": lambda token: (EXAM, {"data": b'{"estudio": 6,', "headers": JSON}),
    "nan literal": lambda token: (EXAM, {"data": b'{"estudio": NaN, "sueno": 8}', "headers": JSON}),
    "byte order mark": lambda token: (
        EXAM,
        {"data": b'\xef\xbb\xbf{"estudio": 6, "sueno": 8}', "headers": JSON},
    ),
    "not an object": lambda token: (EXAM, {"json": [ROW]}),
    "empty instances": lambda token: (EXAM, {"json": {"instances": []}}),
    "empty body": lambda token: (EXAM, {"data": b"", "headers": JSON}),
    "wrong content type": lambda token: (
        EXAM,
        {"data": b'{"estudio": 6, "sueno": 8}', "content_type": "text/plain"},
    ),
    "problem json type": lambda token: (
        EXAM,
        {"data": b'{"estudio": 6, "sueno": 8}', "content_type": "application/vnd.x+json"},
    ),
    "token": lambda token: (EXAM, {"json": ROW, "headers": {"Authorization": f"Bearer {token}"}}),
    "bad token": lambda token: (EXAM, {"json": ROW, "headers": {"Authorization": "Bearer ms_x"}}),
    "signed-in-only model": lambda token: (
        "/api/v1/models/exam-legacy/predict",
        {"json": ROW},
    ),
    "unknown model": lambda token: ("/api/v1/models/nope/predict", {"json": ROW}),
    "trailing slash": lambda token: (EXAM + "/", {"json": ROW}),
    "request id given": lambda token: (EXAM, {"json": ROW, "headers": {"X-Request-ID": "abc-1"}}),
    "unsafe request id": lambda token: (
        EXAM,
        {"json": ROW, "headers": {"X-Request-ID": "a b<script>"}},
    ),
    "accept-language es": lambda token: (
        EXAM,
        {"json": ROW, "headers": {"Accept-Language": "es"}},
    ),
    "cookie": lambda token: (EXAM, {"json": ROW, "cookie": ("lang", "es")}),
    "too many rows": lambda token: (EXAM, {"json": {"instances": [ROW] * 6}}),
    "too large": lambda token: (EXAM, {"json": {"instances": [ROW] * 200}}),
}
SETTINGS = {"MAX_ROWS": 5, "MAX_CONTENT_LENGTH": 2000}


def post(app: Flask, path: str, kwargs: dict[str, Any]) -> TestResponse:
    client = app.test_client()
    kwargs = dict(kwargs)
    if "cookie" in kwargs:
        client.set_cookie(*kwargs.pop("cookie"))
    return client.post(path, **kwargs)


def setup(app: Flask) -> str:
    """A user with a predict token, and exam-legacy for signed-in users (an admin override)."""
    with app.app_context():
        user = accounts.create_user(db.session, "bob", PASSWORD)
        access.set_level(db.session, "exam-legacy", "signed-in")
        return tokens.create_token(db.session, user, name="t", scopes=["predict"]).plaintext


@pytest.fixture
def apps(make_app, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """The same app with the lane (`on`) and without it (`off`), each its own database."""
    on = make_app(**SETTINGS)
    off = make_app(
        FAST_LANE=False,
        DATABASE_URL=f"sqlite:///{tmp_path / 'off.db'}",
        INSTANCE_PATH=str(tmp_path / "off"),
        **SETTINGS,
    )
    assert isinstance(on.wsgi_app, FastLane) and not isinstance(off.wsgi_app, FastLane)
    yield on, off


def seen(response: TestResponse, given_id: str | None) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers; a generated request id is replaced by RID."""
    rid = response.headers["X-Request-ID"]
    body = response.get_data()
    headers = [(k, v) for k, v in response.headers.items()]
    if given_id is None or given_id != rid:
        body = body.replace(rid.encode(), b"RID")
        headers = [(k, "RID" if k == "X-Request-ID" else v) for k, v in headers]
    return response.status_code, body, headers


def history(app: Flask) -> list[tuple[Any, ...]]:
    with app.app_context():
        return [
            (r.model, r.version, r.inputs, r.label, r.probabilities, r.source, r.token_id)
            for r in db.session.scalars(db.select(PredictionRecord).order_by(PredictionRecord.id))
        ]


def counted(app: Flask) -> dict[tuple[str, tuple[Any, ...]], float]:
    """The metric samples that do not depend on timing."""
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        key: value
        for key, value in samples(text).items()
        if key[0].startswith("modelserve_")
        and not key[0].endswith(("_created", "_sum"))
        and not key[0].startswith("modelserve_prediction_seconds_bucket")
    }


def test_the_lane_answers_as_flask_does(apps: tuple[Flask, Flask]) -> None:
    on, off = apps
    token_on, token_off = setup(on), setup(off)
    for name, case in CASES.items():
        path, kwargs = case(token_on)
        _, kwargs_off = case(token_off)
        given = kwargs.get("headers", {}).get("X-Request-ID")
        got = seen(post(on, path, kwargs), given)
        expected = seen(post(off, path, kwargs_off), given)
        assert got == expected, name
    assert history(on) == history(off)
    assert counted(on) == counted(off)
    # One record per row of the 200s: 10 requests of one row, one of two.
    assert len(history(on)) == 12


def test_the_lane_serves_plain_requests_and_hands_the_rest_to_flask(
    apps: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    on, _ = apps
    token = setup(on)
    lane = on.wsgi_app
    assert isinstance(lane, FastLane)
    handed: list[str] = []
    flask = lane.flask
    monkeypatch.setattr(lane, "flask", lambda env, start: handed.append("x") or flask(env, start))
    for name in ("single row", "instances", "request id given", "accept-language es"):
        path, kwargs = CASES[name](token)
        assert post(on, path, kwargs).status_code == 200
    # Rows the service refuses are the service's answer too (rendered by Flask's handler).
    for name in ("invalid values", "invalid values es", "unknown field"):
        path, kwargs = CASES[name](token)
        assert post(on, path, kwargs).status_code == 422
    assert handed == []
    for name in ("bad json", "token", "signed-in-only model", "cookie"):
        path, kwargs = CASES[name](token)
        post(on, path, kwargs)
    assert len(handed) == 4


def test_the_request_id_is_the_one_logged_and_recorded(
    apps: tuple[Flask, Flask], caplog: pytest.LogCaptureFixture
) -> None:
    on, _ = apps
    with caplog.at_level(logging.INFO, logger="modelserve"):
        response = on.test_client().post(EXAM, json=ROW)
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 32
    lines = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "prediction"]
    assert [r.fields["request_id"] for r in lines] == [rid]
    with on.app_context():
        [record] = db.session.scalars(db.select(PredictionRecord))
        assert record.request_id == rid


@pytest.mark.parametrize(
    "fault",
    [
        DeadlineExceededError(0.1),
        OverloadedError(3),
        HistoryUnavailableError("down"),
    ],
    ids=["deadline", "overloaded", "history down"],
)
def test_errors_after_validation_are_answered_by_flask(
    apps: tuple[Flask, Flask],
    demo_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fault: Exception,
) -> None:
    def fail(*args: object) -> None:
        raise fault

    monkeypatch.setattr(demo_registry, "run", fail)
    on, off = apps
    given = {"X-Request-ID": "fault-1"}
    for headers in (given, {}):
        with caplog.at_level(logging.INFO, logger="modelserve"):
            caplog.clear()
            got = on.test_client().post(EXAM, json=ROW, headers=headers)
            lane_logged = [(r.name, r.getMessage()) for r in caplog.records]
            caplog.clear()
            expected = off.test_client().post(EXAM, json=ROW, headers=headers)
            flask_logged = [(r.name, r.getMessage()) for r in caplog.records]
        assert lane_logged == flask_logged  # the prediction line once, the handler's own
        assert sum(name == "modelserve.predictions" for name, _ in lane_logged) == 1
        assert got.status_code == expected.status_code == 503
        assert got.headers["Retry-After"]
        rid = headers.get("X-Request-ID")
        assert seen(got, rid) == seen(expected, rid)
    assert counted(on) == counted(off)


def test_the_lane_stays_off_where_it_cannot_be_proved_equivalent(make_app, tmp_path: Path) -> None:
    def lane_of(name: str, **config: object) -> bool:
        app = make_app(
            DATABASE_URL=f"sqlite:///{tmp_path / name}.db",
            INSTANCE_PATH=str(tmp_path / name),
            **config,
        )
        return isinstance(app.wsgi_app, FastLane)

    assert lane_of("default")
    assert not lane_of("off", FAST_LANE=False)
    # Flask-CORS answers requests without an Origin with its headers too.
    assert not lane_of("cors", CORS_ORIGINS=["https://app.example.com"])
    assert not lane_of("remember", REMEMBER_COOKIE_REFRESH_EACH_REQUEST=True)
    assert not lane_of("server-name", SERVER_NAME="models.example.com")
    assert not lane_of("trusted-hosts", TRUSTED_HOSTS=["models.example.com"])

    # Any request hook the lane does not know of (an authentication hook, app-wide limits).
    # (App-wide limits are not set here: Flask-Limiter keeps them in the shared extension.)
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'hooked'}.db")
    assert lane_is_safe(app)
    app.before_request_funcs.setdefault("api", []).append(lambda: None)
    assert not lane_is_safe(app)
    app.before_request_funcs["api"].pop()
    app.after_request_funcs.setdefault(None, []).append(lambda response: response)
    assert not lane_is_safe(app)


def test_the_lane_reads_the_access_levels_again_when_they_are_due(
    apps: tuple[Flask, Flask],
) -> None:
    on, off = apps
    assert post(on, EXAM, {"json": ROW}).status_code == 200
    for app in (on, off):
        with app.app_context():
            access.set_level(db.session, "exam", "signed-in")
        app.extensions["modelserve.gate"].forget()  # as if the cache had expired
    got, expected = post(on, EXAM, {"json": ROW}), post(off, EXAM, {"json": ROW})
    assert got.status_code == expected.status_code == 401
    assert seen(got, None) == seen(expected, None)
