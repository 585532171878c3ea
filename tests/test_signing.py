"""CSRF tokens that verified once are still refused when foreign, expired or from an old key."""

from __future__ import annotations

import time

import flask_wtf.csrf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import BadSignature, SignatureExpired

from modelserve.signing import RememberingSerializer, csrf_serializer
from tests.conftest import csrf_token

PAGE = "/models/exam"
VALUES = {"f0": "8", "f1": "8"}


def post(client: FlaskClient, token: str) -> int:
    return client.post(PAGE, data={"csrf_token": token, **VALUES}).status_code


def test_flask_wtf_builds_its_serializers_through_the_cache(app: Flask) -> None:
    assert flask_wtf.csrf.URLSafeTimedSerializer is csrf_serializer
    assert csrf_serializer("key", salt="s") is csrf_serializer("key", salt="s")
    assert csrf_serializer("key", salt="s") is not csrf_serializer("other key", salt="s")


def test_a_verified_token_is_still_refused_in_another_session(app: Flask) -> None:
    owner, other = app.test_client(), app.test_client()
    token = csrf_token(owner, PAGE)
    assert post(owner, token) == 200  # verified, and kept
    csrf_token(other, PAGE)  # a session with a token of its own
    assert post(other, token) == 400
    assert post(owner, token) == 200


def test_a_verified_token_still_expires(make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_app(WTF_CSRF_TIME_LIMIT=60).test_client()
    token = csrf_token(client, PAGE)
    assert post(client, token) == 200
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert post(client, token) == 400
    monkeypatch.undo()
    assert post(client, token) == 200


def test_a_verified_token_needs_the_current_key(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client, PAGE)
    assert post(client, token) == 200
    app.config["WTF_CSRF_SECRET_KEY"] = "another key"
    assert post(client, token) == 400


def test_the_serializer_keeps_only_what_verified_and_copies_it() -> None:
    serializer = RememberingSerializer("key", salt="salt")
    signed = serializer.dumps({"items": [1]})
    first = serializer.loads(signed, max_age=60)
    first["items"].append(2)
    assert serializer.loads(signed, max_age=60) == {"items": [1]}
    with pytest.raises(BadSignature):
        serializer.loads(signed[:-2] + "xx", max_age=60)
    with pytest.raises(BadSignature):
        RememberingSerializer("other key", salt="salt").loads(signed)
    with pytest.raises(SignatureExpired):
        serializer.loads(signed, max_age=-1)
