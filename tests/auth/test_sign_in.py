"""Sign in and out, remember me, password change, rate limits, registration, `next`."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from modelserve.extensions import db
from modelserve.services import accounts
from modelserve.storage.tables import User
from tests.conftest import PASSWORD, csrf_token, sign_in

GENERIC = "Wrong user name or password."


def test_sign_in_and_out(client: FlaskClient, users) -> None:
    response = sign_in(client, "bob")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert 'id="signed-in-as">bob<' in client.get("/").get_data(as_text=True)
    token = csrf_token(client, "/")
    assert client.post("/account/logout", data={"csrf_token": token}).status_code == 302
    assert "signed-in-as" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "password"),
    [("bob", "wrong password!"), ("nobody", PASSWORD), ("BOB", "x" * 2000)],
)
def test_failures_get_one_generic_message(client: FlaskClient, users, username, password) -> None:
    response = sign_in(client, username, password)
    assert response.status_code in (401, 200)
    page = response.get_data(as_text=True)
    assert GENERIC in page or "Field cannot be longer" in page
    assert "signed-in-as" not in page


def test_a_disabled_user_cannot_sign_in_and_is_signed_out(app, client: FlaskClient, users) -> None:
    sign_in(client, "bob")
    with app.app_context():
        accounts.set_active(db.session, db.session.get(User, users["bob"]), False)
    assert "signed-in-as" not in client.get("/").get_data(as_text=True)
    response = sign_in(client, "bob")
    assert response.status_code == 401 and GENERIC in response.get_data(as_text=True)


def test_user_names_are_case_insensitive(client: FlaskClient, users) -> None:
    assert sign_in(client, "Bob").status_code == 302


def test_remember_me_sets_a_protected_cookie(client: FlaskClient, users) -> None:
    sign_in(client, "bob", remember="y")
    cookie = client.get_cookie("remember_token")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


@pytest.mark.parametrize("target", ["/history", "/models/exam?estudio=1"])
def test_next_is_followed_when_local(client: FlaskClient, users, target: str) -> None:
    token = csrf_token(client, "/account/login")
    response = client.post(
        f"/account/login?next={target}",
        data={"csrf_token": token, "username": "bob", "password": PASSWORD},
    )
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "history",
    ],
)
def test_foreign_next_is_ignored(client: FlaskClient, users, target: str) -> None:
    token = csrf_token(client, "/account/login")
    response = client.post(
        "/account/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": "bob", "password": PASSWORD},
    )
    location = response.headers["Location"]
    assert location in ("/", target) and not location.startswith(("//", "http", "javascript"))
    assert "\n" not in location and "\r" not in location


def test_sign_in_without_csrf_is_400(client: FlaskClient, users) -> None:
    response = client.post("/account/login", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 400
    assert "signed-in-as" not in client.get("/").get_data(as_text=True)


def test_a_password_change_signs_out_the_other_sessions(app, users) -> None:
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "bob")
    sign_in(phone, "bob")
    token = csrf_token(laptop, "/account/")
    response = laptop.post(
        "/account/",
        data={
            "csrf_token": token,
            "current": PASSWORD,
            "new_password": "a much better one",
            "confirm": "a much better one",
        },
    )
    assert response.status_code == 302
    assert 'id="signed-in-as">bob<' in laptop.get("/").get_data(as_text=True)
    assert "signed-in-as" not in phone.get("/").get_data(as_text=True)
    assert sign_in(phone, "bob").status_code == 401
    assert sign_in(phone, "bob", "a much better one").status_code == 302


def test_a_wrong_current_password_changes_nothing(client: FlaskClient, users) -> None:
    sign_in(client, "bob")
    token = csrf_token(client, "/account/")
    response = client.post(
        "/account/",
        data={
            "csrf_token": token,
            "current": "not it at all",
            "new_password": "a much better one",
            "confirm": "a much better one",
        },
    )
    assert response.status_code == 422
    assert "The current password is wrong." in response.get_data(as_text=True)


def test_sign_in_attempts_are_rate_limited(make_app) -> None:
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    responses = [sign_in(client, "nobody", "whatever pass") for _ in range(4)]
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    assert "Too many" in responses[-1].get_data(as_text=True)
    assert responses[-1].headers.get("Retry-After")


def test_self_registration_is_off_by_default(client: FlaskClient) -> None:
    assert client.get("/account/register").status_code == 404


def test_self_registration_when_enabled(make_app) -> None:
    client = make_app(SELF_REGISTRATION=True).test_client()
    token = csrf_token(client, "/account/register")
    data = {
        "csrf_token": token,
        "username": "carol",
        "new_password": "long enough password",
        "confirm": "long enough password",
    }
    assert client.post("/account/register", data=data).status_code == 302
    assert 'id="signed-in-as">carol<' in client.get("/").get_data(as_text=True)
    bad = {**data, "username": "<script>alert(1)</script>"}
    response = client.post("/account/register", data=bad)
    assert response.status_code == 422 and "<script>alert" not in response.get_data(as_text=True)


def test_account_pages_need_a_session(client: FlaskClient) -> None:
    for path in ("/account/", "/account/tokens", "/history"):
        response = client.get(path)
        assert (
            response.status_code == 302 and "/account/login?next=" in response.headers["Location"]
        )
