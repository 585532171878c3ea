"""The headers every response gets: the request id and the security headers."""

from __future__ import annotations

from werkzeug.datastructures import Headers

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = [
    (key, key.lower(), value)
    for key, value in (
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
    )
]

HTML_HEADERS = [*SECURITY_HEADERS, ("Cache-Control", "cache-control", "no-store")]

SECURITY_PAIRS = [(key, value) for key, _, value in SECURITY_HEADERS]


def common_headers(request_id: str) -> list[tuple[str, str]]:
    """What `add_common_headers` adds to a response that sets none of these itself."""
    return [("X-Request-ID", request_id), *SECURITY_PAIRS]


def add_common_headers(headers: Headers, request_id: str, html: bool = False) -> None:
    """X-Request-ID, then each security header the response does not set itself.

    An HTML page (`html`) also gets `Cache-Control: no-store` unless it sets its own, and
    `Vary: Cookie, Accept-Language`.
    """
    present = {key.lower() for key, _ in headers}  # one pass, not one scan per header
    if "x-request-id" in present:
        headers["X-Request-ID"] = request_id
    else:
        headers.add("X-Request-ID", request_id)
    for key, lowered, value in HTML_HEADERS if html else SECURITY_HEADERS:
        if lowered not in present:
            headers.add(key, value)
    if html:
        headers.add("Vary", "Cookie, Accept-Language")
