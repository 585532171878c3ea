"""Visitors who are not signed in keep their session as it is: no cookie rewritten per answer."""

from __future__ import annotations

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
