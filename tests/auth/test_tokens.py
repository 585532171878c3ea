"""API tokens: created in the UI and the CLI, shown once, hashed, scoped, expiring, revocable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from modelserve.extensions import db
from modelserve.services import tokens
from modelserve.storage.tables import ApiToken, User, utcnow
from tests.conftest import csrf_token, sign_in

PREDICT = "/api/v1/models/exam/predict"
ROW = {"estudio": 5, "sueno": 7}


def issue(app, username: str = "bob", scopes=("predict",), expires=None) -> str:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        return tokens.create_token(
            db.session, user, name="t", scopes=list(scopes), expires_in=expires
        ).plaintext


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_in_the_ui_shows_it_once_and_stores_a_hash(app, client: FlaskClient, users) -> None:
    sign_in(client, "bob")
    token = csrf_token(client, "/account/tokens")
    page = client.post(
        "/account/tokens",
        data={
            "csrf_token": token,
            "name": "<b>laptop</b>",
            "scopes": ["predict", "history:read"],
            "expires": "30d",
        },
    ).get_data(as_text=True)
    plaintext = re.search(r'id="new-token">([^<]+)<', page).group(1)
    assert "&lt;b&gt;laptop&lt;/b&gt;" in page
    assert plaintext not in client.get("/account/tokens").get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalar(db.select(ApiToken))
        assert stored.name == "<b>laptop</b>"
        assert plaintext.split("_")[2] not in (stored.secret_hash, stored.prefix)
        assert stored.scopes == "history:read predict"
        assert timedelta(days=29) < stored.expires_at - utcnow() <= timedelta(days=30)
    assert client.post(PREDICT, json=ROW, headers=bearer(plaintext)).status_code == 200


def test_a_user_cannot_mint_an_admin_token(client: FlaskClient, users) -> None:
    sign_in(client, "bob")
    token = csrf_token(client, "/account/tokens")
    page = client.post(
        "/account/tokens",
        data={"csrf_token": token, "name": "x", "scopes": ["admin"], "expires": ""},
    )
    assert "new-token" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Bearer", 400),
        ("Bearer ", 400),
        ("Basic Ym9iOnB3", 400),
        ("Token abc", 400),
        ("Bearer ms_short", 401),
        ("Bearer ms_abcdefghijkl_" + "A" * 43, 401),
    ],
)
def test_bad_tokens_are_refused_with_www_authenticate(
    client: FlaskClient, users, header: str, status: int
) -> None:
    response = client.post(PREDICT, json=ROW, headers={"Authorization": header})
    assert response.status_code == status
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="modelserve", error=')
    assert challenge.isascii()
    assert response.mimetype == "application/problem+json"


def test_expired_and_revoked_tokens_are_401(app, client: FlaskClient, users) -> None:
    expired = issue(app, expires=timedelta(seconds=-1))
    response = client.post(PREDICT, json=ROW, headers=bearer(expired))
    assert response.status_code == 401 and "expired" in response.get_json()["detail"]
    live = issue(app)
    sign_in(client, "bob")
    with app.app_context():
        token_id = db.session.scalar(db.select(ApiToken.id).order_by(ApiToken.id.desc()))
    form = csrf_token(client, "/account/tokens")
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": form})
    response = client.post(PREDICT, json=ROW, headers=bearer(live))
    assert response.status_code == 401 and "revoked" in response.get_json()["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_someone_elses_token_cannot_be_revoked(app, client: FlaskClient, users) -> None:
    issue(app, "ada")
    sign_in(client, "bob")
    form = csrf_token(client, "/account/tokens")
    with app.app_context():
        token_id = db.session.scalar(db.select(ApiToken.id))
    assert (
        client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": form}).status_code
        == 404
    )


def test_a_token_without_the_scope_is_403(app, client: FlaskClient, users) -> None:
    history_only = issue(app, scopes=("history:read",))
    response = client.post(PREDICT, json=ROW, headers=bearer(history_only))
    assert response.status_code == 403
    predict_only = issue(app)
    response = client.get("/api/v1/history", headers=bearer(predict_only))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_disabled_users_tokens_stop_working(app, client: FlaskClient, users) -> None:
    token = issue(app)
    with app.app_context():
        db.session.get(User, users["bob"]).active = False
        db.session.commit()
    assert client.post(PREDICT, json=ROW, headers=bearer(token)).status_code == 401


def test_last_used_is_recorded(app, client: FlaskClient, users) -> None:
    token = issue(app)
    client.post(PREDICT, json=ROW, headers=bearer(token))
    with app.app_context():
        assert db.session.scalar(db.select(ApiToken)).last_used_at is not None


def test_the_cli_creates_lists_and_revokes(app, runner, users) -> None:
    result = runner.invoke(
        args=[
            "tokens",
            "create",
            "bob",
            "--scope",
            "predict",
            "--scope",
            "history:read",
            "--expires",
            "7d",
        ]
    )
    assert result.exit_code == 0, result.output
    plaintext = result.output.strip()
    client = app.test_client()
    assert client.post(PREDICT, json=ROW, headers=bearer(plaintext)).status_code == 200
    listing = runner.invoke(args=["tokens", "list", "bob"]).output
    assert "history:read predict\tactive" in listing and plaintext not in listing
    token_id = listing.split("\t")[0]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    assert client.post(PREDICT, json=ROW, headers=bearer(plaintext)).status_code == 401
    unknown = runner.invoke(args=["tokens", "create", "nobody"])
    assert unknown.exit_code == 1 and "no user named" in unknown.output
