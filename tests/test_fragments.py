"""`{% cache key %}` keeps each key's fragment, renders `none` afresh and escapes as before."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

from modelserve.fragments import MAX_FRAGMENTS, FragmentCache


def environment(**templates: str) -> Environment:
    return Environment(loader=DictLoader(templates), extensions=[FragmentCache], autoescape=True)


def test_each_key_keeps_its_own_fragment_and_none_is_never_kept() -> None:
    env = environment(
        page="{% for k in keys %}[{% cache k %}{{ value }}{% endcache %}]{% endfor %}"
    )
    page = env.get_template("page")
    assert page.render(keys=[("a",), ("b",)], value="<1>") == "[&lt;1&gt;][&lt;1&gt;]"
    assert page.render(keys=[("a",), ("c",)], value="2") == "[&lt;1&gt;][2]"  # a: kept
    assert page.render(keys=[None, None], value="3") == "[3][3]"
    assert page.render(keys=[None], value="4") == "[4]"


def test_fragments_work_in_blocks_and_layouts_and_export_nothing() -> None:
    env = environment(
        base=(
            "<t>{% block title %}{% endblock %}</t>"
            "{% cache ('nav', lang) %}<n>{{ lang }}</n>{% endcache %}"
        ),
        page=(
            '{% extends "base" %}{% block title %}{% cache ("title", lang) %}{{ lang }}'
            "{% endcache %}{% endblock %}"
        ),
    )
    page = env.get_template("page")
    for _ in range(2):
        assert page.render(lang="es") == "<t>es</t><n>es</n>"
        assert page.render(lang="en") == "<t>en</t><n>en</n>"
    module = env.get_template("page").make_module({"lang": "es"})
    assert not [name for name in vars(module) if name.startswith("_fragment")]


def test_the_cache_is_emptied_when_full() -> None:
    env = environment(page="{% cache k %}{{ k }}{% endcache %}")
    page = env.get_template("page")
    for k in range(MAX_FRAGMENTS + 1):
        assert page.render(k=k) == str(k)
    kept = env.extensions[FragmentCache.identifier]
    assert isinstance(kept, FragmentCache) and len(kept.fragments) <= MAX_FRAGMENTS
