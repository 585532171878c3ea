"""Settings: defaults here, overridden by `MODELSERVE_*` environment variables.

Every setting is read with `app.config.from_prefixed_env("MODELSERVE")`, so
`MODELSERVE_MAX_ROWS=500` sets `MAX_ROWS`; values are parsed as JSON when they can be.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from .runtime.registry import discover

DEFAULTS: dict[str, Any] = {
    # Model folders or files to serve, separated by os.pathsep; empty: instance/models/*.
    "MODELS": "",
    # The model MLflow-style /invocations calls go to when they name none (empty: the only one).
    "DEFAULT_MODEL": "",
    # Origins allowed to call the JSON API and protocols from a browser (empty: no CORS).
    "CORS_ORIGINS": [],
    # Rows accepted in one JSON request ({"instances": [...]}).
    "MAX_ROWS": 10_000,
    # Largest request body, in bytes.
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    # Seconds a prediction may take before the client gets 503 (0 disables the deadline).
    "PREDICT_TIMEOUT": 10.0,
    # Seconds to ask clients to wait (Retry-After) after a deadline or overload.
    "RETRY_AFTER": 1,
    # Unknown input fields are rejected; set to true to ignore them instead.
    "IGNORE_UNKNOWN_FIELDS": False,
    # Replay verified scikit-learn pipelines exactly in float64, without per-call checks.
    "FAST_PATH": True,
    # Answer plain anonymous JSON predictions of public models without Flask's request
    # machinery (`fastlane.py`); anything it cannot prove equivalent still goes to Flask.
    "FAST_LANE": True,
    # Coalesce concurrent requests for one model into one call (threaded servers only;
    # `modelserve serve --threads N` turns it on): rows per call, microseconds a leader waits
    # for others, requests that may wait before the next gets 503.
    "BATCHING": False,
    "BATCH_MAX_ROWS": 256,
    "BATCH_MAX_WAIT_US": 500,
    "BATCH_MAX_QUEUE": 512,
    # Count predictions for Prometheus and serve them at /metrics.
    "METRICS": True,
    # Log the input values of each prediction (off: inputs may be personal data).
    "LOG_INPUTS": False,
    # skops types trusted for bare .skops files given on the command line.
    "TRUSTED_TYPES": [],
    "LANGUAGES": ["en", "es"],
    "BABEL_DEFAULT_LOCALE": "en",
    "BOOTSTRAP_SERVE_LOCAL": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": 3600 * 8,
    "JSON_SORT_KEYS": False,
    # The database: SQLite in the instance folder unless a URL is given (PostgreSQL:
    # postgresql+psycopg://user:password@host/dbname).
    "DATABASE_URL": "",
    # Apply database migrations when `modelserve serve`/`demo` starts.
    "AUTO_MIGRATE": True,
    # History durability: "async" (batched, off the request path) or "sync" (committed first).
    "HISTORY": "async",
    "HISTORY_FLUSH_INTERVAL": 0.1,
    # A request of at least this many rows is one history record holding all its rows (a
    # columnar payload) instead of one record per row; 0 keeps one record per row always.
    "HISTORY_BATCH_ROWS": 100,
    # Anyone may create an account when true; otherwise admins create users.
    "SELF_REGISTRATION": False,
    # Sign-in attempts per client address (Flask-Limiter syntax).
    "LOGIN_RATE_LIMIT": "10 per minute; 50 per hour",
    # Shared rate-limit storage (e.g. redis://host:6379/0); per process when empty.
    "REDIS_URL": "",
    "RATELIMIT_HEADERS_ENABLED": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_DURATION": 14 * 24 * 3600,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    # Batch jobs (files scored in the background). Folder of uploads and results, shared by
    # every worker (empty: instance/jobs); rows per chunk; caps; files larger or longer are
    # refused. Up to JOB_SYNC_ROWS rows the API answers at once, above it 202 + a job.
    "JOB_FOLDER": "",
    "JOB_CHUNK_ROWS": 50_000,
    "JOB_MAX_ROWS": 5_000_000,
    "JOB_MAX_BYTES": 1 << 30,
    "JOB_SYNC_ROWS": 10_000,
    # How long results stay downloadable (90d, 12h, 30m, 45s).
    "JOB_RESULT_TTL": "7d",
    # A running job without a progress report for this many seconds is marked failed.
    "JOB_STALE_AFTER": 120,
    # Files one user may have waiting or being scored at once (0: no limit).
    "JOB_MAX_ACTIVE": 5,
    # Job threads per web process (the in-process executor, used without Celery).
    "JOB_THREADS": 1,
    # Record every scored row of a job in the prediction history (source "batch").
    "JOB_HISTORY": True,
    # Send jobs to Celery workers (`modelserve worker`) through this broker, e.g.
    # redis://host:6379/1; empty: jobs run in the web processes.
    "CELERY_BROKER_URL": "",
    # Load and warm up the models (off for commands that only touch the database).
    "LOAD_MODELS": True,
}


def instance_path() -> str:
    """Where everything the app writes lives: MODELSERVE_INSTANCE_PATH or ./instance."""
    return os.path.abspath(os.environ.get("MODELSERVE_INSTANCE_PATH") or "instance")


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Defaults, then the environment, then explicit overrides (tests, `modelserve serve`)."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MODELSERVE")
    if overrides:
        app.config.from_mapping(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(Path(app.instance_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"] or (
        f"sqlite:///{Path(app.instance_path) / 'modelserve.db'}"
    )
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]


def instance_secret(folder: Path) -> str:
    """The secret key kept in the instance folder, generated on first use (mode 0600)."""
    path = folder / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < 32:
            raise RuntimeError(f"{path} holds a secret shorter than 32 characters") from None
        return secret
    secret = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret)
    return secret


def model_paths(app: Flask) -> list[Path]:
    """The model sources to serve, from the MODELS setting or the instance folder."""
    value = app.config.get("MODELS") or ""
    items = value if isinstance(value, list | tuple) else str(value).split(os.pathsep)
    paths = [Path(str(p)).expanduser() for p in items if str(p).strip()]
    if paths:
        return paths
    return discover(Path(app.instance_path) / "models")
