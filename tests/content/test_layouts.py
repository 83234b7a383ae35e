"""Layouts compile once, keep responsive CSS, inline the rest, and report
errors with the source file and line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mailer.content.catalogs import Catalogs
from mailer.errors import LayoutNotFound, LayoutSyntaxError, SlotError
from mailer.content.layouts import DEFAULT_LAYOUTS_DIR, LayoutLibrary
from mailer.content.render import make_environment, render

from tests.conftest import LOCALES_DIR, layout_context

SHIPPED = ("newsletter", "welcome", "winback")


@pytest.fixture
def library() -> LayoutLibrary:
    return LayoutLibrary(
        environment_factory=make_environment, translations=Catalogs(LOCALES_DIR).translations
    )


@pytest.fixture
def own_layouts(tmp_path: Path) -> Path:
    """A writable copy of the shipped layouts."""
    target = tmp_path / "layouts"
    shutil.copytree(DEFAULT_LAYOUTS_DIR, target)
    return target


def test_ships_the_three_marketing_layouts(library: LayoutLibrary) -> None:
    assert set(SHIPPED) <= set(library.names())
    assert "product_card" not in library.names()  # partials are not layouts


@pytest.mark.parametrize("name", SHIPPED)
def test_layout_compiles_mjml_to_html_without_mjml_tags(library: LayoutLibrary, name: str) -> None:
    layout = library.get(name, "en_GB")
    assert layout.html_source.lower().startswith("<!doctype html>")
    assert "<mj-" not in layout.html_source


def test_mjml_and_inlining_run_once_per_layout_content(library: LayoutLibrary) -> None:
    for locale in ("en_GB", "de_DE", "da_DK", "fr_FR", "sv_SE", "sv_FI"):
        library.get("newsletter", locale)
        library.get("newsletter", locale)
    assert library.compilations == 1


def test_changed_source_recompiles(own_layouts: Path) -> None:
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    first = library.get("welcome")
    footer = own_layouts / "partials" / "footer.mjml"
    footer.write_text(footer.read_text().replace("&nbsp;·&nbsp;", "&nbsp;|&nbsp;"))
    second = library.get("welcome")
    assert first.digest != second.digest
    assert library.compilations == 2


def test_inline_styles_are_inlined_and_media_queries_stay_in_style(library: LayoutLibrary) -> None:
    html = library.get("newsletter").html_source
    head, body = html.split("<body", 1)
    assert "@media only screen and (max-width: 480px)" in head
    # .price-was { text-decoration: line-through } from <mj-style inline="inline">
    assert re.search(r'class="price-was"[^>]*style="[^"]*line-through', body)
    assert ".price-was" not in head  # inlined rules are not repeated in the head


def test_missing_slot_names_layout_file_line_and_variable(library: LayoutLibrary) -> None:
    layout = library.get("newsletter", "en_GB")
    context = layout_context()
    del context["content"]["hero_heading"]
    with pytest.raises(SlotError) as caught:
        render(layout, context)
    err = caught.value
    assert err.name == "hero_heading"
    assert err.path is not None and err.path.endswith("layouts/newsletter.mjml")
    source = Path(err.path).read_text().splitlines()
    assert "content.hero_heading" in source[err.line - 1]
    assert f"newsletter.mjml, line {err.line}" in str(err)


def test_missing_product_field_points_into_the_product_card_partial(library: LayoutLibrary) -> None:
    layout = library.get("newsletter", "en_GB")
    context = layout_context()
    del context["slots"]["picks"][0]["price"]
    with pytest.raises(SlotError) as caught:
        render(layout, context)
    assert caught.value.path.endswith("partials/product_card.mjml")
    assert caught.value.name == "price"


def test_jinja_syntax_error_names_file_and_line(own_layouts: Path) -> None:
    path = own_layouts / "welcome.mjml"
    lines = path.read_text().splitlines()
    lines[12] = lines[12] + " {% if %}"
    path.write_text("\n".join(lines))
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    with pytest.raises(LayoutSyntaxError) as caught:
        library.get("welcome")
    assert caught.value.path.endswith("welcome.mjml")
    assert caught.value.line == 13


def test_compile_time_syntax_error_names_file_and_line(own_layouts: Path) -> None:
    grid = own_layouts / "partials" / "product_grid.mjml"
    grid.write_text(grid.read_text().replace("[% endfor %]\n[%- endmacro %]", "[%- endmacro %]"))
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    with pytest.raises(LayoutSyntaxError) as caught:
        library.get("newsletter")
    assert caught.value.path.endswith("product_grid.mjml")


def test_mjml_error_names_the_layout(own_layouts: Path) -> None:
    (own_layouts / "broken.mjml").write_text("<mjml><mj-body><mj-section></mj-body></mjml>")
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    with pytest.raises(LayoutSyntaxError, match="broken"):
        library.get("broken")


def test_unknown_layout_lists_the_available_ones(library: LayoutLibrary) -> None:
    with pytest.raises(LayoutNotFound, match="newsletter"):
        library.get("nope")
    with pytest.raises(LayoutNotFound):
        library.get("../etc/passwd")


def test_a_cached_fragment_reading_the_recipient_is_refused(own_layouts: Path) -> None:
    card = own_layouts / "partials" / "product_card.mjml"
    card.write_text(card.read_text().replace("{{ product.title }}</a>", "{{ recipient.name }}</a>"))
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    with pytest.raises(LayoutSyntaxError, match="recipient"):
        library.get("newsletter")


@pytest.mark.parametrize(
    ("card_text", "reason"),
    [
        ("{% cached 0 if recipient else 1 %}{{ recipient.name }}{% endcached %}", "key uses"),
        ("{% cached content.hero_link %}{{ self.footer() }}{% endcached %}", "self"),
        ("{% cached content %}{{ content.ends|datetime }}{% endcached %}", "time zone"),
        ("{% cached content %}{{ l10n.timezone }}{% endcached %}", "time zone"),
    ],
)
def test_cached_fragments_that_could_differ_per_recipient_are_refused(
    own_layouts: Path, card_text: str, reason: str
) -> None:
    layout = own_layouts / "newsletter.mjml"
    layout.write_text(layout.read_text().replace("{{ content.hero_text }}", "{{ content.hero_text }} " + card_text))
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    with pytest.raises(LayoutSyntaxError, match=reason):
        library.get("newsletter")


def test_a_cached_fragment_may_format_money_and_translate(library: LayoutLibrary) -> None:
    env = make_environment(True)
    from mailer.content.layouts import check_fragments

    source = "{% cached product.key %}{{ l10n.money(product.price) }} {{ _('Was %(price)s', price=product.was) }}{% endcached %}"
    check_fragments(env, env.parse(source), "t", library.get("newsletter").html_lines)  # type: ignore[arg-type]


def test_literal_translations_are_resolved_when_compiling_for_a_locale(library: LayoutLibrary) -> None:
    german = library.get("newsletter", "de_DE").html_source
    assert 'gettext' not in german and '_("Shop now")' not in german
    assert "Abmelden" in german or "abmelden" in german


def test_text_part_keeps_links_readable(library: LayoutLibrary) -> None:
    layout = library.get("newsletter", "en_GB")
    text = render(layout, layout_context()).text
    assert "Unsubscribe <https://shop.test/u/TOKEN>" in text
    assert "<td" not in text and "{{" not in text and "{%" not in text


def test_campaign_constants_are_folded_into_the_compiled_template(library: LayoutLibrary) -> None:
    context = layout_context()
    constants = {k: context[k] for k in ("brand", "content", "offer")}
    layout = library.get("newsletter", "en_GB", constants=constants, l10n=context["l10n"])
    assert "content.hero_heading" not in layout.html_source
    assert "Shop &amp; Co" in layout.html_source  # folded, and escaped for HTML
    assert "Shop & Co" in layout.text_source
    assert "recipient.first_name" in layout.html_source  # per recipient: stays dynamic
    assert render(layout, context).html == render(library.get("newsletter", "en_GB"), context).html


def test_a_name_the_template_binds_is_never_folded(own_layouts: Path) -> None:
    welcome = own_layouts / "welcome.mjml"
    welcome.write_text(
        welcome.read_text().replace(
            '<mj-text font-weight="bold">{{ _("Free returns") }}</mj-text>',
            '<mj-text font-weight="bold">{% for brand in [{"shop": "Loop"}] %}{{ brand.shop }}{% endfor %}</mj-text>',
        )
    )
    library = LayoutLibrary(own_layouts, environment_factory=make_environment)
    context = layout_context()
    constants = {k: context[k] for k in ("brand", "content", "offer")}
    layout = library.get("welcome", constants=constants, l10n=context["l10n"])
    assert "Loop" in render(layout, context).html


def test_a_product_card_renders_once_whatever_cell_it_lands_in(library: LayoutLibrary) -> None:
    context = layout_context()
    same = context["slots"]["picks"][0]
    context["slots"]["picks"] = [same] * 6
    text_context = dict(context, fragment_cache={})
    html = render(library.get("newsletter", "en_GB"), context, text_context=text_context).html
    assert html.count("Wool scarf 0") >= 6
    assert len(context["fragment_cache"]) == 1
    assert len(text_context["fragment_cache"]) == 1


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("fold", [False, True])
def test_encoded_html_decodes_to_exactly_the_html(library: LayoutLibrary, name: str, fold: bool) -> None:
    context = layout_context("da_DK", "DKK")
    context["recipient"]["first_name"] = "Zoë <b> = x \t\nFrom here. " + "ø" * 100
    context["slots"]["picks"][1]["title"] = "=" * 90 + " é " * 40
    constants = {k: context[k] for k in ("brand", "content", "offer")} if fold else None
    layout = library.get(name, "da_DK", constants=constants, l10n=context["l10n"])
    plain = render(layout, dict(context, fragment_cache={}), text_context=dict(context, fragment_cache={}))
    encoded = render(
        layout, dict(context, fragment_cache={}), text_context=dict(context, fragment_cache={}), encode_html=True
    )
    assert encoded.html_encoded is not None
    lines = encoded.html_encoded.split(b"\r\n")
    assert max(map(len, lines)) <= 76
    assert not any(line.startswith(b"From ") for line in lines)
    assert encoded.html == plain.html
