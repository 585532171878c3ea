"""Who may use which model: `public`, `signed-in`, or `role:<name>` (e.g. `role:admin`).

The level comes from the manifest's `access`, unless an admin set another in the database.
Admin overrides are cached per process for a few seconds, not read on every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..runtime.manifest import ACCESS_LEVELS
from ..runtime.registry import LoadedModel
from ..storage.tables import ModelAccess
from .predictions import Caller
from .tokens import TokenError

log = logging.getLogger("modelserve.access")
LEVELS = ACCESS_LEVELS


class AccessDeniedError(Exception):
    """`sign_in` is true when signing in (or a token) could grant access."""

    def __init__(self, model: str, level: str, *, sign_in: bool) -> None:
        super().__init__(f"model {model!r} is {level}")
        self.model, self.level, self.sign_in = model, level, sign_in


def allows(level: str, caller: Caller) -> bool:
    if level == "public":
        return True
    if caller.user_id is None:
        return False
    if level == "signed-in":
        return True
    return level.startswith("role:") and (caller.role == level[5:] or caller.role == "admin")


class AccessGate:
    """Checks each prediction's caller against the model's effective access level."""

    def __init__(self, session: Callable[[], Session], ttl: float = 5.0) -> None:
        self._session = session
        self._ttl = ttl
        self._overrides: dict[str, str] = {}
        self._loaded_at = -1e9
        self._lock = threading.Lock()
        self._ever_loaded = False

    def level(self, model: LoadedModel) -> str:
        return self.overrides().get(model.name, model.manifest.access)

    def cached_level(self, model: LoadedModel) -> str | None:
        """The level without reading the database: None when the overrides are due a reload."""
        with self._lock:
            if self._due():
                return None
            return self._overrides.get(model.name, model.manifest.access)

    def overrides(self) -> dict[str, str]:
        with self._lock:
            if self._due():
                self._reload()
            return self._overrides

    def _due(self) -> bool:
        """The overrides are older than the TTL (and must be read again)."""
        return time.monotonic() - self._loaded_at > self._ttl

    def _reload(self) -> None:
        try:
            rows = self._session().execute(select(ModelAccess.model, ModelAccess.access))
            self._overrides = {m: a for m, a in rows}
            self._ever_loaded = True
        except SQLAlchemyError:
            # Keep serving with the levels last read; with none read yet, fail closed.
            self._session().rollback()
            if not self._ever_loaded:
                raise
            log.warning("model access levels could not be re-read; keeping the last ones")
        self._loaded_at = time.monotonic()

    def forget(self) -> None:
        with self._lock:
            self._loaded_at = -1e9

    def check(self, model: LoadedModel, caller: Caller) -> None:
        level = self.level(model)
        if not allows(level, caller):
            raise AccessDeniedError(model.name, level, sign_in=caller.user_id is None)
        if caller.scopes is not None and "predict" not in caller.scopes:
            raise TokenError("insufficient_scope", "the token lacks the 'predict' scope")

    def visible(self, models: Iterable[LoadedModel], caller: Caller) -> list[LoadedModel]:
        """The models this caller may use (listings show no others)."""
        return [m for m in models if allows(self.level(m), caller)]


def set_level(session: Session, model: str, level: str | None) -> None:
    """An admin's override; None goes back to the manifest's level."""
    if level is not None and level not in LEVELS:
        raise ValueError(f"access must be one of {', '.join(LEVELS)}")
    row = session.get(ModelAccess, model)
    if level is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(ModelAccess(model=model, access=level))
    else:
        row.access = level
    session.commit()
