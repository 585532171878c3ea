"""modelserve.client against a real server: typed answers and errors with the problem details."""

from __future__ import annotations

import socket

import pytest
from flask.testing import FlaskClient

from modelserve.client import ApiError, Client, ModelInfo, Prediction, TransportError
from modelserve.extensions import db
from modelserve.services import access, accounts, tokens

ROWS = [{"estudio": e, "sueno": s} for e, s in [(6, 8), (1, 3), (9, 5), (2, 9), (7, 7)]]


@pytest.fixture(scope="module")
def api(live_app) -> Client:
    """A client with a real API token of a user of the live server."""
    app, address = live_app
    with app.app_context():
        user = accounts.create_user(db.session, "client-user", "client password 1")
        issued = tokens.create_token(db.session, user, name="client", scopes=["predict"])
    return Client(f"http://{address}", token=issued.plaintext, timeout=10)


def test_models_and_describe(api: Client) -> None:
    assert ModelInfo("exam", "1.0.0", "Will I pass the exam?", "classification") in api.models()
    assert api.describe("exam")["classes"] == ["Aprobado", "Suspendido"]


def test_predict_one_row_or_several_like_the_native_api(api: Client, client: FlaskClient) -> None:
    native = client.post("/api/v1/models/exam/predict", json={"instances": ROWS}).get_json()
    expected = [Prediction(p["label"], p["probabilities"]) for p in native["predictions"]]
    assert api.predict("exam", ROWS) == expected
    assert api.predict("exam", ROWS[0]) == expected[:1]


def test_batch_sends_chunks_and_keeps_the_order(api: Client) -> None:
    assert api.batch("exam", iter(ROWS), chunk_size=2) == api.predict("exam", ROWS)
    assert api.batch("exam", ROWS) == api.predict("exam", ROWS)  # chunk: the server's max_rows


def test_errors_carry_the_problem_details(api: Client) -> None:
    with pytest.raises(ApiError) as caught:
        api.predict("exam", [{"estudio": "x", "sueno": 3}, {"estudio": 1}])
    error = caught.value
    assert error.status == 422 and error.title == "Unprocessable Content"
    assert [(e.row, e.field, e.code) for e in error.errors] == [
        (0, "estudio", "not_a_number"),
        (1, "sueno", "required"),
    ]
    assert error.request_id and "row 0, estudio: must be a number" in str(error)
    with pytest.raises(ApiError, match="404"):
        api.predict("nope", ROWS[0])


def test_the_token_opens_a_signed_in_model(api: Client, live_app) -> None:
    app, address = live_app
    with app.app_context():
        access.set_level(db.session, "iris", "signed-in")
    app.extensions["modelserve.gate"].forget()
    row = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}
    try:
        assert api.predict("iris", row)[0].label == "virginica"
        with pytest.raises(ApiError) as caught:
            Client(f"http://{address}", timeout=10).predict("iris", row)
        assert caught.value.status == 401
    finally:
        with app.app_context():
            access.set_level(db.session, "iris", None)
        app.extensions["modelserve.gate"].forget()


def test_an_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError):
        Client(f"http://127.0.0.1:{port}", timeout=5).models()


def test_only_http_addresses() -> None:
    with pytest.raises(ValueError, match="http"):
        Client("file:///etc/passwd")
