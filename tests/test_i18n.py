"""Template messages are looked up once per request, and each request gets its own language."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import gettext

from modelserve.i18n import choose_locale, request_language


def test_each_request_renders_in_its_own_language(client: FlaskClient) -> None:
    pages = [
        client.get("/models/exam", headers={"Accept-Language": lang}).get_data(as_text=True)
        for lang in ("es", "en", "es")
    ]
    assert ">Predecir<" in pages[0] and ">Predecir<" in pages[2]
    assert ">Predict<" in pages[1] and "Predecir" not in pages[1]


def test_the_locale_follows_the_cookie_then_the_browser_then_the_default() -> None:
    langs = ("es", "en")
    assert str(choose_locale("en", "es", langs, "es")) == "en"
    assert str(choose_locale("fr", "en-GB", langs, "es")) == "en"
    assert str(choose_locale(None, "fr, es;q=0.9, en;q=0.8", langs, "en")) == "es"
    assert str(choose_locale(None, "fr", langs, "es")) == "es"
    assert str(choose_locale(None, "fr", langs, "en")) == "en"  # each app's own default
    assert str(choose_locale(None, "en", ("es",), "es")) == "es"  # and its own languages


def test_the_language_is_the_requests_own_in_templates_and_views(app: Flask) -> None:
    for lang, label in (("es", "Predecir"), ("en", "Predict"), ("es", "Predecir")):
        with app.test_request_context(headers={"Accept-Language": lang}):
            assert request_language().code == lang
            assert render_template_string("{{ current_lang }} {{ _('Predict') }}") == (
                f"{lang} {label}"
            )
            assert gettext("Predict") == label  # Flask-Babel's own lookup agrees


def test_messages_are_format_strings_with_or_without_variables(app: Flask) -> None:
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for _ in range(2):  # the second time from the kept messages
            assert render_template_string("{{ _('100%% sure') }}") == "100% sure"
            assert render_template_string("{{ _('%(n)s%%', n='<i>') }}") == "&lt;i&gt;%"
