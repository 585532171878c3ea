"""Liveness and readiness."""

from __future__ import annotations

from modelserve.runtime.registry import Registry


def test_healthz_and_readyz(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["models"] == {"exam": "1.0.0", "exam-legacy": "1.0.0", "iris": "1.0.0"}


def test_readyz_is_503_until_warm_up_passed(make_app, demo_registry) -> None:
    cold = Registry(list(demo_registry))
    client = make_app(REGISTRY=cold).test_client()
    assert client.get("/readyz").status_code == 503
    cold.warm_up()
    assert client.get("/readyz").status_code == 200
