"""What the gunicorn master does once before forking its workers (`server.py`, preload)."""

from __future__ import annotations

from flask import Flask

from modelserve.database import warm_before_fork
from modelserve.extensions import db
from modelserve.services import access
from modelserve.storage.tables import Base


def test_the_master_does_once_what_every_worker_would_repeat(app: Flask) -> None:
    with app.app_context():
        access.set_level(db.session, "exam-legacy", "signed-in")
    gate = app.extensions["modelserve.gate"]
    gate.forget()
    registry = app.extensions["modelserve.registry"]

    warm_before_fork(app)

    assert not Base.registry._new_mappers  # the mappers are configured
    # The access levels are read (a worker uses them until they are due again)...
    assert gate.cached_level(registry.get("exam-legacy")) == "signed-in"
    assert gate.cached_level(registry.get("exam")) == "public"
    # ...and no connection crosses the fork.
    with app.app_context():
        assert db.engine.pool.checkedout() == 0 and db.engine.pool.checkedin() == 0
