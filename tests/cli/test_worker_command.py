"""`modelserve worker` refuses clearly what it cannot do (the real runs: tests/jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelserve.cli import main


def test_worker_needs_a_broker(tmp_instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSERVE_CELERY_BROKER_URL", raising=False)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2
    assert "MODELSERVE_CELERY_BROKER_URL is not set" in result.output


def test_worker_needs_models(tmp_instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSERVE_CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("MODELSERVE_MODELS", raising=False)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2
    assert "no models" in result.output
    assert (tmp_instance / "modelserve.db").exists()  # migrated first, as `serve` does
