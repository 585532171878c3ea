"""Rate limits still apply where they are set, now that Flask-Limiter's hooks are scoped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelserve.extensions import limiter
from tests.conftest import sign_in

ROW = {"estudio": 6, "sueno": 8}


@pytest.fixture
def forget_default_limits() -> Iterator[None]:
    """The limiter is one object per process and keeps the first default limits it is given."""
    yield
    limiter.limit_manager.set_default_limits([])


def test_sign_in_answers_carry_the_rate_limit_headers(make_app) -> None:
    client = make_app(LOGIN_RATE_LIMIT="5 per minute").test_client()
    response = sign_in(client, "nobody", "whatever pass")
    assert response.status_code == 401
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_unlimited_doors_carry_no_rate_limit_headers(make_app) -> None:
    client = make_app().test_client()
    response = client.post("/api/v1/models/exam/predict", json=ROW)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


def test_an_app_wide_default_limit_still_limits_every_door(make_app, forget_default_limits) -> None:
    client = make_app(RATELIMIT_DEFAULT="2 per minute").test_client()
    statuses = [client.post("/api/v1/models/exam/predict", json=ROW).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/healthz").status_code == 200  # its own endpoint, its own count


def test_an_app_wide_default_limit_and_sign_in_limits_both_apply(
    make_app, forget_default_limits
) -> None:
    client = make_app(RATELIMIT_DEFAULT="100 per minute", LOGIN_RATE_LIMIT="2 per minute")
    client = client.test_client()
    statuses = [sign_in(client, "nobody", "whatever pass").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
