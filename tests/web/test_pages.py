"""The HTML pages through the Flask test client."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.conftest import csrf_token

PAGE = "/models/exam"


def submit(client: FlaskClient, values: dict[str, str], **kwargs: object):
    token = csrf_token(client, PAGE)
    return client.post(PAGE, data={"csrf_token": token, **values}, **kwargs)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_index_lists_the_models(client: FlaskClient) -> None:
    page = text(client.get("/"))
    for name in ("/models/exam", "/models/exam-legacy", "/models/iris"):
        assert f'href="{name}"' in page
    assert "Will I pass the exam?" in page


def test_form_is_generated_from_the_schema(client: FlaskClient) -> None:
    page = text(client.get(PAGE))
    inputs = re.findall(r"<input [^>]*name=\"f\d\"[^>]*>", page)
    assert len(inputs) == 2
    for tag in inputs:
        for attribute in ('type="number"', 'min="0.0"', 'max="24.0"', 'step="0.5"', "required"):
            assert attribute in tag
    assert "Hours of study" in page and "(h)" in page and "Hours spent studying" in page
    assert 'name="csrf_token"' in page


def test_categories_become_dropdowns(make_app, tmp_path) -> None:
    from modelserve.services.catalog import add_model
    from tests.support import mixed_pipeline, save

    pipeline, _, _ = mixed_pipeline()
    folder = add_model(save(pipeline, tmp_path / "churn.joblib"), tmp_path / "models").folder
    page = text(make_app(REGISTRY=None, MODELS=[str(folder)]).test_client().get("/models/churn"))
    select = re.search(r"<select[^>]*>(.*?)</select>", page, re.S)
    assert select is not None
    assert re.findall(r'<option value="(\w+)"', select.group(1)) == ["Bilbao", "Madrid", "Sevilla"]


def test_a_valid_post_shows_label_probabilities_and_inputs(client: FlaskClient) -> None:
    response = submit(client, {"f0": "8", "f1": "7.5"})
    page = text(response)
    assert response.status_code == 200
    assert re.search(r'id="prediction-label">Pass<', page)
    values = [float(v) for v in re.findall(r'<meter[^>]*value="([0-9.e-]+)"', page)]
    assert len(values) == 2 and sum(values) == pytest.approx(1.0)
    assert "7.5 h" in page
    assert 'href="/models/exam?estudio=8&amp;sueno=7.5"' in page


def test_invalid_values_rerender_with_errors_and_keep_values(client: FlaskClient) -> None:
    response = submit(client, {"f0": "ocho", "f1": "30"})
    page = text(response)
    assert response.status_code == 422
    assert 'id="field-0-error">must be a number<' in page
    assert 'id="field-1-error">must be at most 24<' in page
    assert 'value="ocho"' in page and 'value="30"' in page
    assert 'aria-invalid="true"' in page


def test_empty_values_are_required(client: FlaskClient) -> None:
    page = text(submit(client, {"f0": "", "f1": "5"}))
    assert 'id="field-0-error">is required<' in page


def test_post_without_csrf_token_is_400_and_predicts_nothing(client: FlaskClient) -> None:
    response = client.post(PAGE, data={"f0": "8", "f1": "7"})
    assert response.status_code == 400
    assert "prediction-label" not in text(response)
    assert "not sent from this site" in text(response)


def test_result_links_back_to_a_prefilled_form(client: FlaskClient) -> None:
    page = text(client.get("/models/exam?estudio=3&sueno=6"))
    assert 'value="3"' in page and 'value="6"' in page


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [("/nope", "get", 404), ("/models/nope", "get", 404), ("/", "post", 405)],
)
def test_html_error_pages(client: FlaskClient, path: str, method: str, status: int) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert f">{status}<" in text(response)


def test_a_server_error_is_an_html_page_without_a_trace(make_app) -> None:
    app = make_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in text(response) and "Traceback" not in text(response)
    assert response.headers["X-Request-ID"] in text(response)


def test_spanish_from_the_browser_language(client: FlaskClient) -> None:
    page = text(client.get(PAGE, headers={"Accept-Language": "es-ES,es;q=0.9"}))
    assert '<html lang="es">' in page
    assert "Horas de estudio" in page and "Predecir" in page


def test_the_language_switcher_sets_a_cookie_and_stays_local(client: FlaskClient) -> None:
    response = client.get("/language/es?next=/models/exam")
    assert response.status_code == 302 and response.headers["Location"] == "/models/exam"
    page = text(client.get(PAGE))
    assert '<html lang="es">' in page
    result = submit(client, {"f0": "0", "f1": "3"})
    assert 'id="prediction-label">Suspendido<' in text(result)
    for foreign in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert client.get(f"/language/en?next={foreign}").headers["Location"] == "/"


def test_assets_are_served_locally_with_a_strict_csp(client: FlaskClient) -> None:
    response = client.get(PAGE)
    page = text(response)
    sources = re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', page)
    assert sources and all(s.startswith("/") for s in sources)
    for source in sources:
        with client.get(source) as asset:
            assert asset.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert not re.search(r"<script>|\sstyle=\"", page)


def test_session_cookie_flags(client: FlaskClient) -> None:
    client.get(PAGE)
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
