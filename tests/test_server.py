"""A real production server on a free port: gunicorn (and waitress), started like a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.live import MODELSERVE, call, serving
from tests.pg import free_port

pytestmark = pytest.mark.server


def test_gunicorn_serves_the_models_and_stops_gracefully(demo_dir: Path, tmp_path: Path) -> None:
    args = ["serve", str(demo_dir / "exam"), str(demo_dir / "iris"), "--workers", "2"]
    with serving(args, tmp_path / "instance") as (base, process):
        status, headers, body = call(
            f"{base}/api/v1/models/exam/predict", {"estudio": 9, "sueno": 8}
        )
        assert status == 200 and body["predictions"][0]["label"] == "Aprobado"
        assert headers["Server"].startswith("gunicorn")
        rows = [{"estudio": i % 12, "sueno": 6} for i in range(50)]
        with ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(
                    lambda _: call(f"{base}/api/v1/models/exam/predict", {"instances": rows}),
                    range(40),
                )
            )
        assert {r[0] for r in results} == {200}
        status, _, problem = call(
            f"{base}/api/v1/models/exam/predict", {"estudio": "x", "sueno": 1}
        )
        assert status == 422 and problem["errors"][0]["field"] == "estudio"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    log = (tmp_path / "instance").parent.glob("server-*.log")
    text = next(log).read_text()
    events = [json.loads(line).get("event") for line in text.splitlines() if line.startswith("{")]
    assert "prediction" in events and "Traceback" not in text


def test_a_bare_joblib_is_served_and_its_pin_announced(tmp_path: Path) -> None:
    from tests.support import numeric_pipeline, save

    path = save(numeric_pipeline()[0], tmp_path / "bare.joblib")
    with serving(["serve", str(path), "--workers", "1"], tmp_path / "instance") as (base, _):
        status, _, body = call(f"{base}/api/v1/models/bare/predict", {"x0": 1, "x1": 0, "x2": 0})
        assert status == 200 and body["predictions"][0]["label"] in (0, 1)
    assert "pinned sha256" in next(tmp_path.glob("server-*.log")).read_text()


def test_waitress_serves_too(demo_dir: Path, tmp_path: Path) -> None:
    args = ["serve", str(demo_dir / "exam"), "--server", "waitress"]
    with serving(args, tmp_path / "instance") as (base, _):
        status, headers, body = call(
            f"{base}/api/v1/models/exam/predict", {"estudio": 1, "sueno": 4}
        )
        assert status == 200 and headers["Server"] == "modelserve"
        assert body["predictions"][0]["label"] == "Suspendido"


def test_demo_trains_into_the_instance_folder_and_serves(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    with serving(["demo", "--workers", "1"], instance) as (base, _):
        names = [m["name"] for m in call(f"{base}/api/v1/models")[2]["models"]]
        assert names == ["exam", "exam-legacy", "iris"]
    assert (instance / "models" / "exam" / "model.toml").is_file()
    assert (instance / "secret_key").stat().st_mode & 0o777 == 0o600


def test_a_broken_model_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"nope")
    env = {**os.environ, "MODELSERVE_INSTANCE_PATH": str(tmp_path / "instance")}
    done = subprocess.run(  # noqa: PLW1510 - the exit code is the assertion
        [MODELSERVE, "serve", str(junk), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "junk.joblib: cannot load joblib file" in done.stderr and "Traceback" not in done.stderr
