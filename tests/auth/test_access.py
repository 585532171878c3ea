"""Who may use which model; admin pages answer 403 to everyone else."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from modelserve.extensions import db
from modelserve.services import access
from tests.auth.test_tokens import ROW, bearer, issue
from tests.conftest import csrf_token, sign_in


def restrict(app, model: str, level: str) -> None:
    with app.app_context():
        access.set_level(db.session, model, level)
    app.extensions["modelserve.gate"].forget()


def test_a_signed_in_model_refuses_anonymous_callers(app, client: FlaskClient, users) -> None:
    restrict(app, "exam", "signed-in")
    response = client.post("/api/v1/models/exam/predict", json=ROW)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="modelserve"'
    page = client.get("/models/exam")
    assert (
        page.status_code == 302 and "/account/login?next=/models/exam" in page.headers["Location"]
    )
    token = issue(app)
    assert (
        client.post("/api/v1/models/exam/predict", json=ROW, headers=bearer(token)).status_code
        == 200
    )
    sign_in(client, "bob")
    assert client.get("/models/exam").status_code == 200
    assert client.post("/api/v1/models/iris/predict", json={"x": 1}).status_code == 422


def test_a_role_model_refuses_other_roles(app, client: FlaskClient, users) -> None:
    restrict(app, "exam", "role:admin")
    assert (
        client.post(
            "/api/v1/models/exam/predict", json=ROW, headers=bearer(issue(app, "bob"))
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/models/exam/predict", json=ROW, headers=bearer(issue(app, "ada"))
        ).status_code
        == 200
    )
    sign_in(client, "bob")
    assert client.get("/models/exam").status_code == 403


def test_the_manifest_sets_the_default_level(make_app, demo_registry, users) -> None:
    from modelserve.runtime.registry import Registry

    exam = demo_registry.get("exam")
    original = exam.manifest.access
    exam.manifest.access = "signed-in"
    try:
        client = make_app(REGISTRY=Registry([exam])).test_client()
        assert client.post("/api/v1/models/exam/predict", json=ROW).status_code == 401
    finally:
        exam.manifest.access = original


@pytest.mark.parametrize("path", ["/admin/users", "/admin/tokens", "/admin/models"])
def test_admin_pages_are_403_for_users_and_html(client: FlaskClient, users, path: str) -> None:
    assert client.get(path).status_code == 302  # anonymous: sign in first
    sign_in(client, "bob")
    response = client.get(path)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert ">403<" in response.get_data(as_text=True)


def test_an_admin_creates_users_and_sets_access(app, client: FlaskClient, users) -> None:
    sign_in(client, "ada")
    token = csrf_token(client, "/admin/users")
    response = client.post(
        "/admin/users",
        data={"csrf_token": token, "username": "carol", "password": "carol's password"},
    )
    assert response.status_code == 302
    assert "carol" in client.get("/admin/users").get_data(as_text=True)
    client.post("/admin/models/exam/access", data={"csrf_token": token, "exam-access": "signed-in"})
    assert "<strong>signed-in</strong>" in client.get("/admin/models").get_data(as_text=True)
    anonymous = app.test_client()
    assert anonymous.post("/api/v1/models/exam/predict", json=ROW).status_code == 401
    client.post("/admin/models/exam/access", data={"csrf_token": token, "exam-access": ""})
    assert anonymous.post("/api/v1/models/exam/predict", json=ROW).status_code == 200


def test_admin_posts_need_csrf(client: FlaskClient, users) -> None:
    sign_in(client, "ada")
    response = client.post("/admin/users", data={"username": "eve", "password": "long password!"})
    assert response.status_code == 400


def test_users_create_command(runner, app) -> None:
    result = runner.invoke(
        args=["users", "create", "root", "--admin", "--password-stdin"], input="a strong password\n"
    )
    assert result.exit_code == 0 and "created admin root" in result.output
    short = runner.invoke(args=["users", "create", "x", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    assert "root\tadmin\tactive" in runner.invoke(args=["users", "list"]).output
