"""Every prediction is on record; users see their own, admins all; filters, pages, exports.

Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from modelserve.extensions import db
from modelserve.services import accounts
from modelserve.storage.tables import PredictionRecord, utcnow
from tests.auth.test_tokens import bearer, issue
from tests.conftest import csrf_token, sign_in


@pytest.fixture
def app(make_app, database_url: str) -> Flask:
    return make_app(DATABASE_URL=database_url)


def records(app: Flask) -> list[PredictionRecord]:
    with app.app_context():
        found = list(db.session.scalars(db.select(PredictionRecord).order_by(PredictionRecord.id)))
        for r in found:
            _ = r.user
        return found


def form_predict(client: FlaskClient, estudio: str, sueno: str) -> None:
    token = csrf_token(client, "/models/exam")
    response = client.post("/models/exam", data={"csrf_token": token, "f0": estudio, "f1": sueno})
    assert response.status_code == 200


def test_each_door_records_who_what_and_how_long(app, client: FlaskClient, users) -> None:
    sign_in(client, "bob")
    form_predict(client, "8", "7")
    token = issue(app, "ada")
    rows = [{"estudio": 1, "sueno": 4}, {"estudio": 9, "sueno": 8}]
    response = app.test_client().post(
        "/api/v1/models/exam/predict",
        json={"instances": rows},
        headers={**bearer(token), "X-Request-ID": "req-42"},
    )
    assert response.status_code == 200
    app.test_client().post("/api/v1/models/iris/predict", json={"sepal_length": 5})  # invalid
    web, api1, api2 = records(app)
    assert (web.source, web.user.username, web.inputs) == (
        "web",
        "bob",
        {"estudio": 8.0, "sueno": 7.0},
    )
    assert web.label == "Aprobado" and set(web.probabilities) == {"Aprobado", "Suspendido"}
    assert web.model == "exam" and web.version == "1.0.0" and len(web.sha256) == 64
    assert web.latency_ms > 0 and web.request_id
    assert (api1.source, api1.user.username, api1.request_id) == ("api", "ada", "req-42")
    assert api1.token_id is not None and api1.inputs == {"estudio": 1.0, "sueno": 4.0}
    assert [api1.label, api2.label] == [p["label"] for p in response.get_json()["predictions"]]
    assert api1.probabilities == response.get_json()["predictions"][0]["probabilities"]


def test_anonymous_predictions_are_recorded_without_a_user(app, client: FlaskClient) -> None:
    client.post("/api/v1/models/exam/predict", json={"estudio": 3, "sueno": 3})
    [record] = records(app)
    assert record.user_id is None and record.source == "api"


def test_users_see_their_own_admins_see_all(app, users) -> None:
    bob, ada = app.test_client(), app.test_client()
    sign_in(bob, "bob")
    sign_in(ada, "ada")
    form_predict(bob, "2", "5")
    form_predict(ada, "9", "9")
    bob_id, ada_id = (
        (r.id for r in records(app))
        if records(app)[0].user.username == "bob"
        else (r.id for r in reversed(records(app)))
    )
    assert bob_id in bob.get("/history").get_data(as_text=True)
    assert ada_id not in bob.get("/history").get_data(as_text=True)
    assert bob.get(f"/history/{ada_id}").status_code == 404
    assert bob.get(f"/history/{bob_id}").status_code == 200
    page = ada.get("/history").get_data(as_text=True)
    assert bob_id in page and ada_id in page
    assert ada.get(f"/history/{bob_id}").status_code == 200
    assert bob.get("/history/nonexistent").status_code == 404


def test_the_api_history_needs_the_scope_and_hides_others(app, users) -> None:
    client = app.test_client()
    client.post(
        "/api/v1/models/exam/predict",
        json={"estudio": 1, "sueno": 1},
        headers=bearer(issue(app, "ada")),
    )
    reader = issue(app, "bob", scopes=("history:read",))
    body = client.get("/api/v1/history", headers=bearer(reader)).get_json()
    assert body["total"] == 0
    [record] = records(app)
    assert client.get(f"/api/v1/history/{record.id}", headers=bearer(reader)).status_code == 404
    admin_reader = issue(app, "ada", scopes=("history:read",))
    detail = client.get(f"/api/v1/history/{record.id}", headers=bearer(admin_reader)).get_json()
    assert detail["user"] == "ada" and detail["inputs"] == {"estudio": 1.0, "sueno": 1.0}


def test_filters_and_pages(app, client: FlaskClient, users) -> None:
    token = issue(app, "bob")
    api = app.test_client()
    rows = [{"estudio": (i % 10), "sueno": 8} for i in range(60)]
    api.post("/api/v1/models/exam/predict", json={"instances": rows}, headers=bearer(token))
    api.post(
        "/api/v1/models/iris/predict",
        headers=bearer(token),
        json={"sepal_length": 5, "sepal_width": 3, "petal_length": 1.4, "petal_width": 0.2},
    )
    sign_in(client, "bob")
    page = client.get("/history").get_data(as_text=True)
    assert "61 records" in page and 'href="/history?page=2"' in page
    assert "60 records" in client.get("/history?model=exam").get_data(as_text=True)
    only_iris = client.get("/history?model=iris").get_data(as_text=True)
    assert "1 record" in only_iris and "setosa" in only_iris
    assert "1 record<" in client.get("/history?label=setosa").get_data(as_text=True)
    today = utcnow().date()
    assert "61 records" in client.get(f"/history?since={today}&until={today}").get_data(
        as_text=True
    )
    tomorrow = today + timedelta(days=1)
    assert "0 records" in client.get(f"/history?since={tomorrow}").get_data(as_text=True)
    bad = client.get("/history?since=yesterday")
    assert bad.status_code == 422 and "Not a valid date" in bad.get_data(as_text=True)
    sqlish = client.get("/history", query_string={"label": "x' OR '1'='1"})
    assert sqlish.status_code == 200 and "0 records" in sqlish.get_data(as_text=True)


def test_csv_export_neutralises_formulas(app, client: FlaskClient, users, demo_registry) -> None:
    sign_in(client, "bob")
    form_predict(client, "5", "5")
    with app.app_context():
        record = db.session.scalar(db.select(PredictionRecord))
        record.label = '=HYPERLINK("http://evil")'
        record.request_id = "+cmd"
        db.session.commit()
    response = client.get("/history/export.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    [row] = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert row["label"] == '\'=HYPERLINK("http://evil")' and row["request_id"] == "'+cmd"
    assert json.loads(row["inputs"]) == {"estudio": 5.0, "sueno": 5.0}
    lines = client.get("/history/export.jsonl").get_data(as_text=True).splitlines()
    assert json.loads(lines[0])["label"] == '=HYPERLINK("http://evil")'


def test_purge_keeps_recent_records(app, client: FlaskClient, runner) -> None:
    client.post("/api/v1/models/exam/predict", json={"instances": [{"estudio": 1, "sueno": 1}] * 3})
    with app.app_context():
        old = db.session.scalars(db.select(PredictionRecord)).first()
        old.created_at = utcnow() - timedelta(days=91)
        db.session.commit()
    result = runner.invoke(args=["history", "purge", "--older-than", "90d"])
    assert result.exit_code == 0 and "deleted 1 records" in result.output
    assert len(records(app)) == 2
    bad = runner.invoke(args=["history", "purge", "--older-than", "soon"])
    assert bad.exit_code == 2 and "90d" in bad.output


def test_script_and_sql_text_is_stored_verbatim_and_shown_escaped(app, users) -> None:
    with app.app_context():
        user = accounts.create_user(db.session, "o.brien-x@y", "long password 1")
        token = issue(app, "o.brien-x@y")
        _ = user
    client = app.test_client()
    client.post(
        "/api/v1/models/exam/predict", json={"estudio": 1, "sueno": 2}, headers=bearer(token)
    )
    with app.app_context():
        record = db.session.scalar(db.select(PredictionRecord))
        record_id = record.id
        record.label = "<script>alert('x')</script>'; DROP TABLE predictions;--"
        db.session.commit()
    sign_in(client, "ada")
    page = client.get(f"/history/{record_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#39;; DROP TABLE predictions;--" in page
    assert "<script>alert" not in page
    assert records(app)[0].label.startswith("<script>")


def test_odd_page_numbers_are_not_errors(app, client: FlaskClient, users) -> None:
    sign_in(client, "bob")
    for page in ("²", "-3", "0", "99999999999999999999", "x"):
        assert client.get(f"/history?page={page}").status_code == 200
