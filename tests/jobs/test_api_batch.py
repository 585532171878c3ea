"""POST /api/v1/models/<name>/batch: small files answered at once, big ones as jobs."""

from __future__ import annotations

import csv
import io
import json

from flask import Flask
from sqlalchemy import func, select

from modelserve.extensions import db
from modelserve.storage.tables import Job, PredictionRecord

from .conftest import exam_csv, wait_for


def test_a_small_csv_is_scored_at_once_as_json(client, auth) -> None:
    response = client.post(
        "/api/v1/models/exam/batch",
        data=exam_csv(20),
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["columns"] == [
        "estudio",
        "sueno",
        "alumno",
        "label",
        "probability_Aprobado",
        "probability_Suspendido",
        "error",
    ]
    assert len(body["rows"]) == 20
    assert body["job"]["progress"]["rows_scored"] == 20
    assert response.headers["X-Rows-Rejected"] == "0"
    first = body["rows"][0]
    assert first[:3] == ["1.5", "7", "s1"]
    assert first[3] in ("Aprobado", "Suspendido")
    assert abs(first[4] + first[5] - 1) < 1e-12


def test_sync_answers_match_single_predictions(client, auth) -> None:
    data = exam_csv(30)
    answer = client.post(
        "/api/v1/models/exam/batch", data=data, headers={**auth, "Content-Type": "text/csv"}
    ).get_json()
    rows = [{"estudio": float(r[0]), "sueno": float(r[1])} for r in answer["rows"]]
    single = client.post("/api/v1/models/exam/predict", json={"instances": rows}).get_json()
    for got, expected in zip(answer["rows"], single["predictions"], strict=True):
        assert got[3] == expected["label"]
        assert got[4] == expected["probabilities"]["Aprobado"]


def test_invalid_rows_are_reported_and_the_rest_scored(client, auth) -> None:
    data = exam_csv(1000, bad={500: "abc,7,s500"})
    response = client.post(
        "/api/v1/models/exam/batch",
        data=data,
        headers={**auth, "Content-Type": "text/csv", "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["X-Rows-Scored"] == "999"
    assert response.headers["X-Rows-Rejected"] == "1"
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(table) == 1001
    assert table[500][3] == ""  # row 500 is line 501 of the file, table row 500
    assert table[500][-1] == "estudio: must be a number"
    assert table[499][-1] == "" and table[499][3] in ("Aprobado", "Suspendido")


def test_strict_rejects_the_whole_file_before_scoring(app: Flask, client, auth) -> None:
    data = exam_csv(1000, bad={500: "abc,7,s500"})
    response = client.post(
        "/api/v1/models/exam/batch?strict=true",
        data=data,
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["errors"] == [
        {
            "row": 500,
            "line": 501,
            "field": "estudio",
            "code": "not_a_number",
            "message": "must be a number",
        }
    ]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PredictionRecord)) == 0


def test_ndjson_in_ndjson_out(client, auth) -> None:
    lines = [json.dumps({"estudio": i % 10, "sueno": 7, "id": i}) for i in range(10)]
    response = client.post(
        "/api/v1/models/exam/batch",
        data="\n".join(lines) + "\n",
        headers={**auth, "Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson"},
    )
    assert response.status_code == 200
    records = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(records) == 10
    assert records[3]["id"] == 3 and records[3]["estudio"] == 3
    assert records[3]["error"] is None
    assert set(records[3]) >= {"label", "probability_Aprobado", "probability_Suspendido"}


def test_a_multipart_file_is_accepted(client, auth) -> None:
    response = client.post(
        "/api/v1/models/exam/batch",
        data={"file": (io.BytesIO(exam_csv(5)), "notas.csv")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert len(response.get_json()["rows"]) == 5


def test_a_big_file_becomes_a_job(make_app, users) -> None:
    app = make_app(JOB_SYNC_ROWS=100, JOB_CHUNK_ROWS=128)
    client = app.test_client()
    from modelserve.services import tokens
    from modelserve.storage.tables import User

    with app.app_context():
        bob = db.session.get(User, users["bob"])
        token = tokens.create_token(db.session, bob, name="t", scopes=["predict"]).plaintext
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post(
        "/api/v1/models/exam/batch?filename=notas.csv",
        data=exam_csv(1000, bad={500: "abc,7,s500"}),
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    assert location.startswith("/api/v1/jobs/")
    done = wait_for(client, location, auth)
    assert done["status"] == "succeeded", done
    assert done["progress"]["rows_scored"] == 999
    assert done["progress"]["rows_rejected"] == 1
    assert done["progress"]["percent"] == 100.0
    result = client.get(location + "/result?format=csv", headers=auth)
    assert result.status_code == 200
    assert 'filename="notas-scored.csv"' in result.headers["Content-Disposition"]
    assert len(result.get_data(as_text=True).splitlines()) == 1001
    errors = client.get(location + "/errors", headers=auth).get_data(as_text=True)
    assert errors.splitlines() == [
        "row,line,field,code,message",
        "500,501,estudio,not_a_number,must be a number",
    ]
    with app.app_context():
        records = db.session.scalars(
            select(PredictionRecord).where(PredictionRecord.job_id == done["id"])
        ).all()
        assert len(records) == 999
        assert {r.source for r in records} == {"batch"}
        assert db.session.get(Job, done["id"]).user_id == users["bob"]


def test_batch_needs_a_token(client) -> None:
    response = client.post(
        "/api/v1/models/exam/batch", data=exam_csv(3), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_another_users_job_is_not_found(app, client, auth, users) -> None:
    response = client.post(
        "/api/v1/models/exam/batch", data=exam_csv(3), headers={**auth, "Content-Type": "text/csv"}
    )
    job_id = response.get_json()["job"]["id"]
    from modelserve.services import tokens
    from modelserve.storage.tables import User

    with app.app_context():
        other = User(username="eve", password_hash="x")
        db.session.add(other)
        db.session.commit()
        stranger = tokens.create_token(db.session, other, name="t", scopes=["predict"]).plaintext
    found = client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {stranger}"})
    assert found.status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}", headers=auth).status_code == 200


def test_a_user_has_a_bounded_number_of_jobs_in_flight(make_app, users) -> None:
    app = make_app(JOB_SYNC_ROWS=1, JOB_MAX_ACTIVE=2, JOB_THREADS=1)
    app.extensions["modelserve.executor"].stop()  # nothing runs: the jobs stay queued
    app.extensions["modelserve.executor"].submit = lambda job_id: None
    client = app.test_client()
    from modelserve.services import tokens
    from modelserve.storage.tables import User

    with app.app_context():
        bob = db.session.get(User, users["bob"])
        token = tokens.create_token(db.session, bob, name="t", scopes=["predict"]).plaintext
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    for _ in range(2):
        response = client.post("/api/v1/models/exam/batch", data=exam_csv(5), headers=auth)
        assert response.status_code == 202
    third = client.post("/api/v1/models/exam/batch", data=exam_csv(5), headers=auth)
    assert third.status_code == 429
    assert third.headers["Retry-After"]
    assert "2 files waiting" in third.get_json()["detail"]
