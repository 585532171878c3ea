"""Account, token and access tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from flask import Flask


@pytest.fixture
def app(make_app, database_url: str) -> Flask:
    return make_app(DATABASE_URL=database_url)
