"""The batch scoring pages: upload, preview, start, follow, cancel, download, the jobs list."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from modelserve.extensions import db
from modelserve.runtime.tabular import ColumnMap, TableFormat
from modelserve.services import access, accounts, jobs, results
from modelserve.storage.tables import Job
from tests.conftest import PASSWORD, csrf_token, sign_in

from .conftest import Holds, exam_csv

UPLOAD = "/models/exam/batch"


def upload(client: FlaskClient, data: bytes, filename: str = "notas.csv", **fields: Any) -> Any:
    """POST the upload form; the body is encoded here, in memory (the test client would spool
    a big one to a temporary file it never closes)."""
    token = csrf_token(client, UPLOAD)
    part = FileStorage(io.BytesIO(data), filename, content_type="application/octet-stream")
    values = {"csrf_token": token, "file": part, **fields}
    boundary, body = encode_multipart(values)
    return client.post(UPLOAD, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def job_id_of(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return str(response.headers["Location"].rsplit("/", 1)[-1])


def post(client: FlaskClient, path: str, page: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, page)})


def finish(client: FlaskClient, job_id: str) -> dict[str, Any]:
    """Poll the page's status JSON until the job ends (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/jobs/{job_id}/status.json").get_json()
        if body["finished"]:
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {body}")


def job_files(app: Flask) -> set[Path]:
    root = Path(app.instance_path)
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def bob(client: FlaskClient, users: dict[str, int]) -> FlaskClient:
    sign_in(client, "bob")
    return client


