"""Start-up does only what it needs: no Alembic when the database is at head, no unused
scikit-learn packages, no password hash at import."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from modelserve import create_app
from modelserve.database import MIGRATIONS, script_heads, upgrade

PROBE = """
import json, sys
from modelserve.cli import main
from modelserve.app import create_app
from modelserve.database import upgrade
loaded = lambda: sorted(m for m in {names} if m in sys.modules)
before = loaded()
upgrade(create_app({{"INSTANCE_PATH": sys.argv[1], "LOAD_MODELS": False}}))
print(json.dumps({{"import": before, "upgrade": loaded()}}))
"""
HEAVY = ["alembic", "flask_migrate", "sklearn.impute", "sklearn.compose", "mako"]


def probe(instance: Path) -> dict[str, list[str]]:
    code = PROBE.format(names=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code, str(instance)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_a_new_database_and_a_restart_at_head_import_no_migration_machinery(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "instance"
    first = probe(instance)  # a new database: the head schema at once, no Alembic
    assert first == {"import": [], "upgrade": []}
    with sqlite3.connect(instance / "modelserve.db") as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {v for (v,) in versions} == script_heads(MIGRATIONS / "versions")
    again = probe(instance)  # at head: one query, no Alembic
    assert again == {"import": [], "upgrade": []}


def test_a_database_with_tables_but_no_version_goes_through_alembic(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    with sqlite3.connect(instance / "modelserve.db") as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")  # someone else's table
    first = probe(instance)
    assert first["import"] == [] and "alembic" in first["upgrade"]
    with sqlite3.connect(instance / "modelserve.db") as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert {"notes", "predictions", "alembic_version"} <= tables


def test_the_heads_read_without_alembic_are_alembics_heads(tmp_path: Path) -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    assert script_heads(MIGRATIONS / "versions") == set(
        ScriptDirectory.from_config(config).get_heads()
    )


def test_heads_of_branches_and_merges(tmp_path: Path) -> None:
    scripts = {
        "a.py": 'revision = "a"\ndown_revision = None\n',
        "b.py": 'revision: str = "b"\ndown_revision: str | None = "a"\n',
        "c.py": 'revision = "c"\ndown_revision = "a"\n',
        "d.py": 'revision = "d"\ndown_revision = ("b", "c")\n',
        "e.py": 'revision = "e"\ndown_revision = "d"\n',
        "f.py": 'revision = "f"\ndown_revision = "d"\n',
    }
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    assert script_heads(tmp_path) == {"e", "f"}


def test_scripts_it_cannot_read_leave_the_decision_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision = make_id()\ndown_revision = "a"\n')
    assert script_heads(tmp_path) is None
    (tmp_path / "b.py").write_text('"""No revision at all."""\n')
    assert script_heads(tmp_path) is None
    (tmp_path / "b.py").write_text("revision = (\n")
    assert script_heads(tmp_path) is None


def test_a_database_at_head_is_left_alone(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "LOAD_MODELS": False})
    upgrade(app)
    with sqlite3.connect(tmp_path / "i" / "modelserve.db") as connection:
        connection.execute("DROP TABLE model_access")
    upgrade(app)  # at head by its version table: no migration runs, so nothing is re-created
    with sqlite3.connect(tmp_path / "i" / "modelserve.db") as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert "model_access" not in tables and "alembic_version" in tables
