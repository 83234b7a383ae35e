"""The per-recipient environment: sandboxed, escaped, strict, translated,
with a fragment cache that never mixes up recipients."""

from __future__ import annotations

import jinja2
import markupsafe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.sandbox import SecurityError

from mailer.content.render import FRAGMENT_CACHE_LIMIT, make_environment, tidy_text

from tests.conftest import localisers


@pytest.fixture
def html() -> jinja2.Environment:
    return make_environment(True)


def test_values_are_html_escaped(html: jinja2.Environment) -> None:
    assert html.from_string("{{ x }}").render(x='<a href="x">') == "&lt;a href=&#34;x&#34;&gt;"


def test_text_environment_does_not_escape() -> None:
    assert make_environment(False).from_string("{{ x }}").render(x="<b>") == "<b>"


def test_missing_variable_fails_loudly(html: jinja2.Environment) -> None:
    with pytest.raises(jinja2.UndefinedError, match="nickname"):
        html.from_string("{{ recipient.nickname }}").render(recipient={"name": "Zoë"})


@pytest.mark.parametrize(
    "source",
    [
        "{{ x.__class__.__mro__ }}",
        "{{ x.__init__.__globals__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ x.mro() }}",
    ],
)
def test_sandbox_blocks_python_internals(html: jinja2.Environment, source: str) -> None:
    with pytest.raises((SecurityError, jinja2.UndefinedError)):
        html.from_string(source).render(x=object())


def test_dict_keys_read_like_attributes_and_shadow_methods(html: jinja2.Environment) -> None:
    assert html.from_string("{{ d.items }}").render(d={"items": "three"}) == "three"
    with pytest.raises(jinja2.UndefinedError):
        html.from_string("{{ d.nothing }}").render(d={"items": "three"})


def test_gettext_and_plurals_follow_the_recipients_catalog(html: jinja2.Environment) -> None:
    template = html.from_string(
        '{{ _("Unsubscribe") }}|{{ ngettext("%(num)d new item in your size", '
        '"%(num)d new items in your size", n) }}'
    )
    l10n = localisers().get("fr_FR", "EUR", "Europe/Paris")
    one, zero, many = (template.render(l10n=l10n, n=n) for n in (1, 0, 3))
    assert one.split("|")[0] != "Unsubscribe"  # translated
    # French treats 0 like 1: singular
    assert zero.split("|")[1].startswith("0 ") and one.split("|")[1][1:] == zero.split("|")[1][1:]
    assert many.split("|")[1] != one.split("|")[1].replace("1", "3")


def test_money_and_date_filters_use_the_localiser(html: jinja2.Environment) -> None:
    from datetime import date
    from decimal import Decimal

    from mailer.content.money import Money

    l10n = localisers().get("de_DE", "EUR", "Europe/Berlin")
    out = html.from_string("{{ m|money }} {{ d|date }}").render(
        l10n=l10n, m=Money(Decimal("12.50"), "EUR"), d=date(2026, 12, 31)
    )
    assert out == "12,50\xa0€ 31. Dezember 2026"


def test_cached_fragment_renders_once_per_key(html: jinja2.Environment) -> None:
    template = html.from_string("{% cached k %}[{{ v }}]{% endcached %}")
    cache: dict[object, object] = {}
    assert template.render(k=1, v="first", fragment_cache=cache) == "[first]"
    assert template.render(k=1, v="second", fragment_cache=cache) == "[first]"
    assert template.render(k=2, v="second", fragment_cache=cache) == "[second]"
    assert len(cache) == 2


def test_without_a_cache_fragments_always_render(html: jinja2.Environment) -> None:
    template = html.from_string("{% cached k %}[{{ v }}]{% endcached %}")
    assert template.render(k=1, v="a") == "[a]"
    assert template.render(k=1, v="b", fragment_cache=None) == "[b]"


