"""The application factory: a table of contents of what the app is made of."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from flask import Flask, Response, request

from . import admin, api, auth, health, web
from .api import docs as api_docs
from .auth.session import register_login
from .batch import register_jobs
from .config import instance_path, load_config, model_paths
from .context import request_id
from .cors import register_cors
from .database import register_database
from .errors import register_error_format, register_errorhandlers
from .extensions import babel, bootstrap, csrf, db, limiter
from .fastlane import register_fast_lane
from .formlane import register_form_lane
from .fragments import FragmentCache
from .headers import add_common_headers
from .i18n import choose_locale, install_cached_gettext
from .jsonio import register_json
from .logs import register_logging
from .metrics import register_metrics
from .protocols import mlflow, v2
from .ratelimit import scope_limiter_hooks
from .runtime.batching import BatchSettings
from .runtime.registry import Registry, load_source
from .services.access import AccessGate
from .sessions import CachedSessionInterface
from .signing import remember_csrf_tokens
from .urls import cache_urls


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides defaults and `MODELSERVE_*` variables."""
    app = Flask(__name__, instance_path=str((config or {}).get("INSTANCE_PATH") or instance_path()))
    load_config(app, config)
    register_json(app)
    register_logging(app)
    register_extensions(app)
    register_database(app)
    register_login(app)
    register_models(app)
    register_jobs(app)
    register_blueprints(app)
    register_cors(app)
    register_metrics(app)
    register_errorhandlers(app)
    register_hooks(app)
    scope_limiter_hooks(app, limiter)
    register_template_helpers(app)
    register_commands(app)
    register_form_lane(app)
    register_fast_lane(app)
    return app


def select_locale() -> Locale:
    """The `lang` cookie, else the browser's best match, else the default (a shared `Locale`)."""
    from flask import current_app  # noqa: PLC0415

    config = current_app.config
    return choose_locale(
        request.cookies.get("lang"),
        request.environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        tuple(config["LANGUAGES"]),
        config["BABEL_DEFAULT_LOCALE"],
    )


def register_extensions(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    install_cached_gettext(app)
    bootstrap.init_app(app)
    csrf.init_app(app)
    remember_csrf_tokens()
    limiter.init_app(app)
    app.session_interface = CachedSessionInterface()


def register_models(app: Flask) -> None:
    """Load every model once, at start-up, and run a warm-up prediction through each."""
    app.extensions["modelserve.gate"] = AccessGate(lambda: db.session)
    if app.config.get("REGISTRY") is not None:  # built by the caller (`modelserve serve`, tests)
        registry = app.config["REGISTRY"]
    elif not app.config["LOAD_MODELS"]:
        registry = Registry([])
    else:
        options = {
            "trusted_types": app.config["TRUSTED_TYPES"],
            "ignore_unknown": bool(app.config["IGNORE_UNKNOWN_FIELDS"]),
            "fast_path": bool(app.config["FAST_PATH"]),
        }
        registry = Registry(
            [load_source(p, **options) for p in model_paths(app)],
            timeout=float(app.config["PREDICT_TIMEOUT"]) or None,
            batching=batch_settings(app),
        )
        registry.warm_up()
    app.extensions["modelserve.registry"] = registry


def batch_settings(app: Flask) -> BatchSettings | None:
    """Micro-batching settings when it is on (threaded servers), else None."""
    if not app.config["BATCHING"]:
        return None
    return BatchSettings(
        max_rows=int(app.config["BATCH_MAX_ROWS"]),
        max_wait_us=int(app.config["BATCH_MAX_WAIT_US"]),
        max_queue=int(app.config["BATCH_MAX_QUEUE"]),
    )


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(web.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_docs.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(mlflow.bp)
    register_error_format(app, v2.bp.url_prefix or "/v2", v2.error_response)
    for prefix in mlflow.PREFIXES:
        register_error_format(app, prefix, mlflow.error_response)
    # The JSON API and the protocols read no cookies, so there is nothing to forge.
    for blueprint in (api.bp, health.bp, v2.bp, mlflow.bp):
        csrf.exempt(blueprint)


def register_hooks(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        add_common_headers(response.headers, request_id(), response.mimetype == "text/html")
        return response


def register_commands(app: Flask) -> None:
    from .cli import app_commands  # noqa: PLC0415 - the CLI imports the app factory lazily too

    for command in app_commands():
        app.cli.add_command(command)


def format_number(value: Any) -> str:
    """5.0 -> "5", 5.25 -> "5.25", text unchanged."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}" if not value.is_integer() else str(int(value))
    return str(value)


def register_template_helpers(app: Flask) -> None:
    cache_urls(app)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.add_extension(FragmentCache)
    app.jinja_env.filters["num"] = format_number
    app.jinja_env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    app.jinja_env.filters["prefill_query"] = lambda row: urlencode(
        {k: format_number(v) for k, v in row.items() if v is not None}
    )

    @app.context_processor
    def settings() -> dict[str, Any]:
        return {"self_registration": app.config["SELF_REGISTRATION"]}
