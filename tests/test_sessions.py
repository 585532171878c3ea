"""Visitors keep their session as it is (no cookie rewritten per answer); verified cookies kept."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask, request, session
from flask.testing import FlaskClient

from tests.conftest import csrf_token, sign_in


def test_a_visitors_form_post_sets_no_cookie(client: FlaskClient) -> None:
    token = csrf_token(client, "/models/exam")  # the session now holds the CSRF token
    response = client.post("/models/exam", data={"csrf_token": token, "f0": "6", "f1": "8"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers  # neither the session nor a remember cookie
    again = client.post("/models/exam", data={"csrf_token": token, "f0": "7", "f1": "8"})
    assert again.status_code == 200  # the same session, still valid


def test_a_visitor_without_the_token_is_still_refused(client: FlaskClient) -> None:
    csrf_token(client, "/models/exam")
    response = client.post("/models/exam", data={"f0": "6", "f1": "8"})
    assert response.status_code == 400


def test_signed_in_users_are_still_loaded_and_protected(client: FlaskClient, users) -> None:
    assert sign_in(client, "bob").status_code == 302
    assert 'id="signed-in-as">bob<' in client.get("/").get_data(as_text=True)
    # Strong session protection: the same session from another client is signed out.
    other = client.get("/", headers={"User-Agent": "another browser"})
    assert "signed-in-as" not in other.get_data(as_text=True)


def counting_app(make_app, **config: object) -> Flask:
    """An app with a page that appends to a list kept in the session and answers its length."""
    app = make_app(**config)

    def count() -> str:
        items = session.setdefault("items", [])
        items.append(len(items))
        session.modified = True
        return str(len(items))

    app.add_url_rule("/count", view_func=count)
    return app


def test_each_request_gets_its_own_copy_of_a_verified_cookie(make_app) -> None:
    client = counting_app(make_app).test_client()
    assert client.get("/count").get_data(as_text=True) == "1"
    cookie = client.get_cookie("session")
    assert cookie is not None
    for _ in range(3):  # the same cookie, sent again: the same session each time
        client.set_cookie("session", cookie.value)
        assert client.get("/count").get_data(as_text=True) == "2"


def test_a_verified_cookie_still_expires_and_needs_the_current_key(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = counting_app(make_app, PERMANENT_SESSION_LIFETIME=timedelta(seconds=120))
    client = app.test_client()
    client.get("/count")
    cookie = client.get_cookie("session")
    assert cookie is not None
    client.set_cookie("session", cookie.value)
    assert client.get("/count").get_data(as_text=True) == "2"  # verified, and kept
    later = time.time() + 121
    monkeypatch.setattr(time, "time", lambda: later)
    client.set_cookie("session", cookie.value)
    assert client.get("/count").get_data(as_text=True) == "1"  # expired: a new session
    monkeypatch.undo()
    client.set_cookie("session", cookie.value)
    assert client.get("/count").get_data(as_text=True) == "2"
    app.secret_key = "another key"
    client.set_cookie("session", cookie.value)
    assert client.get("/count").get_data(as_text=True) == "1"  # signed with the old key


def test_cookies_are_written_and_deleted_as_flask_does(make_app) -> None:
    app = make_app()

    def keep() -> str:
        session.permanent = bool(request.args.get("permanent"))
        return "kept"

    def read() -> str:
        return str(session.get("items"))

    def clear() -> str:
        session.clear()
        return "cleared"

    app.add_url_rule("/keep", view_func=keep)
    app.add_url_rule("/read", view_func=read)
    app.add_url_rule("/clear", view_func=clear)
    client = counting_app_client(app)
    unchanged = client.get("/read")
    assert "Set-Cookie" not in unchanged.headers and "Cookie" in unchanged.headers["Vary"]
    client.get("/keep?permanent=1")  # a permanent session (modified: written once)
    for _ in range(2):  # ...and written again on each request, as SESSION_REFRESH_EACH_REQUEST
        assert "session=" in client.get("/read").headers["Set-Cookie"]
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert "Set-Cookie" not in client.get("/read").headers
    deleted = client.get("/clear").headers["Set-Cookie"]
    assert deleted.startswith("session=;") and "Expires=Thu, 01 Jan 1970" in deleted


def counting_app_client(app: Flask) -> FlaskClient:
    """A client whose session holds something (the count of `counting_app`)."""

    def count() -> str:
        session["items"] = [1]
        return "1"

    app.add_url_rule("/one", view_func=count)
    client = app.test_client()
    assert "session=" in client.get("/one").headers["Set-Cookie"]
    return client
