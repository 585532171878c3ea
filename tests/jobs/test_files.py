"""Bad and unusual files: each gets a clear answer, and nothing is written outside its folder."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from flask import Flask

from modelserve.extensions import db
from modelserve.storage.tables import Job

from .conftest import exam_csv

CSV = {"Content-Type": "text/csv"}


def post(client, auth, data: bytes, **headers: str):
    return client.post("/api/v1/models/exam/batch", data=data, headers={**auth, **CSV, **headers})


def table(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_a_path_in_the_file_name_is_only_a_label(app: Flask, client, auth, tmp_path) -> None:
    response = client.post(
        "/api/v1/models/exam/batch",
        data={"file": (io.BytesIO(exam_csv(3)), "../../../../tmp/evil.csv")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    job = response.get_json()["job"]
    assert job["filename"] == "evil.csv"
    folder = Path(app.instance_path) / "jobs"
    with app.app_context():
        stored = db.session.get(Job, job["id"])
        assert stored is not None
    written = {p.relative_to(folder).parts[0] for p in folder.rglob("*")}
    assert written == {job["id"]}  # one folder, named by the random job id
    assert not Path("/tmp/evil.csv").exists()


@pytest.mark.parametrize(
    ("data", "status", "code", "words"),
    [
        (b"", 422, "empty_file", "empty"),
        (b"estudio,sueno\n", 422, "no_rows", "no data rows"),
        (b"estudio,sueno\r\n\r\n", 422, "no_rows", "no data rows"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, 422, "binary_file", "CSV UTF-8"),
        ("estudio,sueno\n1,2\n".encode("utf-16"), 422, "utf16", "UTF-16"),
        (b"estudio,alumno\n1,a\n", 422, "missing_columns", "sueno"),
        (b"estudio,estudio,sueno\n1,2,3\n", 422, "duplicate_column", "estudio"),
    ],
)
def test_a_file_that_cannot_be_scored_says_why(client, auth, data, status, code, words) -> None:
    response = post(client, auth, data)
    assert response.status_code == status
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert body["code"] == code
    assert words in body["detail"]


def test_a_file_over_the_size_cap_is_413(make_app, users) -> None:
    app = make_app(JOB_MAX_BYTES=1000)
    client, auth = app.test_client(), _auth(app, users)
    response = post(client, auth, exam_csv(200))
    assert response.status_code == 413
    assert response.get_json()["title"] == "Content Too Large"


def test_a_file_over_the_row_cap_is_413(make_app, users) -> None:
    app = make_app(JOB_MAX_ROWS=100)
    client, auth = app.test_client(), _auth(app, users)
    response = post(client, auth, exam_csv(101))
    assert response.status_code == 413
    assert "more than 100 rows" in response.get_json()["detail"]
    assert post(client, auth, exam_csv(100)).status_code == 200


def test_other_content_types_are_415(client, auth) -> None:
    response = client.post(
        "/api/v1/models/exam/batch", data=b"{}", headers={**auth, "Content-Type": "image/png"}
    )
    assert response.status_code == 415


def test_a_byte_order_mark_is_skipped(client, auth) -> None:
    response = post(client, auth, b"\xef\xbb\xbf" + exam_csv(3), Accept="text/csv")
    assert response.status_code == 200
    rows = table(response)
    assert rows[0][:2] == ["estudio", "sueno"]
    assert len(rows) == 4 and all(r[-1] == "" for r in rows[1:])


def test_semicolons_and_latin1_are_detected_and_said(client, auth) -> None:
    data = "estudio;SUENO;alumno\n6.5;8;José\n2;3;Zoë\n".encode("cp1252")
    response = post(client, auth, data)
    assert response.status_code == 200
    body = response.get_json()
    assert body["job"]["format"]["delimiter"] == ";"
    notes = " ".join(body["job"]["notes"])
    assert "semicolons" in notes and "Windows-1252" in notes
    assert [r[2] for r in body["rows"]] == ["José", "Zoë"]  # decoded, not mojibake
    assert all(r[-1] is None for r in body["rows"])


def test_headers_match_whatever_their_case_and_spaces(client, auth) -> None:
    response = post(client, auth, b" ESTUDIO , Sue no \n6.5,8\n")
    assert response.status_code == 200
    assert response.get_json()["job"]["progress"]["rows_scored"] == 1


def test_an_enormous_cell_rejects_its_row_only(client, auth) -> None:
    huge = "9" * 50_000
    data = exam_csv(4, bad={2: f"{huge}.5,7,s2", 3: f"1,2,{'x' * 50_000}"})
    response = post(client, auth, data)
    assert response.status_code == 200
    body = response.get_json()
    assert body["job"]["progress"]["rows_scored"] == 3  # the long text is in an unknown column
    assert body["errors"] == [
        {
            "row": 2,
            "line": 3,
            "field": "estudio",
            "code": "not_finite",
            "message": body["errors"][0]["message"],
        }
    ]


def test_ragged_rows_are_named(client, auth) -> None:
    data = exam_csv(5, bad={2: "1,2,s2,extra", 4: "1"})
    body = post(client, auth, data).get_json()
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (2, "too_many_fields"),
        (4, "too_few_fields"),
    ]
    assert body["errors"][0]["message"] == "has 4 fields where the header has 3"
    assert body["job"]["progress"]["rows_scored"] == 3


def test_quoted_newlines_and_blank_lines(client, auth) -> None:
    data = b'estudio,sueno,nota\n1,2,"two\nlines"\n\n3,4,plain\n'
    body = post(client, auth, data).get_json()
    assert [r[2] for r in body["rows"]] == ["two\nlines", "plain"]
    assert body["errors"] == []


def test_formula_cells_are_neutralised_in_csv_downloads(client, auth) -> None:
    data = b'estudio,sueno,nota\n1,2,"=HYPERLINK(""http://evil"")"\n3,4,-5\n'
    rows = table(post(client, auth, data, Accept="text/csv"))
    assert rows[1][2] == '\'=HYPERLINK("http://evil")'
    assert rows[2][2] == "'-5"  # text that starts like a formula, kept readable


def test_expired_results_are_gone(make_app, users) -> None:
    app = make_app(JOB_RESULT_TTL="1s")
    client, auth = app.test_client(), _auth(app, users)
    job = post(client, auth, exam_csv(3)).get_json()["job"]
    assert client.get(f"/api/v1/jobs/{job['id']}/result", headers=auth).status_code == 200
    import time

    time.sleep(1.1)
    assert app.extensions["modelserve.jobs"].expire() == 1
    response = client.get(f"/api/v1/jobs/{job['id']}/result", headers=auth)
    assert response.status_code == 410
    assert not (Path(app.instance_path) / "jobs" / job["id"]).exists()


def _auth(app: Flask, users: dict[str, int]) -> dict[str, str]:
    from modelserve.services import tokens
    from modelserve.storage.tables import User

    with app.app_context():
        bob = db.session.get(User, users["bob"])
        plaintext = tokens.create_token(db.session, bob, name="t", scopes=["predict"]).plaintext
    return {"Authorization": f"Bearer {plaintext}"}


def test_the_size_cap_is_the_files_not_the_envelopes(make_app, users) -> None:
    data = exam_csv(200)
    app = make_app(JOB_MAX_BYTES=len(data))
    client, auth = app.test_client(), _auth(app, users)
    exact = client.post(
        "/api/v1/models/exam/batch",
        data={"file": (io.BytesIO(data), "exact.csv")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert exact.status_code == 200  # the multipart framing does not count
    over = client.post(
        "/api/v1/models/exam/batch",
        data={"file": (io.BytesIO(data + b"1,2,x\n"), "over.csv")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert over.status_code == 413
    assert over.get_json()["code"] == "too_large"


def test_a_zero_size_cap_means_no_cap(make_app, users) -> None:
    app = make_app(JOB_MAX_BYTES=0, JOB_SYNC_ROWS=1_000_000)
    client, auth = app.test_client(), _auth(app, users)
    big = exam_csv(400_000)  # over the app's 4 MiB body limit for JSON
    assert len(big) > 4 * 1024 * 1024
    assert post(client, auth, big, Accept="text/csv").status_code == 200
