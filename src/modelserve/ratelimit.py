"""Flask-Limiter's request hooks, run only on the blueprints where a limit can apply.

Flask-Limiter adds three app-wide hooks: a before-request check (~200 µs of every request: it
resolves default, application, blueprint and meta limits for the endpoint), an after-request
hook that adds the `X-RateLimit-*` headers, and a teardown that resets its per-request state.
Here only views decorated with `limiter.limit` are limited (sign-in), and a decorated view
checks its own limits when it runs. So, unless app-wide limits exist (default, application,
meta or blueprint limits, e.g. `MODELSERVE_RATELIMIT_DEFAULT`), the three hooks are moved onto
the blueprints that have limited views, and every other request skips them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name

HookLists = dict[str | None, list[Callable[..., Any]]]


def scope_limiter_hooks(app: Flask, limiter: Limiter) -> None:
    """Move `limiter`'s app-wide hooks onto the blueprints of its limited views, if safe."""
    with app.app_context():
        blueprints = limited_blueprints(app, limiter)
    if blueprints is None:
        return
    hook_lists: list[HookLists] = [
        app.before_request_funcs,  # type: ignore[list-item]
        app.after_request_funcs,  # type: ignore[list-item]
        app.teardown_request_funcs,  # type: ignore[list-item]
    ]
    for hooks in hook_lists:
        mine = [f for f in hooks.get(None, []) if _owned_by(f, limiter)]
        hooks[None] = [f for f in hooks.get(None, []) if not _owned_by(f, limiter)]
        for name in sorted(blueprints):
            hooks.setdefault(name, []).extend(mine)


def limited_blueprints(app: Flask, limiter: Limiter) -> set[str] | None:
    """The blueprints with limited views; None when a limit may apply anywhere."""
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits or app.config.get("RATELIMIT_META"):
        return None
    if any(manager.blueprint_limits(app, name) for name in app.blueprints):
        return None
    found = set()
    for endpoint, view in app.view_functions.items():
        if manager.decorated_limits(get_qualified_name(view)):
            blueprint, _, _ = endpoint.rpartition(".")
            if not blueprint:
                return None  # a limited view outside any blueprint: keep the hooks app-wide
            found.add(blueprint)
    return found


def _owned_by(hook: Callable[..., Any], limiter: Limiter) -> bool:
    if isinstance(hook, partial):
        return any(arg is limiter for arg in hook.args)
    return getattr(hook, "__self__", None) is limiter
