"""The Alembic migrations build exactly the tables the code declares, on both databases."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from modelserve import create_app
from modelserve.database import MIGRATIONS, configure_migrations, script_heads, upgrade
from modelserve.extensions import db
from modelserve.storage.tables import Base


def differences_and_heads(app) -> tuple[list, set[str]]:
    """What Alembic finds different between the database and the tables, and its revisions."""
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            found = compare_metadata(context, Base.metadata), set(context.get_current_heads())
        db.engine.dispose()
    return found


def test_a_new_database_is_created_at_head_as_alembic_sees_it(tmp_path, database_url) -> None:
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": database_url, "LOAD_MODELS": False}
    )
    upgrade(app)  # no tables yet: created from the table definitions, stamped at head
    assert differences_and_heads(app) == ([], script_heads(MIGRATIONS / "versions"))


def test_the_migration_scripts_build_the_same_tables(tmp_path, database_url: str) -> None:
    from flask_migrate import upgrade as alembic_upgrade

    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": database_url, "LOAD_MODELS": False}
    )
    configure_migrations(app)
    with app.app_context():
        alembic_upgrade(directory=str(MIGRATIONS))  # every script, one after the other
        db.engine.dispose()
    assert differences_and_heads(app) == ([], script_heads(MIGRATIONS / "versions"))


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


def test_records_kept_before_batch_records_read_as_one_row_each(tmp_path, database_url) -> None:
    from flask_migrate import upgrade as alembic_upgrade
    from sqlalchemy import text

    from modelserve.database import MIGRATIONS, configure_migrations
    from modelserve.storage.tables import PredictionRecord

    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "i"), "DATABASE_URL": database_url, "LOAD_MODELS": False}
    )
    with app.app_context():
        configure_migrations(app)
        alembic_upgrade(directory=str(MIGRATIONS), revision="0002")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO predictions (id, created_at, model, version, inputs, latency_ms,"
                    " source, request_id) VALUES ('old', :now, 'exam', '1', '{}', 1, 'api', 'r')"
                ),
                {"now": "2026-01-01 00:00:00.000000"},
            )
        db.engine.dispose()
    upgrade(app)
    with app.app_context():
        record = db.session.get(PredictionRecord, "old")
        assert (record.rows, record.is_batch, record.label_counts, record.payload) == (
            1,
            False,
            None,
            None,
        )
        db.session.close()
        db.engine.dispose()
