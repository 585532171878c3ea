"""Sign in -> predict -> history, in real headless Chromium (and the README's history shot)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from modelserve.extensions import db
from modelserve.services import accounts

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "a browser password"


@pytest.fixture(scope="module")
def carol(live_app) -> str:
    app, _ = live_app
    with app.app_context():
        accounts.create_user(db.session, "carol", PASSWORD)
    return "carol"


def test_sign_in_predict_and_find_it_in_the_history(page: Page, live_server: str, carol) -> None:
    base = f"http://{live_server}"
    page.set_viewport_size({"width": 1100, "height": 720})
    page.goto(f"{base}/history")
    expect(page).to_have_url(f"{base}/account/login?next=%2Fhistory")
    page.get_by_label("User name").fill(carol)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/history")
    expect(page.locator("#signed-in-as")).to_have_text(carol)

    page.goto(f"{base}/models/exam")
    page.get_by_label("Hours of study").fill("3")
    page.get_by_label("Hours of sleep").fill("6.5")
    page.get_by_role("button", name="Predict").click()
    label = page.locator("#prediction-label").inner_text()

    page.get_by_role("link", name="History").click()
    expect(page.locator("#history-count")).to_have_text("1 record")
    row = page.locator("#history tbody tr").first
    expect(row).to_contain_text("exam")
    expect(row).to_contain_text("Aprobado" if label == "Pass" else "Suspendido")
    page.screenshot(path=str(SCREENSHOTS / "history.png"))
    row.get_by_role("link").click()
    expect(page.locator("#record-inputs")).to_contain_text("6.5")
    expect(page.locator("#record")).to_contain_text("web")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signed-in-as")).to_have_count(0)
