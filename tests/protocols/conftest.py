"""Models the demo lacks: categorical features, and a regressor."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sklearn.linear_model import LinearRegression

from modelserve.runtime.registry import Registry, load_source
from tests.conftest import app_with_tables
from tests.support import mixed_pipeline, numeric_pipeline, save


def client_for(folder: Path, model_file: Path) -> FlaskClient:
    registry = Registry([load_source(model_file)])
    registry.warm_up()
    app = app_with_tables(
        {
            "INSTANCE_PATH": str(folder / "i"),
            "REGISTRY": registry,
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{folder / 'a.db'}",
        }
    )
    return app.test_client()


@pytest.fixture(scope="module")
def mixed_client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    """churn: age, income, city, plan (categories) -> yes/no."""
    folder = tmp_path_factory.mktemp("mixed")
    return client_for(folder, save(mixed_pipeline()[0], folder / "churn.joblib"))


@pytest.fixture(scope="module")
def regressor_client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    """reg: x0, x1, x2 -> a number."""
    folder = tmp_path_factory.mktemp("reg")
    _, x, _ = numeric_pipeline()
    model = LinearRegression().fit(x, x @ [1.0, 2.0, 3.0])
    return client_for(folder, save(model, folder / "reg.joblib"))