def test_cached_fragments_are_escaped_once(html: jinja2.Environment) -> None:
    """A hit writes the stored fragment as it is: escaped when rendered, not again."""
    template = html.from_string("{% cached k %}<i>{{ v }}</i>{% endcached %}")
    cache: dict[object, object] = {}
    first = template.render(k=1, v="<b>&", fragment_cache=cache)
    assert first == template.render(k=1, v="other", fragment_cache=cache) == "<i>&lt;b&gt;&amp;</i>"


@pytest.mark.parametrize(
    "source",
    [
        "{% set _ = fragment_cache.update({('s', 1): name}) %}{% cached 1, 's' %}{% endcached %}",
        "{% set fragment_cache = {('s', 1): name} %}{% cached 1, 's' %}{% endcached %}",
        "{% set _cached_fragment = name %}{{ _cached_fragment }}",
        "{% set \uff46ragment_cache = {('s', 0): name} %}{% cached 0, 's' %}{% endcached %}",  # fullwidth f
        "{{ \U0001d41fragment_cache.update({('s', 0): name}) }}",  # mathematical bold f
    ],
)
def test_layouts_cannot_reach_the_fragment_cache(html: jinja2.Environment, source: str) -> None:
    """A hit is written without escaping, so nothing but the tag may put text there."""
    with pytest.raises(jinja2.TemplateSyntaxError, match="reserved for the fragment cache"):
        html.from_string(source)


@pytest.mark.parametrize("source", ["{{ d.update({'a': 1}) }}", "{{ d.clear() }}", "{{ items.append(1) }}"])
def test_layouts_cannot_change_data_shared_by_recipients(html: jinja2.Environment, source: str) -> None:
    """Brand, content and offer dicts are the same objects for every recipient of a locale."""
    shared: dict[str, object] = {"b": 1}
    with pytest.raises(SecurityError):
        html.from_string(source).render(d=shared, items=[])
    assert shared == {"b": 1}


def test_the_tags_own_filter_cannot_be_called_by_a_layout(html: jinja2.Environment) -> None:
    with pytest.raises(jinja2.TemplateAssertionError, match="keep_fragment"):
        html.from_string("{{ name|keep_fragment(1, 2) }}")


def test_a_fragment_rendered_without_autoescape_is_not_reused_with_it(html: jinja2.Environment) -> None:
    template = html.from_string(
        "{% autoescape false %}{% cached k, 'card' %}{{ k }}{% endcached %}{% endautoescape %}"
        "|{% cached k, 'card' %}{{ k }}{% endcached %}"
    )
    assert template.render(k="<b>", fragment_cache={}) == "<b>|&lt;b&gt;"


def test_qp_filter_escapes_plain_strings_but_not_markup(html: jinja2.Environment) -> None:
    template = html.from_string("{{ x|qp }}")
    for _ in range(2):  # the second time from the memo
        assert template.render(x="<b>=") == "&lt;b&gt;=3D=\r\n"
        assert template.render(x=markupsafe.Markup("<b>=")) == "<b>=3D=\r\n"


def test_only_the_real_qp_filter_skips_autoescape() -> None:
    """A layout environment whose ``qp`` is something else escapes its output as usual."""
    env = make_environment(True)
    env.filters["qp"] = lambda value: value
    assert env.from_string("{{ x|qp }}").render(x="<b>") == "&lt;b&gt;"
    assert "escape(" not in make_environment(True).compile("{{ x|qp }}", raw=True)


def test_fragment_cache_is_bounded(html: jinja2.Environment) -> None:
    template = html.from_string("{% cached k %}{{ k }}{% endcached %}")
    cache: dict[object, object] = {}
    for k in range(FRAGMENT_CACHE_LIMIT + 50):
        assert template.render(k=k, fragment_cache=cache) == str(k)
    assert len(cache) == FRAGMENT_CACHE_LIMIT


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", "b", " ", "\t", "\n", "\r", "\xa0", "é"]), max_size=80))
def test_tidy_text_drops_trailing_blanks_and_extra_empty_lines(text: str) -> None:
    """Line by line, it does what two regular expressions and a strip would."""
    import re

    expected = re.sub(r"\n(?:[ \t]*\n){2,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip() + "\n"
    assert tidy_text(text) == expected
