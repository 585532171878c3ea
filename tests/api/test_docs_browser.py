"""The API docs page in headless Chromium: Swagger UI from the app itself, trying a prediction."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def test_try_a_prediction_from_the_docs_page(page: Page, live_server: str) -> None:
    problems: list[str] = []
    page.on("requestfailed", lambda request: problems.append(f"failed {request.url}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on(
        "request",
        lambda request: (
            problems.append(f"outside {request.url}")
            if urlsplit(request.url).netloc not in ("", live_server)
            and not request.url.startswith("data:")
            else None
        ),
    )
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"http://{live_server}/api/docs")
    operation = page.locator("#operations-predict-predict_exam")
    expect(operation).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text("Aprobado")
    assert problems == [], problems
