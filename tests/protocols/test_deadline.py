"""Past the deadline, every protocol answers 503 with Retry-After, in its own error shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.runtime.registry import Registry, load_source
from tests.api.test_deadline import SlowModel
from tests.conftest import app_with_tables
from tests.support import numeric_pipeline, save

ROW = {"x0": 1, "x1": 2, "x2": 3}
V2_BODY = {
    "inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 3], "data": [1.0, 2.0, 3.0]}]
}


@pytest.mark.parametrize(
    ("path", "body", "error_key"),
    [
        ("/v2/models/slow/infer", V2_BODY, "error"),
        ("/invocations", {"dataframe_records": [ROW]}, "message"),
    ],
)
def test_the_deadline_holds_for_every_protocol(
    tmp_path: Path, path: str, body: dict, error_key: str
) -> None:
    model = save(SlowModel(numeric_pipeline()[0], delay=0.5), tmp_path / "slow.joblib")
    registry = Registry([load_source(model)], timeout=0.1)
    app = app_with_tables(
        {
            "INSTANCE_PATH": str(tmp_path / "i"),
            "REGISTRY": registry,
            "RETRY_AFTER": 3,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        }
    )
    response = app.test_client().post(path, json=body)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert "0.1 s" in response.get_json()[error_key]
