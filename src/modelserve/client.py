"""A small typed client of modelserve's JSON API (standard library only).

    from modelserve.client import Client
    client = Client("http://127.0.0.1:5000", token="...")
    [answer] = client.predict("exam", {"estudio": 6, "sueno": 8})
    answer.label, answer.probabilities

Every error answer raises `ApiError`, carrying the problem details (status, title, detail,
each invalid field); a server that cannot be reached raises `TransportError`.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class ModelInfo:
    """A served model, as listed by `Client.models()`."""

    name: str
    version: str
    title: str
    task: str


@dataclass(frozen=True)
class Prediction:
    """One row's answer: a label and class probabilities, or a regressor's value."""

    label: Any = None
    probabilities: dict[str, float] | None = None
    value: float | None = None


@dataclass(frozen=True)
class FieldProblem:
    """One invalid value: which row and field, the rule's code and a readable message."""

    row: int | None
    field: str | None
    code: str
    message: str


class ClientError(Exception):
    """Anything that kept a call from getting an answer."""


class TransportError(ClientError):
    """The server could not be reached (refused, timed out, not HTTP)."""


@dataclass
class ApiError(ClientError):
    """An error answer, with its RFC 9457 problem details."""

    status: int
    title: str
    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    request_id: str | None = None
    body: Any = None

    def __str__(self) -> str:
        problems = "; ".join(f"row {e.row}, {e.field}: {e.message}" for e in self.errors)
        return f"{self.status} {self.title}: {self.detail}" + (f" ({problems})" if problems else "")


class Client:
    """Calls one modelserve server; `token` (if any) goes as `Authorization: Bearer`."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: the server's address must start with http:// or https://")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def models(self) -> list[ModelInfo]:
        """The models the server serves."""
        body = self._call("GET", "/api/v1/models")
        return [ModelInfo(m["name"], m["version"], m["title"], m["task"]) for m in body["models"]]

    def describe(self, model: str) -> dict[str, Any]:
        """A model's features, classes, input JSON Schema, example row and `max_rows`."""
        described: dict[str, Any] = self._call("GET", f"/api/v1/models/{quote(model, safe='')}")
        return described

    def predict(
        self, model: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> list[Prediction]:
        """Predict one row (a mapping) or several (a sequence of mappings), in one request."""
        body = dict(rows) if isinstance(rows, Mapping) else {"instances": list(rows)}
        answer = self._call("POST", f"/api/v1/models/{quote(model, safe='')}/predict", body)
        return [
            Prediction(p.get("label"), p.get("probabilities"), p.get("value"))
            for p in answer["predictions"]
        ]

    def batch(
        self, model: str, rows: Iterable[Mapping[str, Any]], *, chunk_size: int | None = None
    ) -> list[Prediction]:
        """Predict any number of rows, in requests of `chunk_size` (default: the server's cap)."""
        size = chunk_size or int(self.describe(model)["max_rows"]) or 1000
        answers: list[Prediction] = []
        iterator = iter(rows)
        while chunk := list(itertools.islice(iterator, size)):
            answers.extend(self.predict(model, chunk))
        return answers

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The scheme is http(s), checked in __init__: no file:// or custom schemes.
        request = urllib.request.Request(self.url + path, data, headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                raise _api_error(error.code, error.read()) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TransportError(f"{method} {self.url}{path}: {error}") from error


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        return ApiError(status, "Error", raw.decode("utf-8", "replace")[:500], body=raw)
    if not isinstance(body, dict):
        return ApiError(status, "Error", str(body)[:500], body=body)
    problems = [
        FieldProblem(e.get("row"), e.get("field"), e.get("code", ""), e.get("message", ""))
        for e in body.get("errors", [])
        if isinstance(e, dict)
    ]
    return ApiError(
        status,
        str(body.get("title", "Error")),
        str(body.get("detail", "")),
        problems,
        body.get("request_id"),
        body,
    )
