"""Shared fixtures: trained demo models, an app, its test client and the CLI runner."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

os.environ.setdefault("KERAS_BACKEND", "torch")

from modelserve import create_app
from modelserve.demo import ensure_demo_models
from modelserve.extensions import db
from modelserve.runtime.registry import Registry, load_source
from modelserve.services import accounts
from tests.pg import PostgresServer, create_database, drop_database

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three demo model packages, trained once per test session."""
    folder = tmp_path_factory.mktemp("models")
    ensure_demo_models(folder)
    return folder


@pytest.fixture(scope="session")
def demo_registry(demo_dir: Path) -> Registry:
    registry = Registry([load_source(p) for p in sorted(demo_dir.iterdir())], timeout=10)
    registry.warm_up()
    return registry


def app_with_tables(settings: dict[str, object]) -> Flask:
    """create_app, then the tables (migrations themselves are tested in tests/storage)."""
    app = create_app(settings)
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server: the one .ci/run started, or a throwaway cluster."""
    given = os.environ.get("MODELSERVE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    server = PostgresServer()
    server.start()
    yield server.url
    server.stop()
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage and history test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = create_database(request.getfixturevalue("postgres_server"))
    yield url
    drop_database(url)


@pytest.fixture
def make_app(tmp_path: Path, demo_registry: Registry) -> Iterator:
    """Build an app on a fresh instance folder and database; keywords override settings."""
    made: list[Flask] = []

    def make(**config: object) -> Flask:
        settings: dict[str, object] = {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "REGISTRY": demo_registry,
            "TESTING": True,
            "HISTORY": "sync",
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        }
        settings.update(config)
        app = app_with_tables(settings)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["modelserve.executor"].stop()
        app.extensions["modelserve.history"].close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, path: str, base_url: str | None = None) -> str:
    """The CSRF token of the form at `path` (the session cookie stays in the client)."""
    page = client.get(path, base_url=base_url).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def tmp_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """MODELSERVE_INSTANCE_PATH pointed at a temporary folder (for the CLI)."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("MODELSERVE_INSTANCE_PATH", str(folder))
    yield folder


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium: browser downloads are impossible here."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


PASSWORD = "correct horse battery"


@pytest.fixture
def users(app: Flask) -> dict[str, int]:
    """An admin `ada` and a user `bob`, both with PASSWORD."""
    with app.app_context():
        ada = accounts.create_user(db.session, "ada", PASSWORD, role="admin")
        bob = accounts.create_user(db.session, "bob", PASSWORD)
        return {"ada": ada.id, "bob": bob.id}


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, **extra: str):
    token = csrf_token(client, "/account/login")
    return client.post(
        "/account/login",
        data={"csrf_token": token, "username": username, "password": password, **extra},
    )


@pytest.fixture(scope="module")
def live_app(
    tmp_path_factory: pytest.TempPathFactory, demo_registry: Registry
) -> Iterator[tuple[Flask, str]]:
    """The app on a free port of 127.0.0.1 (a werkzeug server thread): (app, `host:port`)."""
    yield from serve_live(tmp_path_factory.mktemp("live"), demo_registry)


def serve_live(folder: Path, registry: Registry, **config: object) -> Iterator[tuple[Flask, str]]:
    """Build an app in `folder` (keywords override settings) and serve it until closed."""
    from werkzeug.serving import make_server

    app = app_with_tables(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "DATABASE_URL": f"sqlite:///{folder / 'live.db'}",
            "REGISTRY": registry,
            **config,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["modelserve.executor"].stop()
        app.extensions["modelserve.history"].close()


@pytest.fixture(scope="module")
def live_server(live_app: tuple[Flask, str]) -> str:
    """`host:port` of the live app."""
    return live_app[1]
