"""API authentication: `Authorization: Bearer <token>`; no cookies are read by the API."""

from __future__ import annotations

from flask import g, request

from ..extensions import db
from ..services import tokens


def authenticate_token() -> None:
    """Before each API request: a presented token must be valid (else 401)."""
    header = request.headers.get("Authorization")
    if header is None:
        return
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise tokens.TokenError("invalid_request", "use 'Authorization: Bearer <token>'")
    g.api_token = tokens.verify(db.session, value)


def require_scope(scope: str) -> None:
    token = g.get("api_token")
    if token is None:
        raise tokens.TokenError("", "this endpoint needs an API token")
    if scope not in token.scope_list:
        raise tokens.TokenError("insufficient_scope", f"the token lacks the {scope!r} scope")
