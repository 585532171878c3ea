"""`url_for` with its answers kept: a page builds the same few URLs on every request.

A result page asks for about sixteen URLs (static files, Bootstrap's files, the navigation
links) and each `url_for` costs ~20 µs of routing-map work. Within a request the URL of an
endpoint depends only on the endpoint, its values and the request's `SCRIPT_NAME` when the
app matches neither hosts nor subdomains: then `MapAdapter.build` returns
`SCRIPT_NAME + path + query` whatever the host. So those answers are kept per
(`SCRIPT_NAME`, endpoint, values), for string values only, and every other call (outside a
request, relative endpoints, `_external`/`_anchor`/`_method`/`_scheme`, non-string values,
URL-default functions) goes to Flask's own `url_for` unchanged.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.globals import _cv_request

# Values such as `next=request.full_path` vary per request: the cache is emptied when full.
MAX_ENTRIES = 2048
BUILD_OPTIONS = frozenset({"_anchor", "_method", "_scheme", "_external"})


class CachedUrlFor:
    """A drop-in `app.url_for` that remembers the URLs it may remember (see the module)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.build = app.url_for  # Flask's own, bound before it is replaced
        self.cache: dict[tuple[Any, ...], str] = {}

    def __call__(self, endpoint: str, **values: Any) -> str:
        request_ctx = _cv_request.get(None)
        if request_ctx is None or endpoint[:1] == "." or self.app.url_default_functions:
            return self.build(endpoint, **values)
        # `flask.url_for` passes its options explicitly; None is their default.
        given = {k: v for k, v in values.items() if not (v is None and k in BUILD_OPTIONS)}
        if not all(type(v) is str and k[:1] != "_" for k, v in given.items()):
            return self.build(endpoint, **values)
        script_name = request_ctx.request.environ.get("SCRIPT_NAME", "")
        key = (script_name, endpoint, *sorted(given.items()))
        url = self.cache.get(key)
        if url is None:
            url = self.build(endpoint, **values)
            if len(self.cache) >= MAX_ENTRIES:
                self.cache.clear()
            self.cache[key] = url
        return url


def cache_urls(app: Flask) -> None:
    """Route `url_for` (Python's `flask.url_for` and the templates') through one cache."""
    if app.url_map.host_matching or app.subdomain_matching:
        return  # a URL may then depend on the request's host
    cached = CachedUrlFor(app)
    app.url_for = cached  # type: ignore[method-assign]  # flask.url_for calls current_app's
    app.jinja_env.globals["url_for"] = cached
