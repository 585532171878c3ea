"""Every answer carries the security headers; HTML pages are not stored and vary by language."""

from __future__ import annotations

from flask import Flask, Response

from modelserve.headers import CSP


def test_pages_get_the_security_and_caching_headers(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/models/exam", headers={"X-Request-ID": "abc-1"})
    assert page.headers["Content-Security-Policy"] == CSP
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Request-ID"] == "abc-1"
    assert page.headers["Cache-Control"] == "no-store"
    vary = {v.strip() for v in ",".join(page.headers.get_all("Vary")).split(",")}
    assert {"Cookie", "Accept-Language"} <= vary
    api = client.get("/api/v1/models")
    assert api.headers["Content-Security-Policy"] == CSP
    assert "no-store" not in api.headers.get("Cache-Control", "")


def test_a_response_keeps_the_headers_it_sets_itself(app: Flask) -> None:
    def own() -> Response:
        response = Response("<p>mine</p>", mimetype="text/html")
        response.headers["Cache-Control"] = "max-age=60"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["X-Request-ID"] = "set by the view"
        return response

    app.add_url_rule("/own", view_func=own)
    answer = app.test_client().get("/own", headers={"X-Request-ID": "abc-2"})
    assert answer.headers.get_all("Cache-Control") == ["max-age=60"]
    assert answer.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert answer.headers.get_all("X-Request-ID") == ["abc-2"]
    assert answer.headers["Content-Security-Policy"] == CSP
