"""What the pages keep between requests (URLs, translations, form classes) never mixes requests."""

from __future__ import annotations

import re

from flask import Flask, render_template_string
from flask.testing import FlaskClient

from tests.conftest import csrf_token, sign_in

PAGE = "/models/exam"


def post(client: FlaskClient, values: dict[str, str], **kwargs: object):
    token = csrf_token(client, PAGE)
    return client.post(PAGE, data={"csrf_token": token, **values}, **kwargs)


def label(response) -> str:
    match = re.search(r'id="prediction-label">([^<]*)<', response.get_data(as_text=True))
    assert match, "no prediction on the page"
    return match.group(1)


def test_result_pages_follow_each_requests_language(client: FlaskClient) -> None:
    labels = [
        label(post(client, {"f0": "8", "f1": "8"}, headers={"Accept-Language": lang}))
        for lang in ("es", "en", "es", "en")
    ]
    assert labels == ["Aprobado", "Pass", "Aprobado", "Pass"]
    client.get("/language/es")  # the cookie wins over the browser's language
    page = post(client, {"f0": "8", "f1": "8"}, headers={"Accept-Language": "en"})
    assert label(page) == "Aprobado"
    assert ">Probabilidad de cada clase<" in page.get_data(as_text=True)


def test_each_result_shows_its_own_inputs_and_prediction(client: FlaskClient) -> None:
    first = post(client, {"f0": "9", "f1": "8"}).get_data(as_text=True)
    second = post(client, {"f0": "0.5", "f1": "3"}).get_data(as_text=True)
    assert "estudio=9&amp;sueno=8" in first and "estudio=0.5&amp;sueno=3" in second
    assert "estudio=9" not in second
    assert re.search(r'id="prediction-label">Fail<', second)


def test_each_model_page_has_its_own_form(client: FlaskClient) -> None:
    exam = client.get("/models/exam").get_data(as_text=True)
    iris = client.get("/models/iris").get_data(as_text=True)
    assert len(re.findall(r'<input [^>]*name="f\d"', exam)) == 2
    assert len(re.findall(r'<input [^>]*name="f\d"', iris)) == 4
    token = csrf_token(client, "/models/iris")
    values = {"f0": "5.1", "f1": "3.5", "f2": "1.4", "f3": "0.2"}
    page = client.post("/models/iris", data={"csrf_token": token, **values})
    assert page.status_code == 200
    assert "sepal" in page.get_data(as_text=True).lower()
    missing = client.post("/models/iris", data={"csrf_token": token, "f0": "5.1"})
    assert missing.status_code == 422  # the fields the exam form lacks are still required


def test_links_follow_the_script_root_and_the_requested_path(client: FlaskClient) -> None:
    mounted = client.get("/models/exam?x=1", base_url="http://localhost/ms/")
    page = mounted.get_data(as_text=True)
    assert 'href="/ms/"' in page and 'href="/ms/static/css/modelserve.css"' in page
    assert 'src="/ms/bootstrap/static/js/bootstrap.min.js"' in page
    assert "/ms/language/es?next=" in page and "x%3D1" in page
    plain = client.get("/models/exam?y=2").get_data(as_text=True)
    assert 'href="/static/css/modelserve.css"' in plain and "/ms/" not in plain
    assert 'src="/bootstrap/static/js/bootstrap.min.js"' in plain
    assert "x%3D1" not in plain and "y%3D2" in plain


def test_a_foreign_or_missing_token_is_refused(client: FlaskClient, app: Flask) -> None:
    other = app.test_client()
    foreign = csrf_token(other, PAGE)  # valid, but signed for another session
    csrf_token(client, PAGE)
    for data in ({"csrf_token": foreign}, {}):
        response = client.post(PAGE, data={**data, "f0": "8", "f1": "8"})
        assert response.status_code == 400
        assert "prediction-label" not in response.get_data(as_text=True)


def test_the_form_checks_the_token_when_csrf_protect_does_not(make_app) -> None:
    client = make_app(WTF_CSRF_CHECK_DEFAULT=False).test_client()
    foreign = csrf_token(make_app().test_client(), PAGE)
    csrf_token(client, PAGE)
    for data in ({"csrf_token": foreign}, {}):
        page = client.post(PAGE, data={**data, "f0": "8", "f1": "8"}).get_data(as_text=True)
        assert "prediction-label" not in page and 'id="form-errors"' in page
    assert label(post(client, {"f0": "8", "f1": "8"})) == "Pass"


def test_template_messages_are_escaped_formatted_and_per_language(app: Flask) -> None:
    template = "{{ _('Between %(min)s and %(max)s.', min='<b>', max=2) }}"
    for lang, expected in (("es", "Entre &lt;b&gt; y 2."), ("en", "Between &lt;b&gt; and 2.")):
        with app.test_request_context(headers={"Accept-Language": lang}):
            assert render_template_string(template) == expected


def test_the_navigation_bar_is_each_visitors_and_each_users_own(app: Flask, users) -> None:
    visitor, bob = app.test_client(), app.test_client()
    assert sign_in(bob, "bob").status_code == 302
    for _ in range(2):  # whoever comes first, neither sees the other's bar
        mine = bob.get("/models/exam").get_data(as_text=True)
        theirs = visitor.get("/models/exam").get_data(as_text=True)
        assert 'id="signed-in-as">bob<' in mine and ">Sign out<" in mine
        assert "signed-in-as" not in theirs and ">Sign out<" not in theirs
        assert ">Sign in<" in theirs and ">Sign in<" not in mine
    es = visitor.get("/models/exam", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert ">Iniciar sesión<" in es and ">Sign in<" not in es
    tokens = re.findall(r'name="csrf_token" value="([^"]+)"', mine)
    assert tokens and tokens[0] not in theirs


def test_result_page_texts_are_each_models_languages_and_mounts(app: Flask) -> None:
    titles = {
        ("exam", "es"): "¿Aprobaré el examen?",
        ("exam", "en"): "Will I pass the exam?",
        ("iris", "es"): "Especie de iris",
        ("iris", "en"): "Iris species",
    }
    words = {
        "es": ("Resultado", "Cambiar los valores", "Tus datos"),
        "en": ("Result", "Change the values", "Your inputs"),
    }
    values = {
        "exam": {"f0": "8", "f1": "8"},
        "iris": {"f0": "5.1", "f1": "3.5", "f2": "1.4", "f3": "0.2"},
    }
    for _ in range(2):  # the second round is served from the kept fragments
        for (name, lang), title in titles.items():
            for root in ("/", "/ms/"):
                client = app.test_client()
                base = f"http://localhost{root}"
                token = csrf_token(client, f"/models/{name}", base)
                page = client.post(
                    f"/models/{name}",
                    data={"csrf_token": token, **values[name]},
                    headers={"Accept-Language": lang},
                    base_url=base,
                ).get_data(as_text=True)
                result, change, inputs = words[lang]
                assert f"<title>{result} · {title} · modelserve</title>" in page
                assert f'<a href="{root}models/{name}">{title}</a>' in page
                assert f'href="{root}models/{name}?' in page and f">{change}</a>" in page
                assert f">{inputs}</h2>" in page
                others = {t for k, t in titles.items() if k != (name, lang)}
                assert not any(other in page for other in others)
