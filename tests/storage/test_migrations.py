"""The Alembic migrations build exactly the tables the code declares, on both databases."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from modelserve import create_app
from modelserve.database import upgrade
from modelserve.extensions import db
from modelserve.storage.tables import Base


def test_upgrade_matches_the_tables(tmp_path, database_url: str) -> None:
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": database_url, "LOAD_MODELS": False}
    )
    upgrade(app)
    with app.app_context():
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        db.engine.dispose()
    assert differences == []


def test_flask_db_upgrade_works_as_flask_users_expect(tmp_path, monkeypatch) -> None:
    from flask.cli import FlaskGroup

    monkeypatch.setenv("MODELSERVE_INSTANCE_PATH", str(tmp_path / "i"))
    cli = FlaskGroup(create_app=lambda: create_app({"LOAD_MODELS": False}))
    result = CliRunner().invoke(cli, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "i" / "modelserve.db").is_file()
    with sqlite3.connect(tmp_path / "i" / "modelserve.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0003",)
        ]


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "LOAD_MODELS": False})
    with app.app_context(), db.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA busy_timeout").scalar() == 10000
        db.engine.dispose()
