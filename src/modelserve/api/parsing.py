"""Turn a JSON request body into rows, or an `ApiProblem` that says exactly what is wrong."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Request
from flask_babel import gettext

from ..errors import ApiProblem
from ..jsonio import fast_loads
from ..runtime.errors import FieldError, ValidationError

JSON_TYPES = ("application/json",)


def json_body(request: Request) -> Any:
    """The parsed body: 415 for other content types, 400 for bad UTF-8 or JSON."""
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES and not mimetype.endswith("+json"):
        raise ApiProblem(
            415,
            gettext(
                "Send the body as application/json (got “%(type)s”).", type=mimetype or "nothing"
            ),
        )
    raw = request.get_data(cache=False)
    parsed, body = fast_loads(raw)
    if parsed:
        return body
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiProblem(
            400, gettext("The body is not valid UTF-8 (byte %(position)d).", position=exc.start)
        ) from None
    try:
        # NaN and Infinity are not JSON, but clients send them: let validation name the field.
        return json.loads(text, parse_constant=lambda name: math.nan)
    except json.JSONDecodeError as exc:
        raise ApiProblem(
            400,
            gettext(
                "The body is not valid JSON: %(reason)s at line %(line)d, column %(column)d.",
                reason=exc.msg,
                line=exc.lineno,
                column=exc.colno,
            ),
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
        raise ApiProblem(
            400, gettext("The body is not valid JSON: %(reason)s.", reason=str(exc).split(";")[0])
        ) from None
    except RecursionError:
        raise ApiProblem(400, gettext("The body nests too deeply.")) from None


def rows_of(body: Any) -> list[Any]:
    """One object is one row; {"instances": [...]} is many."""
    if not isinstance(body, dict):
        raise ValidationError([FieldError(None, None, "body_not_object")])
    if "instances" in body and len(body) == 1:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise ValidationError([FieldError(None, "instances", "instances_not_list")])
        return rows
    return [body]
