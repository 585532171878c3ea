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
from modelserve.runtime.registry import Registry, load_source

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


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


@pytest.fixture
def make_app(tmp_path: Path, demo_registry: Registry):
    """Build an app on a fresh instance folder; keyword arguments override settings."""

    def make(**config: object) -> Flask:
        settings: dict[str, object] = {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "REGISTRY": demo_registry,
            "TESTING": True,
        }
        settings.update(config)
        return create_app(settings)

    return make


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form at `path` (the session cookie stays in the client)."""
    page = client.get(path).get_data(as_text=True)
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


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, demo_registry: Registry) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 (a werkzeug server thread): `host:port`."""
    from werkzeug.serving import make_server

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("live") / "instance"),
            "REGISTRY": demo_registry,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
