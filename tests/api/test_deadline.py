"""Past its deadline a prediction answers 503 with Retry-After, and the log says so."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from flask.testing import FlaskClient

from modelserve.runtime.registry import Registry, load_source
from tests.conftest import app_with_tables
from tests.support import numeric_pipeline, save


class SlowModel:
    """Wraps a fitted estimator and takes `delay` seconds per call (a model under load)."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.classes_ = inner.classes_
        self.n_features_in_ = inner.n_features_in_

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return self.inner.predict(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.inner.predict_proba(x)


def test_a_slow_prediction_gets_503_with_retry_after(tmp_path: Path, caplog) -> None:
    path = save(SlowModel(numeric_pipeline()[0], delay=0.5), tmp_path / "slow.joblib")
    registry = Registry([load_source(path)], timeout=0.1)
    app = app_with_tables(
        {
            "INSTANCE_PATH": str(tmp_path / "i"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
            "REGISTRY": registry,
            "TESTING": True,
            "RETRY_AFTER": 7,
        }
    )
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("modelserve").addHandler(handler)
    try:
        client: FlaskClient = app.test_client()
        response = client.post("/api/v1/models/slow/predict", json={"x0": 1, "x1": 2, "x2": 3})
    finally:
        logging.getLogger("modelserve").removeHandler(handler)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.mimetype == "application/problem+json"
    assert "0.1 s" in response.get_json()["detail"]
    outcomes = [r.fields.get("outcome") for r in records if hasattr(r, "fields")]
    assert "deadline_exceeded" in outcomes