def test_anonymous_users_are_sent_to_sign_in(app: Flask, client: FlaskClient, users) -> None:
    assert "Score a file" not in client.get("/models/exam").get_data(as_text=True)
    for path in (UPLOAD, "/jobs", f"/jobs/{'0' * 32}", f"/jobs/{'0' * 32}/status.json"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/account/login?next=" in response.headers["Location"]
    response = client.post(UPLOAD, data={"file": (io.BytesIO(exam_csv(3)), "a.csv")})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.query(Job).count() == 0


def test_upload_shows_the_preview_with_the_column_map(bob: FlaskClient) -> None:
    page = bob.get("/models/exam").get_data(as_text=True)
    assert 'href="/models/exam/batch"' in page and "Score a file" in page
    data = exam_csv(40, sep=";").replace(b"estudio;sueno", b"Estudio ;SUE NO")
    response = upload(bob, data)
    job_id = job_id_of(response)
    assert response.headers["Location"] == f"/jobs/{job_id}"
    html = bob.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "CSV · UTF-8 · separated by semicolons" in html
    assert "Columns are separated by semicolons." in html
    column_map = html[
        html.index('id="column-map"') : html.index("</table>", html.index("column-map"))
    ]
    assert "<code>Estudio</code>" in column_map and "<code>SUE NO</code>" in column_map
    assert 'id="unknown-columns"' in html and "<code>alumno</code>" in html
    assert 'id="missing-required"' not in html
    rows = html[html.index('id="preview-rows"') :]
    assert rows.count("<tr><td") == 5 and "<td>s5</td>" in rows and "<td>s6</td>" not in rows
    assert 'id="start-job"' in html
    status = bob.get(f"/jobs/{job_id}/status.json").get_json()
    assert status["status"] == "uploaded" and status["finished"] is False


def test_missing_optional_and_unknown_columns_are_listed(bob: FlaskClient, monkeypatch) -> None:
    """No demo model has an optional input: the page is shown a column map that lacks one."""
    job_id = job_id_of(upload(bob, exam_csv(3)))
    columns = ColumnMap(["estudio", "x"], {"estudio": 0}, [], ["sueno"], ["x"])
    fmt = TableFormat("csv", "utf-8", ",", ["estudio", "x"], 3)
    fake = jobs.Preview(fmt, columns, [["1", "2"]])
    monkeypatch.setattr(jobs, "preview", lambda *args, **kwargs: fake)
    html = bob.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="missing-optional"' in html and "<code>sueno</code>" in html
    assert "missing (optional: left empty)" in html
    assert 'id="unknown-columns"' in html and "<code>x</code>" in html


def test_a_file_without_a_required_column_is_refused_on_the_form(
    app: Flask, bob: FlaskClient
) -> None:
    response = upload(bob, b"estudio,alumno\n1,a\n")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="upload-form"' in html
    assert "No column feeds these required inputs: sueno." in html
    assert not any(p.parts[0] == "jobs" and len(p.parts) > 1 for p in job_files(app))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"estudio,sueno\n", "The file has a header but no data rows."),
        (b"PK\x03\x04\x00\x00binary", "This is not a text file (an Excel workbook?)"),
    ],
)
def test_a_rejected_file_shows_its_message_on_the_form(
    bob: FlaskClient, data: bytes, message: str
) -> None:
    response = upload(bob, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'class="form-control is-invalid"' in html


def test_the_message_is_in_spanish_for_spanish_readers(bob: FlaskClient) -> None:
    bob.set_cookie("lang", "es")
    html = upload(bob, b"").get_data(as_text=True)
    assert "El archivo está vacío." in html and "Puntuar un archivo" in html


def test_only_csv_and_json_lines_names_are_accepted(app: Flask, bob: FlaskClient) -> None:
    before = job_files(app)
    for name in ("book.xlsx", "../../etc/passwd", "noext"):
        response = upload(bob, exam_csv(3), filename=name)
        assert response.status_code == 422
        assert "Choose a CSV (.csv) or JSON Lines (.jsonl, .ndjson) file." in response.get_data(
            as_text=True
        )
    assert job_files(app) == before


def test_a_path_in_the_file_name_is_only_a_label(
    app: Flask, bob: FlaskClient, tmp_path: Path
) -> None:
    before = job_files(app)
    job_id = job_id_of(upload(bob, exam_csv(3), filename="../../etc/passwd.csv"))
    second = job_id_of(upload(bob, exam_csv(3), filename="C:\\Users\\..\\x.csv"))
    added = job_files(app) - before
    assert added == {Path("jobs", job_id, "input"), Path("jobs", second, "input")}
    assert not (tmp_path / "etc").exists()
    html = bob.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert '<h1 class="h3">passwd.csv</h1>' in html
    with app.app_context():
        label = db.session.get(Job, second).filename
    assert label.endswith("x.csv") and "/" not in label and "\\" not in label


def test_json_lines_files_by_their_extension(bob: FlaskClient) -> None:
    lines = b'{"estudio": 5, "sueno": 8, "alumno": "a"}\n{"estudio": 1, "sueno": 3}\n'
    job_id = job_id_of(upload(bob, lines, filename="rows.ndjson"))
    html = bob.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "JSON Lines · UTF-8" in html and "separated by" not in html


def test_start_follow_and_download(app: Flask, bob: FlaskClient) -> None:
    data = exam_csv(1000, bad={500: "abc,7,s500"})
    job_id = job_id_of(upload(bob, data))
    page = f"/jobs/{job_id}"
    response = post(bob, f"{page}/start", page)
    assert response.status_code == 303 and response.headers["Location"] == page
    status = finish(bob, job_id)
    assert status["status"] == "succeeded"
    assert status["progress"]["rows_scored"] == 999 and status["progress"]["rows_rejected"] == 1
    assert status["text"]["percent"] == "100.0 %"
    assert status["text"]["rows"] == "1,000 of 1,000 rows"
    html = bob.get(page).get_data(as_text=True)
    assert '<progress class="w-100 job-bar" id="job-progress" max="100" value="100.0"' in html
    assert 'id="job-scored">999<' in html and 'id="job-rejected">1<' in html
    preview = html[html.index('id="result-preview"') :]
    assert preview.count("<tr>") + preview.count('<tr class="table-warning">') == 11
    assert "<th>probability_Aprobado</th>" in preview
    assert "job-progress.js" not in html  # nothing left to follow

    result = bob.get(f"{page}/result.csv")
    assert result.status_code == 200 and result.mimetype == "text/csv"
    assert 'filename="notas-scored.csv"' in result.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(result.get_data(as_text=True))))
    assert len(table) == 1001
    assert table[0][3:] == ["label", "probability_Aprobado", "probability_Suspendido", "error"]
    assert table[500][-1] == "estudio: must be a number"
    lines = bob.get(f"{page}/result.jsonl").get_data(as_text=True).splitlines()
    assert len(lines) == 1000 and json.loads(lines[0])["alumno"] == "s1"
    assert 'id="download-errors"' in html
    errors = list(csv.reader(io.StringIO(bob.get(f"{page}/errors.csv").get_data(as_text=True))))
    assert errors == [
        list(results.ERROR_HEADER),
        ["500", "501", "estudio", "not_a_number", "must be a number"],
    ]
    # A second click on Start changes nothing.
    assert bob.post(f"{page}/start", data={"csrf_token": csrf_token(bob, page)}).status_code == 303


