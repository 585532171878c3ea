"""Template messages are looked up once per request, and each request gets its own language."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_each_request_renders_in_its_own_language(client: FlaskClient) -> None:
    pages = [
        client.get("/models/exam", headers={"Accept-Language": lang}).get_data(as_text=True)
        for lang in ("es", "en", "es")
    ]
    assert ">Predecir<" in pages[0] and ">Predecir<" in pages[2]
    assert ">Predict<" in pages[1] and "Predecir" not in pages[1]
