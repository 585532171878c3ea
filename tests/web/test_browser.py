"""The exam form in real headless Chromium: fill, submit, read the answer; bad values too.

Also takes the README's screenshots (docs/img/form.png and docs/img/result.png).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="module")
def live_url(live_server: str) -> str:
    return f"http://{live_server}"


def test_fill_the_exam_form_and_read_the_prediction(page: Page, live_url: str) -> None:
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("console", lambda msg: failed.append(msg.text) if msg.type == "error" else None)
    page.set_viewport_size({"width": 1100, "height": 720})
    page.goto(f"{live_url}/models/exam")
    expect(page.get_by_role("heading", name="Will I pass the exam?")).to_be_visible()
    page.get_by_label("Hours of study").fill("7.5")
    page.get_by_label("Hours of sleep").fill("8")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "form.png"))
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#prediction-label")).to_have_text("Pass")
    bars = page.locator("meter.prob-bar")
    expect(bars).to_have_count(2)
    values = [float(bars.nth(i).get_attribute("value") or "nan") for i in range(2)]
    assert sum(values) == pytest.approx(1.0) and values[0] > values[1]
    expect(page.locator("#inputs")).to_contain_text("7.5 h")
    page.screenshot(path=str(SCREENSHOTS / "result.png"))
    page.get_by_role("link", name="Change the values").click()
    expect(page.get_by_label("Hours of study")).to_have_value("7.5")
    assert failed == [], f"blocked or failed requests (CSP, missing assets): {failed}"


def test_bad_values_show_errors_next_to_their_fields(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/models/exam")
    page.get_by_label("Hours of study").fill("")
    page.get_by_label("Hours of sleep").fill("30")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#field-0-error")).to_have_text("is required")
    expect(page.locator("#field-1-error")).to_have_text("must be at most 24")
    expect(page.get_by_label("Hours of sleep")).to_have_value("30")
    expect(page.locator("#prediction-label")).to_have_count(0)


def test_spanish_through_the_switcher(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/models/exam")
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_label("Horas de estudio")).to_be_visible()
    page.get_by_label("Horas de estudio").fill("1")
    page.get_by_label("Horas de sueño").fill("4")
    page.get_by_role("button", name="Predecir").click()
    expect(page.locator("#prediction-label")).to_have_text("Suspendido")
    expect(page.locator("html")).to_have_attribute("lang", re.compile("^es$"))
