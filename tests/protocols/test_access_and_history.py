"""V2 and MLflow calls obey the same access rules and land in the same history."""

from __future__ import annotations

from flask import Flask

from modelserve.extensions import db
from modelserve.services import access
from modelserve.storage.tables import PredictionRecord
from tests.auth.test_tokens import bearer, issue

ROW = {"estudio": 6.0, "sueno": 8.0}
V2_BODY = {
    "inputs": [
        {"name": "estudio", "shape": [1], "datatype": "FP64", "data": [6.0]},
        {"name": "sueno", "shape": [1], "datatype": "FP64", "data": [8.0]},
    ],
    "parameters": {"content_type": "pd"},
}
MLFLOW_BODY = {"dataframe_records": [ROW]}


def signed_in_only(app: Flask) -> None:
    with app.app_context():
        access.set_level(db.session, "exam", "signed-in")
    app.extensions["modelserve.gate"].forget()


def test_a_token_less_call_to_a_signed_in_model_is_refused(app: Flask, users) -> None:
    signed_in_only(app)
    client = app.test_client()
    v2 = client.post("/v2/models/exam/infer", json=V2_BODY)
    assert v2.status_code == 401 and "error" in v2.get_json()
    assert v2.headers["WWW-Authenticate"].startswith("Bearer")
    mlflow = client.post("/invocations?model=exam", json=MLFLOW_BODY)
    assert mlflow.status_code == 401
    token = bearer(issue(app, "bob"))
    assert client.post("/v2/models/exam/infer", json=V2_BODY, headers=token).status_code == 200
    assert (
        client.post("/invocations?model=exam", json=MLFLOW_BODY, headers=token).status_code == 200
    )


def test_protocol_predictions_are_in_the_history(app: Flask, users) -> None:
    client = app.test_client()
    token = bearer(issue(app, "bob"))
    client.post("/v2/models/exam/infer", json=V2_BODY, headers=token)
    client.post("/invocations?model=exam", json=MLFLOW_BODY)
    with app.app_context():
        found = db.session.execute(
            db.select(
                PredictionRecord.source, PredictionRecord.user_id, PredictionRecord.inputs
            ).order_by(PredictionRecord.id)
        ).all()
    assert [(s, u) for s, u, _ in found] == [("v2", users["bob"]), ("mlflow", None)]
    assert all(inputs == ROW for _, _, inputs in found)
