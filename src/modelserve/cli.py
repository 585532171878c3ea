"""The `modelserve` command: serve models, manage model packages, run the demo."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from .config import instance_path
from .processes import tune_malloc
from .runtime.errors import RuntimeFault
from .runtime.manifest import Manifest
from .runtime.registry import discover
from .server import ServeOptions, run_gunicorn, run_waitress
from .services import catalog

SERVERS = ("gunicorn", "waitress")


def models_dir() -> Path:
    return Path(instance_path()) / "models"


def serve_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The production-server options shared by `serve` and `demo`."""
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind."),
        click.option("--port", default=5000, show_default=True, type=int),
        click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64)),
        click.option(
            "--threads",
            default=1,
            show_default=True,
            type=click.IntRange(1, 256),
            help="Threads per worker (gthread worker when > 1).",
        ),
        click.option(
            "--timeout",
            default=30,
            show_default=True,
            type=click.IntRange(1),
            help="Seconds before a silent worker is killed and restarted.",
        ),
        click.option("--graceful-timeout", default=30, show_default=True, type=click.IntRange(1)),
        click.option(
            "--max-requests",
            default=0,
            show_default=True,
            type=click.IntRange(0),
            help="Restart a worker after this many requests (0: never), e.g. against a leak.",
        ),
        click.option(
            "--max-requests-jitter",
            default=0,
            show_default=True,
            type=click.IntRange(0),
            help="Up to this many more requests, at random, so workers do not restart together.",
        ),
        click.option(
            "--preload/--no-preload",
            default=True,
            show_default=True,
            help="Load the models once, before forking the workers.",
        ),
        click.option("--access-log/--no-access-log", default=False, show_default=True),
        click.option(
            "--server", type=click.Choice(SERVERS), default=_default_server(), show_default=True
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _default_server() -> str:
    return "waitress" if sys.platform == "win32" else "gunicorn"


def _cli_app() -> Flask:
    """The app behind database commands: no models are loaded for them."""
    from .app import create_app  # noqa: PLC0415

    return create_app({"LOAD_MODELS": False})


trust_option = click.option(
    "--trust",
    multiple=True,
    metavar="TYPE",
    help="A skops type you reviewed and trust (repeatable).",
)


@click.group(
    cls=FlaskGroup,
    create_app=_cli_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
@click.version_option(package_name="modelserve")
def main() -> None:
    """Deploy trained models as a web form and a JSON API."""


@main.command(with_appcontext=False)  # it builds its own app, after setting up
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@trust_option
@serve_options
def serve(paths: tuple[Path, ...], trust: tuple[str, ...], server: str, **options: Any) -> None:
    """Serve model files or model folders (default: the instance folder's models)."""
    sources = list(paths) or discover(models_dir())
    if not sources:
        raise click.UsageError(
            "no models: give model files or folders, or run `modelserve models add`"
        )
    _serve(
        {"MODELS": [str(p.resolve()) for p in sources], "TRUSTED_TYPES": list(trust)},
        server,
        ServeOptions(**options),
    )


@main.command(with_appcontext=False)  # it builds its own app, after setting up
@click.option("--retrain", is_flag=True, help="Train the demo models again.")
@serve_options
def demo(retrain: bool, server: str, **options: Any) -> None:
    """Train the demo models (exam, exam-legacy, iris) into the instance folder and serve them."""
    from .demo import ensure_demo_models  # noqa: PLC0415 - training code only when asked

    folders = ensure_demo_models(models_dir(), force=retrain)
    click.echo(f"demo models in {models_dir()}: {', '.join(f.name for f in folders)}", err=True)
    _serve({"MODELS": [str(f) for f in folders]}, server, ServeOptions(**options))


def _serve(config: dict[str, Any], server: str, options: ServeOptions) -> None:
    tune_malloc()  # before the models load: the workers inherit it
    if server == "gunicorn":  # workers are processes: metrics go through shared files
        from .metrics import prepare_multiprocess_dir  # noqa: PLC0415

        prepare_multiprocess_dir(Path(instance_path()))
    if "MODELSERVE_BATCHING" not in os.environ:  # threads can share a model call
        config = {**config, "BATCHING": server == "waitress" or options.threads > 1}
    from .app import create_app  # noqa: PLC0415
    from .database import upgrade  # noqa: PLC0415

    def factory() -> Flask:
        return create_app(config)

    migrator = create_app({**config, "LOAD_MODELS": False})
    if migrator.config["AUTO_MIGRATE"]:
        upgrade(migrator)

    app = _build(factory) if options.preload or server == "waitress" else None
    os.environ.setdefault("MODELSERVE_INSTANCE_PATH", instance_path())
    click.echo(f"serving on http://{options.host}:{options.port} with {server}", err=True)
    if server == "waitress":
        run_waitress(app or _build(factory), options)
    else:
        run_gunicorn((lambda: app) if app is not None else factory, options)  # type: ignore[arg-type,return-value]


@main.command(with_appcontext=False)  # it builds its own app, with the models loaded
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@trust_option
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs scored at once (threads; each job already uses numpy's own threads).",
)
@click.option(
    "--loglevel",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
def worker(
    paths: tuple[Path, ...], trust: tuple[str, ...], concurrency: int, loglevel: str
) -> None:
    """Score batch jobs taken from the Celery broker (MODELSERVE_CELERY_BROKER_URL).

    Serve the same models as the web servers: PATHS, else MODELSERVE_MODELS, else the
    instance folder's models. The database, the broker and the job folder must be the
    web servers' too (see docs/deploying.md)."""
    config: dict[str, Any] = {"TRUSTED_TYPES": list(trust), "BATCHING": False}
    if paths:
        config["MODELS"] = [str(p.resolve()) for p in paths]
    from .app import create_app  # noqa: PLC0415
    from .celery_app import run_worker  # noqa: PLC0415
    from .database import upgrade  # noqa: PLC0415

    migrator = create_app({**config, "LOAD_MODELS": False})
    if not migrator.config["CELERY_BROKER_URL"]:
        raise click.UsageError(
            "MODELSERVE_CELERY_BROKER_URL is not set: a worker takes its jobs from a Celery "
            "broker (e.g. redis://host:6379/1); without one, jobs run inside `modelserve serve`"
        )
    if migrator.config["AUTO_MIGRATE"]:
        upgrade(migrator)
    app = _build(lambda: create_app(config))
    names = list(app.extensions["modelserve.registry"].models)
    if not names:
        raise click.UsageError(
            "no models: give model files or folders, or set MODELSERVE_MODELS, like `serve`"
        )
    os.environ.setdefault("MODELSERVE_INSTANCE_PATH", instance_path())
    click.echo(f"worker for {', '.join(names)} ({concurrency} at once)", err=True)
    run_worker(app, concurrency=concurrency, loglevel=loglevel.upper())


def _build(factory: Callable[[], Flask]) -> Flask:
    try:
        return factory()
    except RuntimeFault as exc:
        raise click.ClickException(str(exc)) from None


@main.group(cls=click.Group)  # model files need no app
def models() -> None:
    """Add, list and check model packages."""


@models.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Model name (default: from the file name).")
@click.option(
    "--preprocess",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A preprocessing file replayed before the model, in order (repeatable).",
)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of training data: sets input ranges and example rows.",
)
@click.option(
    "--trust", multiple=True, metavar="TYPE", help="A skops type you reviewed (repeatable)."
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of model packages (default: INSTANCE/models).",
)
@click.option("--force", is_flag=True, help="Replace an existing package of the same name.")
def models_add(
    file: Path,
    name: str | None,
    preprocess: tuple[Path, ...],
    reference: Path | None,
    trust: tuple[str, ...],
    into: Path | None,
    force: bool,
) -> None:
    """Package FILE: copy it, pin its sha256 and write a manifest inferred from it."""
    try:
        added = catalog.add_model(
            file,
            into or models_dir(),
            name=name,
            preprocess=preprocess,
            reference_csv=reference,
            trusted_types=trust,
            overwrite=force,
        )
    except (RuntimeFault, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _describe(added.manifest)
    click.echo(f"wrote {added.folder / 'model.toml'} (edit it to add units, labels and help text)")


def _describe(manifest: Manifest) -> None:
    click.echo(f"{manifest.name} {manifest.version}: {manifest.task}, input as {manifest.input}")
    for feat in manifest.features:
        extra = (
            f" {feat.choices}"
            if feat.choices
            else (
                f" [{feat.min:g}, {feat.max:g}]"
                if feat.min is not None and feat.max is not None
                else ""
            )
        )
        click.echo(f"  - {feat.name}: {feat.type}{extra}")
    if manifest.classes:
        click.echo(f"  classes: {', '.join(map(str, manifest.classes))}")
    for art in manifest.artifacts:
        click.echo(f"  {art.role}: {art.file} ({art.format}, sha256 {art.sha256})")
    if manifest.replay is not None:
        click.echo(
            f"  replay: {manifest.replay.file} (exact fast path; serves without scikit-learn)"
        )


@models.command("list")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
def models_list(folder: Path | None) -> None:
    """List the model packages in FOLDER (default: INSTANCE/models)."""
    found = catalog.list_packages(folder or models_dir())
    if not found:
        click.echo("no model packages")
    for item in found:
        if isinstance(item, Manifest):
            files = ", ".join(a.file for a in item.artifacts)
            click.echo(
                f"{item.name}\t{item.version}\t{item.task}\t{len(item.features)} inputs\t{files}"
            )
        else:
            click.echo(f"{item[0].name}\tBROKEN\t{item[1]}")


@models.command("compile")
@click.argument("model")
def models_compile(model: str) -> None:
    """Translate MODEL (a package name or folder) to ONNX; keep it only if it is faithful.

    The translation must give the same labels and probabilities within 1e-6 on the model's
    reference rows; it is then written as model.onnx and recorded in model.toml, and `serve`
    uses it (after checking it again) when no exact fast path exists. Otherwise nothing is
    written and the reason is printed.
    """
    try:
        result = catalog.compile_model(model, models_dir())
    except RuntimeFault as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"compiled {result.folder / 'model.onnx'}: {result.verdict.reason} "
        f"on {result.verdict.rows} reference rows"
    )


@models.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--trust", multiple=True, metavar="TYPE")
def models_check(paths: Sequence[Path], trust: tuple[str, ...]) -> None:
    """Load each model and run an example prediction; exit 1 if any fails."""
    sources = list(paths) or discover(models_dir())
    results = catalog.check_sources(sources, trusted_types=trust)
    for result in results:
        click.echo(f"{'ok  ' if result.ok else 'FAIL'} {result.source}: {result.detail}")
        for note in result.notes:
            click.echo(f"     note: {note}")
    if not all(r.ok for r in results):
        sys.exit(1)


@click.group()
def users() -> None:
    """Create and manage user accounts."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def users_create(name: str, admin: bool, password_stdin: bool) -> None:
    """Create user NAME (the password is asked for, or read with --password-stdin)."""
    from .extensions import db  # noqa: PLC0415
    from .services import accounts  # noqa: PLC0415

    password = _read_password(password_stdin)
    try:
        user = accounts.create_user(db.session, name, password, role="admin" if admin else "user")
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.username}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("list")
@with_appcontext
def users_list() -> None:
    """List the users."""
    from .extensions import db  # noqa: PLC0415
    from .services import accounts  # noqa: PLC0415

    for user in accounts.list_users(db.session):
        click.echo(f"{user.username}\t{user.role}\t{'active' if user.active else 'disabled'}")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


@tokens.command("create")
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=["predict"],
    show_default=True,
    type=click.Choice(["predict", "history:read", "admin"]),
)
@click.option("--name", default="cli", show_default=True)
@click.option("--expires", default="", help="Lifetime such as 90d or 12h (default: never).")
@with_appcontext
def tokens_create(username: str, scopes: tuple[str, ...], name: str, expires: str) -> None:
    """Create a token for USERNAME and print it (it is shown only this once)."""
    from .extensions import db  # noqa: PLC0415
    from .services import accounts  # noqa: PLC0415
    from .services import tokens as token_service  # noqa: PLC0415

    user = accounts.find_user(db.session, username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    try:
        lifetime = token_service.parse_duration(expires) if expires else None
        issued = token_service.create_token(
            db.session, user, name=name, scopes=list(scopes), expires_in=lifetime
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued.plaintext)


@tokens.command("list")
@click.argument("username", required=False)
@with_appcontext
def tokens_list(username: str | None) -> None:
    """List tokens (of USERNAME, or all)."""
    from .extensions import db  # noqa: PLC0415
    from .services import accounts  # noqa: PLC0415
    from .services import tokens as token_service  # noqa: PLC0415

    user = accounts.find_user(db.session, username) if username else None
    if username and user is None:
        raise click.ClickException(f"no user named {username!r}")
    for token in token_service.tokens_of(db.session, user):
        click.echo(
            f"{token.id}\t{token.user.username}\t{token.name}\tms_{token.prefix}_…"
            f"\t{token.scopes}\t{token.state()}"
        )


@tokens.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID (see `tokens list`)."""
    from .extensions import db  # noqa: PLC0415
    from .services import tokens as token_service  # noqa: PLC0415
    from .storage.tables import ApiToken  # noqa: PLC0415

    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"no token {token_id}")
    token_service.revoke(db.session, token)
    click.echo(f"revoked token {token_id}")


@click.group()
def history() -> None:
    """Prediction history maintenance."""


@history.command("purge")
@click.option("--older-than", required=True, help="Age such as 90d: older records are deleted.")
@with_appcontext
def history_purge(older_than: str) -> None:
    """Delete history records older than --older-than (retention)."""
    from .extensions import db  # noqa: PLC0415
    from .services import history as history_service  # noqa: PLC0415
    from .services.tokens import parse_duration  # noqa: PLC0415

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    click.echo(f"deleted {history_service.purge(db.session, age)} records older than {older_than}")


def app_commands() -> list[click.Command]:
    """The command groups also registered on the app's CLI (`flask --app modelserve ...`)."""
    return [models, users, tokens, history]


for _group in (users, tokens, history):
    main.add_command(_group)
