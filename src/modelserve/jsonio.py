"""JSON in and out through orjson: Flask's JSON provider and the fast read of request bodies.

orjson is ~10x faster than the standard library here, but it is stricter: it rejects NaN and
Infinity literals, a byte-order mark and integers beyond 64 bits. A body it refuses is
parsed again by the standard library path (`api.parsing`), which keeps every error message
and lets validation name the field that holds NaN, 1e999 or a huge integer.

A `services.answers.Preformatted` value (a batch's answers, already JSON text) is spliced
into the body as it is (`orjson.Fragment`); only the indented and standard-library
renderings, which cannot splice text, parse it back.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

from .services.answers import Preformatted

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
# Flask renders dates as HTTP dates and dataclasses its own way: leave those to Flask's default.
PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _parsed(o: Any) -> Any:
    """Flask's conversions (dates, dataclasses...), and preformatted JSON parsed back."""
    if isinstance(o, Preformatted):
        return o.value()
    return DefaultJSONProvider.default(o)


def _spliced(o: Any) -> Any:
    """Flask's conversions, and preformatted JSON written as it is."""
    if isinstance(o, Preformatted):
        return orjson.Fragment(o.text)
    return DefaultJSONProvider.default(o)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider on orjson; key order is kept (probabilities in class order)."""

    sort_keys = False
    default = staticmethod(_parsed)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self.dumps_bytes(obj, indent="indent" in kwargs).decode()

    def dumps_bytes(self, obj: Any, *, indent: bool = False, newline: bool = False) -> bytes:
        option = OPTIONS | PASSTHROUGH | (orjson.OPT_INDENT_2 if indent else 0)
        # Appended by orjson, not by a copy of a body that can be a megabyte.
        option |= orjson.OPT_APPEND_NEWLINE if newline else 0
        try:
            # orjson writes a Fragment's text as it is, so it cannot indent it.
            return orjson.dumps(obj, default=self.default if indent else _spliced, option=option)
        except TypeError:  # e.g. an integer beyond 64 bits: the standard library copes
            return super().dumps(obj).encode() + (b"\n" if newline else b"")

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return super().loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self.response_body(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body, mimetype=self.mimetype)

    def response_body(self, obj: Any) -> bytes:
        """The body `response(obj)` carries (the fast lane sends it without a Response)."""
        pretty = self.compact is None and self._app.debug
        return self.dumps_bytes(obj, indent=bool(pretty or self.compact is False), newline=True)


def fast_loads(raw: bytes) -> tuple[bool, Any]:
    """(True, value) when orjson parses `raw`; (False, None) when the careful path must decide."""
    try:
        return True, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False, None


def register_json(app: Flask) -> None:
    app.json = OrjsonProvider(app)
