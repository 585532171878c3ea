"""`{% cache key %}…{% endcache %}`: template fragments rendered once per key, then reused.

The page chrome (the `<head>` links, the navigation bar, the scripts) costs more than a result
page's own content: about forty template calls of URLs, translations and Bootstrap's asset
helpers, the same for every visitor of a path in a language. The key is a tuple written next
to the fragment in the template and must name everything the fragment reads (language,
`request.script_root`, path...); a key of `none` renders the fragment afresh (e.g. for a
signed-in user, whose navigation bar holds their name and a fresh CSRF token). The cache is
per application, holds rendered (escaped) markup only, and is emptied when full.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable

from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup

MAX_FRAGMENTS = 1024
LOOKUP = "kept_fragment"


class FragmentCache(Extension):
    """The `cache` tag (see the module's docstring)."""

    tags = {"cache"}  # noqa: RUF012 - jinja2's own class attribute

    def __init__(self, environment: object) -> None:
        super().__init__(environment)  # type: ignore[arg-type]
        self.fragments: dict[Hashable, Markup | str] = {}
        self._names = itertools.count()
        # A filter, not a method: the compiled template calls filters directly, while any
        # other call goes through `Context.call`, which costs more than the lookup itself.
        environment.filters[LOOKUP] = self._lookup  # type: ignore[attr-defined]

    def parse(self, parser: Parser) -> list[nodes.Node]:
        # `_fragment_N = key|kept_fragment`, then `{{ _fragment_N }}` if it was kept, else
        # the body rendered by `_fragment(key, caller)`: a kept fragment costs one filter
        # call, not the macro object and the `Context.call` of a `{% call %}` block.
        lineno = next(parser.stream).lineno
        key = parser.parse_expression()
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        name = f"_fragment_{next(self._names)}"  # `_`: never exported from a template
        found = nodes.Name(name, "load")
        return [
            nodes.Assign(
                nodes.Name(name, "store"), nodes.Filter(key, LOOKUP, [], [], None, None)
            ).set_lineno(lineno),
            nodes.If(
                found,
                [nodes.Output([found])],
                [],
                [nodes.CallBlock(self.call_method("_fragment", [key]), [], [], body)],
            ).set_lineno(lineno),
        ]

    def _lookup(self, key: Hashable | None) -> Markup | str | None:
        return None if key is None else self.fragments.get(key)

    def _fragment(self, key: Hashable | None, caller: Callable[[], Markup | str]) -> Markup | str:
        found = caller()
        if key is not None:
            if len(self.fragments) >= MAX_FRAGMENTS:
                self.fragments.clear()
            self.fragments[key] = found
        return found
