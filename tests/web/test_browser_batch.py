"""Score a file in real headless Chromium: upload, preview, start, the progress bar moving
without a reload up to 100 %, the result's first rows and the CSV download.

The job's worker is held after the chunks that reach 1,000 and 3,000 rows (of 5,000, in
chunks of 200) until the test lets it go: the page is seen mid-way whatever the machine's
speed, with no timing assumption. Also takes docs/img/batch-progress.png and
docs/img/batch-result.png.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from modelserve.extensions import db
from modelserve.runtime.registry import Registry
from modelserve.services import accounts
from tests.conftest import serve_live
from tests.jobs.conftest import Holds, exam_csv

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "a batch password"
ROWS = 5000


@pytest.fixture(scope="module")
def batch_live(
    tmp_path_factory: pytest.TempPathFactory, demo_registry: Registry
) -> Iterator[tuple[Flask, str]]:
    """A live app scoring in chunks of 200 rows, with a user `dora`."""
    folder = tmp_path_factory.mktemp("batch-live")
    for app, address in serve_live(folder, demo_registry, JOB_CHUNK_ROWS=200):
        with app.app_context():
            accounts.create_user(db.session, "dora", PASSWORD)
        yield app, address


def test_score_a_file_and_watch_it_progress(
    page: Page, batch_live: tuple[Flask, str], tmp_path: Path
) -> None:
    app, address = batch_live
    base = f"http://{address}"
    problems: list[str] = []
    # A download ends its navigation as "aborted" in Chromium: that one is not a problem.
    page.on(
        "requestfailed",
        lambda request: None if "/result." in request.url else problems.append(request.url),
    )
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.set_viewport_size({"width": 1100, "height": 900})
    holds = Holds(app.extensions["modelserve.jobs"], [1000, 3000])
    try:
        page.goto(f"{base}/models/exam")
        expect(page.locator("#score-a-file")).to_have_count(0)  # signed out: no link
        page.goto(f"{base}/account/login?next=%2Fmodels%2Fexam")
        page.get_by_label("User name").fill("dora")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Score a file").click()
        expect(page).to_have_url(f"{base}/models/exam/batch")

        data = exam_csv(ROWS).replace(b"estudio,sueno", b"Estudio,SUENO")
        page.get_by_label("CSV or JSON Lines file").set_input_files(
            {"name": "exam-5000.csv", "mimeType": "text/csv", "buffer": data}
        )
        page.get_by_role("button", name="Upload and preview").click()
        column_map = page.locator("#column-map")
        expect(column_map.locator("tbody tr").nth(0)).to_contain_text("Estudio")
        expect(column_map.locator("tbody tr").nth(1)).to_contain_text("SUENO")
        expect(page.locator("#unknown-columns")).to_contain_text("alumno")
        expect(page.locator("#preview-rows tbody tr")).to_have_count(5)

        page.get_by_role("button", name="Start scoring").click()
        bar = page.locator("#job-progress")
        holds.reach(0)
        expect(bar).to_have_js_property("value", 20)
        page.evaluate("window.stayedOnThePage = true")  # a reload would forget it
        holds.release(0)
        holds.reach(1)
        expect(bar).to_have_js_property("value", 60)
        expect(page.locator("#job-rows")).to_have_text("3,000 of 5,000 rows")
        expect(page.locator("#job-rate")).to_contain_text("rows/s")
        expect(page.locator("#job-left")).to_contain_text("left")
        expect(page.locator("#job-status")).to_have_text("Running")
        assert page.evaluate("window.stayedOnThePage") is True
        page.screenshot(path=str(SCREENSHOTS / "batch-progress.png"))
        holds.release(1)

        expect(page.locator("#job-result")).to_be_visible()
        expect(bar).to_have_js_property("value", 100)
        expect(page.locator("#job-status")).to_have_text("Done")
        expect(page.locator("#job-scored")).to_have_text("5,000")
        expect(page.locator("#job-rejected")).to_have_text("0")
        expect(page.locator("#result-preview tbody tr")).to_have_count(10)
        assert page.evaluate("window.stayedOnThePage") is True  # swapped in, not reloaded
        page.screenshot(path=str(SCREENSHOTS / "batch-result.png"), full_page=True)

        with page.expect_download() as info:
            page.get_by_role("link", name="Download CSV").click()
        download = info.value
        assert download.suggested_filename == "exam-5000-scored.csv"
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        with target.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        assert table[0] == [
            "Estudio",
            "SUENO",
            "alumno",
            "label",
            "probability_Aprobado",
            "probability_Suspendido",
            "error",
        ]
        assert len(table) == ROWS + 1
        assert {row[3] for row in table[1:]} == {"Aprobado", "Suspendido"}
        assert all(abs(float(r[4]) + float(r[5]) - 1) < 1e-9 for r in table[1:])

        page.locator("nav.navbar").get_by_role("link", name="Jobs", exact=True).click()
        row = page.locator("#jobs tbody tr").first
        expect(row).to_contain_text("exam-5000.csv")
        expect(row).to_contain_text("Done")
        assert problems == [], f"blocked or failed requests (CSP, missing assets): {problems}"
    finally:
        holds.close()
