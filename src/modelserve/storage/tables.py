"""Database tables. "Model" means an ML model in this codebase: these are tables/records."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..ids import random_hex
from ..runtime.manifest import ROLE_NAMES

ROLES = ROLE_NAMES
SCOPES = ("predict", "history:read", "admin")


def utcnow() -> datetime:
    return datetime.now(UTC)


_sequence = itertools.count()


def new_record_id() -> str:
    """32 hex digits: ms timestamp, a per-process sequence (rows of one request stay in
    order), then 56 random bits (unique across processes)."""
    return f"{time.time_ns() // 1_000_000:012x}{next(_sequence) % 0x1000000:06x}{random_hex(7)}"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - only from raw SQLite text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="user")
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped by a password change: sessions carrying an older version are signed out.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The public part of the token, used to find the row; the secret part is only hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def state(self, now: datetime | None = None) -> str:
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class PredictionRecord(Base):
    """What went in, what came out, who asked, through which door.

    Usually one predicted row. A request of many rows (`HISTORY_BATCH_ROWS` or more, never
    fewer than 2) is one *batch record*: `rows` says how many, `label_counts` how many rows
    got each label, `label_keys` lists those labels for the label filter, and `payload` holds
    every row's inputs and answer (`services.batch_records`); `inputs` is then `{}` and
    `label`, `probabilities` and `value` are empty."""

    __tablename__ = "predictions"
    __table_args__ = (
        Index("ix_predictions_created_at", "created_at"),
        Index("ix_predictions_model_created", "model", "created_at"),
        Index("ix_predictions_user_created", "user_id", "created_at"),
    )

    # Made when the prediction is made, so a replayed write can never duplicate it.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_record_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    model: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    label: Mapped[str | None] = mapped_column(String(200))
    probabilities: Mapped[dict[str, float] | None] = mapped_column(JSON)
    value: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(128))
    job_id: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(default=1, server_default="1")
    label_counts: Mapped[dict[str, int] | None] = mapped_column(JSON)
    # Each distinct label on its own line (escaped): `LIKE '%\n<label>\n%'` finds a batch
    # record by any of its labels on every database, without JSON path functions.
    label_keys: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)

    user: Mapped[User | None] = relationship()

    @property
    def is_batch(self) -> bool:
        """A batch record (its rows are in `payload`); one-row records have `rows` 1."""
        return self.rows > 1


class ModelAccess(Base):
    """An admin's override of a model's access level (else the manifest's `access`)."""

    __tablename__ = "model_access"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    access: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


JOB_STATES = ("uploaded", "queued", "running", "succeeded", "failed", "cancelled")
JOB_ACTIVE = ("queued", "running")
JOB_FINISHED = ("succeeded", "failed", "cancelled")


class Job(Base):
    """A file scored in the background: who asked, how far it got, where its files are.

    The files live in a folder named by the job's random id; the client's file name is
    only a label."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(default=0)
    table_format: Mapped[dict[str, Any]] = mapped_column(JSON)
    strict: Mapped[bool] = mapped_column(default=False)
    executor: Mapped[str] = mapped_column(String(16), default="local")
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_scored: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    files_deleted: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User | None] = relationship()

    @property
    def finished(self) -> bool:
        return self.status in JOB_FINISHED