def test_a_strict_job_that_fails_says_why(bob: FlaskClient) -> None:
    job_id = job_id_of(upload(bob, exam_csv(50, bad={7: "x,1,s7", 9: "1,99,s9"}), strict="y"))
    page = f"/jobs/{job_id}"
    post(bob, f"{page}/start", page)
    assert finish(bob, job_id)["status"] == "failed"
    html = bob.get(page).get_data(as_text=True)
    assert "2 rows are invalid; in strict mode nothing was scored." in html
    assert 'id="download-errors"' in html and 'id="download-csv"' not in html
    bob.set_cookie("lang", "es")
    html = bob.get(page).get_data(as_text=True)
    assert "2 filas no son válidas; en modo estricto no se ha puntuado nada." in html


class Holding:
    """An executor that takes jobs but never runs them: they stay queued."""

    name = "local"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)

    def start(self) -> None: ...

    def stop(self) -> None: ...


def test_a_queued_job_shows_progress_and_can_be_cancelled(app: Flask, bob: FlaskClient) -> None:
    app.extensions["modelserve.executor"].stop()
    app.extensions["modelserve.executor"] = holding = Holding()
    job_id = job_id_of(upload(bob, exam_csv(30)))
    page = f"/jobs/{job_id}"
    post(bob, f"{page}/start", page)
    assert holding.submitted == [job_id]
    html = bob.get(page).get_data(as_text=True)
    assert 'data-status="queued"' in html and f'data-status-url="{page}/status.json"' in html
    assert 'value="0.0"' in html and "0 of 30 rows" in html
    assert '<script src="/static/js/job-progress.js"></script>' in html
    assert 'id="cancel-job"' in html
    assert bob.get(f"{page}/result.csv").status_code == 409
    response = post(bob, f"{page}/cancel", page)
    assert response.status_code == 303
    status = bob.get(f"{page}/status.json").get_json()
    assert status["status"] == "cancelled"
    assert not (Path(app.instance_path) / "jobs" / job_id).exists()
    html = bob.get(page).get_data(as_text=True)
    assert 'id="job-cancelled"' in html and 'id="cancel-job"' not in html
    assert post(bob, f"{page}/cancel", page).status_code == 303  # a second click: said, not 409
    assert "The job had already finished." in bob.get(page).get_data(as_text=True)


def test_an_uploaded_job_can_be_discarded(app: Flask, bob: FlaskClient) -> None:
    job_id = job_id_of(upload(bob, exam_csv(3)))
    page = f"/jobs/{job_id}"
    post(bob, f"{page}/cancel", page)
    assert bob.get(f"{page}/status.json").get_json()["status"] == "cancelled"
    assert not (Path(app.instance_path) / "jobs" / job_id).exists()


