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

from collections.abc import Callable, Hashable

from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup

MAX_FRAGMENTS = 1024


class FragmentCache(Extension):
    """The `cache` tag (see the module's docstring)."""

    tags = {"cache"}  # noqa: RUF012 - jinja2's own class attribute

    def __init__(self, environment: object) -> None:
        super().__init__(environment)  # type: ignore[arg-type]
        self.fragments: dict[Hashable, Markup | str] = {}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        key = parser.parse_expression()
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        call = self.call_method("_fragment", [key])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _fragment(self, key: Hashable | None, caller: Callable[[], Markup | str]) -> Markup | str:
        if key is None:
            return caller()
        found = self.fragments.get(key)
        if found is None:
            found = caller()
            if len(self.fragments) >= MAX_FRAGMENTS:
                self.fragments.clear()
            self.fragments[key] = found
        return found
