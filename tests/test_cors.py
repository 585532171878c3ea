"""CORS: off by default; an explicit allow-list opens the JSON API and protocols, never pages."""

from __future__ import annotations

import pytest

ALLOWED = "https://app.example.com"
ACAO = "Access-Control-Allow-Origin"
MACHINE = ["/api/v1/models", "/api/openapi.json", "/v2", "/v2/models/exam", "/ping"]
PAGES = ["/", "/models/exam", "/api/docs"]


def test_off_by_default(client) -> None:
    for path in MACHINE + PAGES:
        assert ACAO not in client.get(path, headers={"Origin": ALLOWED}).headers


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS=[ALLOWED, "http://localhost:3000"]).test_client()


def test_listed_origins_may_call_the_api_and_protocols(cors_client) -> None:
    for path in MACHINE:
        response = cors_client.get(path, headers={"Origin": ALLOWED})
        assert response.headers[ACAO] == ALLOWED, path
        assert "Access-Control-Allow-Credentials" not in response.headers
    answer = cors_client.post(
        "/api/v1/models/exam/predict", json={"estudio": 1, "sueno": 1}, headers={"Origin": ALLOWED}
    )
    assert answer.headers[ACAO] == ALLOWED
    assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]


def test_preflight_for_a_json_post_with_a_token(cors_client) -> None:
    response = cors_client.options(
        "/v2/models/exam/infer",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers[ACAO] == "http://localhost:3000"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_other_origins_and_pages_get_no_cors(cors_client) -> None:
    assert (
        ACAO
        not in cors_client.get("/api/v1/models", headers={"Origin": "https://evil.example"}).headers
    )
    for path in PAGES:
        assert ACAO not in cors_client.get(path, headers={"Origin": ALLOWED}).headers, path


@pytest.mark.parametrize("origins", [["*"], "https://*.example.com", ["app.example.com"]])
def test_wildcards_and_non_origins_are_refused_at_start(make_app, origins) -> None:
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        make_app(CORS_ORIGINS=origins)


def test_origins_from_the_environment_as_text(make_app) -> None:
    client = make_app(CORS_ORIGINS=f"{ALLOWED}, http://localhost:3000").test_client()
    assert client.get("/v2", headers={"Origin": ALLOWED}).headers[ACAO] == ALLOWED
