"""Database set-up: SQLite pragmas, the history writer, migrations.

Alembic and Flask-Migrate (~0.3 s of imports) are loaded only when a migration runs: the
`db` commands resolve them when used, and `upgrade` first checks, with one query, whether the
database is already at the scripts' head revisions (the usual restart); a new database gets
the head schema straight from the table definitions (`create_at_head`).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from .extensions import db
from .storage.history import HistoryWriter
from .storage.tables import Base

MIGRATIONS = Path(__file__).parent / "migrations"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, a busy timeout instead of 'database is locked', FKs on."""
    if type(connection).__module__.startswith("sqlite3"):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def register_database(app: Flask) -> None:
    db.init_app(app)
    app.cli.add_command(migration_commands)

    def engine() -> Engine:
        with app.app_context():
            return db.engine

    writer = HistoryWriter(
        engine,
        mode=str(app.config["HISTORY"]),
        spool_dir=Path(app.instance_path) / "spool",
        flush_interval=float(app.config["HISTORY_FLUSH_INTERVAL"]),
        batch_rows=int(app.config["HISTORY_BATCH_ROWS"]),
    )
    writer.recover_orphans()
    app.extensions["modelserve.history"] = writer


def configure_migrations(app: Flask) -> None:
    """Bind Flask-Migrate to `app` (imports Alembic); done once, when a migration is needed."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate  # noqa: PLC0415

        Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)


class LazyMigrationGroup(click.Group):
    """Flask-Migrate's `db` group, with its subcommands imported only when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from flask_migrate.cli import db as commands  # noqa: PLC0415

        return commands.list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from flask_migrate.cli import db as commands  # noqa: PLC0415

        return commands.get_command(ctx, cmd_name)


@click.group("db", cls=LazyMigrationGroup)
@click.option("-d", "--directory", default=None, help="Migration script directory.")
@click.option("-x", "--x-arg", multiple=True, help="Arguments consumed by custom env.py scripts.")
@with_appcontext
def migration_commands(directory: str | None, x_arg: tuple[str, ...]) -> None:
    """Perform database migrations."""
    configure_migrations(current_app)
    g.directory = directory  # read by Flask-Migrate's commands, as its own `db` group does
    g.x_arg = x_arg


def upgrade(app: Flask) -> None:
    """Bring the database schema up to date, then let go of connections.

    A database with no tables at all gets the head schema at once, from the table definitions,
    stamped with the scripts' heads (as Rails loads `schema.rb` instead of replaying every
    migration): ~0.4 s less on a first start, and no Alembic. Any other database out of date
    goes through the Alembic migrations. Tests hold both to the same tables.
    """
    with app.app_context():
        try:
            if not at_head(db.engine) and not create_at_head(db.engine):
                configure_migrations(app)
                from flask_migrate import upgrade as alembic_upgrade  # noqa: PLC0415

                alembic_upgrade(directory=str(MIGRATIONS))
        finally:
            db.engine.dispose()


def warm_before_fork(app: Flask) -> None:
    """Do once, in the process that forks the workers, what each worker would otherwise do
    on its first request: configure SQLAlchemy's mappers (~100 ms of CPU, while requests
    queue behind it, after every restart of a worker) and read the model access levels.
    No connection is kept: each worker opens its own."""
    configure_mappers()
    with app.app_context():
        try:
            app.extensions["modelserve.gate"].overrides()
        except SQLAlchemyError:  # the workers read the levels themselves (and fail closed)
            pass
        finally:
            db.engine.dispose()


def at_head(engine: Engine) -> bool:
    """Whether the database's Alembic revisions are exactly the scripts' heads (no Alembic)."""
    heads = script_heads(MIGRATIONS / "versions")
    if heads is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        return {row[0] for row in rows} == heads


def create_at_head(engine: Engine) -> bool:
    """On a database without any table: create every table and stamp the scripts' heads, in
    one transaction. False (nothing done) when the database has tables, or the heads cannot be
    read without Alembic."""
    heads = script_heads(MIGRATIONS / "versions")
    if heads is None:
        return False
    with engine.begin() as connection:
        if inspect(connection).get_table_names():
            return False
        Base.metadata.create_all(connection)
        # Alembic's own version table: version_num VARCHAR(32), primary key alembic_version_pkc.
        stamp = Table(
            "alembic_version",
            MetaData(),
            Column("version_num", String(32), nullable=False),
            PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
        )
        stamp.create(connection)
        connection.execute(stamp.insert(), [{"version_num": head} for head in sorted(heads)])
    return True


def script_heads(folder: Path) -> set[str] | None:
    """The head revisions of the migration scripts, or None when a script is not plain enough
    to read without Alembic (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        values = _literal_assignments(path)
        revision, downs = values.get("revision"), _revision_list(values.get("down_revision", ...))
        if not isinstance(revision, str) or downs is None:
            return None
        revisions.add(revision)
        parents.update(downs)
    return (revisions - parents) or None


def _revision_list(value: Any) -> list[str] | None:
    """`down_revision` as a list: None, one revision or a tuple of them (a merge)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _literal_assignments(path: Path) -> dict[str, Any]:
    """Module-level `name = <literal>` (or `name: T = <literal>`) assignments of a script."""
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError):
        return values  # no revision: Alembic decides, and reports the script
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                values[target.id] = ...  # not a literal: unknown
    return values
