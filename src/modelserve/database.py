"""Database set-up: SQLite pragmas, the history writer, migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event

from .extensions import db, migrate
from .storage.history import HistoryWriter

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
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)

    def engine() -> Engine:
        with app.app_context():
            return db.engine

    writer = HistoryWriter(
        engine,
        mode=str(app.config["HISTORY"]),
        spool_dir=Path(app.instance_path) / "spool",
        flush_interval=float(app.config["HISTORY_FLUSH_INTERVAL"]),
    )
    writer.recover_orphans()
    app.extensions["modelserve.history"] = writer


def upgrade(app: Flask) -> None:
    """Bring the database schema up to date (Alembic migrations), then let go of connections."""
    from flask_migrate import upgrade as alembic_upgrade  # noqa: PLC0415

    with app.app_context():
        alembic_upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()