def test_forms_need_their_csrf_token(app: Flask, bob: FlaskClient) -> None:
    response = bob.post(
        UPLOAD,
        data={"file": (io.BytesIO(exam_csv(3)), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The form was not sent from this site" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Job).count() == 0
    job_id = job_id_of(upload(bob, exam_csv(3)))
    for action in ("start", "cancel"):
        assert bob.post(f"/jobs/{job_id}/{action}").status_code == 400
    assert bob.get(f"/jobs/{job_id}/status.json").get_json()["status"] == "uploaded"


def test_jobs_are_their_owners_own(app: Flask, client: FlaskClient, users) -> None:
    with app.app_context():
        accounts.create_user(db.session, "carol", PASSWORD)
    sign_in(client, "bob")
    job_id = job_id_of(upload(client, exam_csv(3), filename="bobs.csv"))
    listing = client.get("/jobs").get_data(as_text=True)
    assert "bobs.csv" in listing and f"/jobs/{job_id}" in listing and 'href="/jobs"' in listing
    client.post("/account/logout", data={"csrf_token": csrf_token(client, "/jobs")})

    sign_in(client, "carol")
    assert "bobs.csv" not in client.get("/jobs").get_data(as_text=True)
    assert "No jobs yet." in client.get("/jobs").get_data(as_text=True)
    for path in ("", "/status.json", "/result.csv", "/errors.csv"):
        assert client.get(f"/jobs/{job_id}{path}").status_code == 404, path
    assert post(client, f"/jobs/{job_id}/start", "/jobs").status_code == 404
    assert post(client, f"/jobs/{job_id}/cancel", "/jobs").status_code == 404
    client.post("/account/logout", data={"csrf_token": csrf_token(client, "/jobs")})

    sign_in(client, "ada")  # an admin sees everyone's, with who uploaded it
    listing = client.get("/jobs").get_data(as_text=True)
    assert "bobs.csv" in listing and "<td>bob</td>" in listing
    assert client.get(f"/jobs/{job_id}").status_code == 200


def test_a_file_over_the_size_limit_is_refused_on_the_form(make_app, users_of) -> None:
    _, client = users_of(make_app(JOB_MAX_BYTES=1000))
    response = upload(client, exam_csv(200))
    assert response.status_code == 413
    assert "The file is larger than 1000 bytes." in response.get_data(as_text=True)
    # Bigger than the form's allowance too: refused before the body is read, same message.
    response = upload(client, b"estudio,sueno\n" + b"1,2\n" * 400_000)
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "The file is larger than 1000 bytes." in html and 'id="upload-form"' in html
    assert "At most 1000 B." in html


@pytest.mark.parametrize("limit", [1 << 30, 0], ids=["default", "no-limit"])
def test_a_file_over_the_global_request_limit_is_accepted(make_app, users_of, limit) -> None:
    app, client = users_of(make_app(JOB_MAX_BYTES=limit))
    data = exam_csv(400_000)
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    job_id = job_id_of(upload(client, data))
    assert "About 400,000 rows to score." in client.get(f"/jobs/{job_id}").get_data(as_text=True)


@pytest.fixture
def users_of():
    """Sign `bob` in to a given app: (app, client)."""

    def make(app: Flask) -> tuple[Flask, FlaskClient]:
        with app.app_context():
            accounts.create_user(db.session, "bob", PASSWORD)
        client = app.test_client()
        sign_in(client, "bob")
        return app, client

    return make


def test_a_running_job_whose_worker_died_is_marked_failed_on_view(
    app: Flask, bob: FlaskClient
) -> None:
    job_id = job_id_of(upload(bob, exam_csv(3)))
    gone = subprocess.Popen(["true"])
    gone.wait()
    with app.app_context():
        job = db.session.get(Job, job_id)
        job.status = "running"
        job.worker = f"{socket.gethostname()}:{gone.pid}"
        job.started_at = job.created_at
        db.session.commit()
    html = bob.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-status="failed"' in html
    assert f"the worker process {gone.pid}" in html and "stopped while scoring this job" in html


def test_a_model_the_user_may_not_use_has_no_upload(app: Flask, bob: FlaskClient) -> None:
    with app.app_context():
        access.set_level(db.session, "exam", "role:admin")
    app.extensions["modelserve.gate"].forget()
    assert bob.get(UPLOAD).status_code == 403
    response = bob.post(UPLOAD, data={"file": (io.BytesIO(exam_csv(3)), "a.csv")})
    assert response.status_code == 403


def test_a_running_job_is_cancelled_at_its_next_chunk(make_app, users_of) -> None:
    app, client = users_of(make_app(JOB_CHUNK_ROWS=100))
    holds = Holds(app.extensions["modelserve.jobs"], [100])
    try:
        job_id = job_id_of(upload(client, exam_csv(1000)))
        page = f"/jobs/{job_id}"
        post(client, f"{page}/start", page)
        holds.reach(0)
        html = client.get(page).get_data(as_text=True)
        assert 'data-status="running"' in html and "100 of 1,000 rows" in html
        assert post(client, f"{page}/cancel", page).status_code == 303
        html = client.get(page).get_data(as_text=True)
        assert "Stopping at the next chunk…" in html
        holds.release(0)
        status = finish(client, job_id)
    finally:
        holds.close()
    assert status["status"] == "cancelled" and status["progress"]["rows_done"] < 1000
    assert not (Path(app.instance_path) / "jobs" / job_id).exists()
