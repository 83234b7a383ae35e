"""mailer.lint.translations: what a language would read in the default language."""

from __future__ import annotations

import io
from gettext import NullTranslations
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.support import Translations

from mailer.content.catalogs import Catalogs
from mailer.lint.translations import LAYOUT_EXTRACTION_OPTIONS, untranslated, untranslated_campaign
from tests.conftest import LOCALES_DIR, ROOT

SHIPPED_LANGUAGES = ("da", "de", "en", "fr", "sv")


def layout_sources() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in sorted((ROOT / "layouts").rglob("*.mjml"))}


def translations(language: str, *messages: tuple[Any, ...]) -> Translations:
    """A compiled catalog of ``messages``: (id, translation) or (id, translation, context)."""
    catalog = Catalog(locale=language)
    for message_id, string, *context in messages:
        catalog.add(message_id, string, context=context[0] if context else None)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


SALE = """<mjml>
  <mj-body>
    <mj-text>{{ _("Shop now") }}</mj-text>
    <mj-text>{% trans count=n %}One item{% pluralize %}{{ count }} items{% endtrans %}</mj-text>
    <mj-text>{{ pgettext("button", "Open") }}</mj-text>
    <mj-text>{{ _("Shop now") }}</mj-text>
  </mj-body>
</mjml>"""


def test_the_options_are_babel_cfg_s_for_layouts() -> None:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fileobj:
        methods, options = parse_mapping_cfg(fileobj)
    layout_patterns = [pattern for pattern, method in methods if method == "mailer.content.catalogs:extract_layout"]
    assert layout_patterns and all(options[p] == LAYOUT_EXTRACTION_OPTIONS for p in layout_patterns)


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_shipped_layouts_are_translated_into_every_shipped_language(language: str) -> None:
    assert untranslated(layout_sources(), Catalogs(LOCALES_DIR).translations(language), language) == []


def test_a_language_without_catalog_is_one_finding() -> None:
    [finding] = untranslated(layout_sources(), Catalogs(LOCALES_DIR).translations("ja_JP"), "ja_JP")
    assert finding.rule == "untranslated" and finding.severity == "warning"
    assert finding.message.startswith("no catalog for 'ja_JP': ") and finding.message.endswith(" strings will show in English")


def test_without_any_catalog_it_is_also_one_finding() -> None:
    [finding] = untranslated({"layouts/sale.mjml": SALE}, NullTranslations(), "nl")
    assert finding.message == "no catalog for 'nl': 3 strings will show in English"


def test_each_missing_message_is_reported_once_at_its_first_use() -> None:
    german = translations("de", ("Shop now", "Jetzt shoppen"))
    found = untranslated({"layouts/sale.mjml": SALE}, german, "de")
    assert [(f.path, f.line, f.message) for f in found] == [
        ("layouts/sale.mjml", 4, "'One item' has no 'de' translation: it will show in English"),
        ("layouts/sale.mjml", 5, "'Open' has no 'de' translation: it will show in English"),
    ]  # fmt: skip


def test_plural_and_context_messages_are_looked_up_as_such() -> None:
    german = translations("de", ("Shop now", "Jetzt shoppen"),
                          (("One item", "%(count)s items"), ("Ein Artikel", "%(count)s Artikel")),
                          ("Open", "Öffnen", "button"))
    assert untranslated({"layouts/sale.mjml": SALE}, german, "de") == []


def test_a_message_used_in_several_places_says_so() -> None:
    sources = {"layouts/a.mjml": '{{ _("Shop now") }}\n{{ _("Hi") }}', "layouts/b.mjml": '\n\n{{ _("Shop now") }}'}
    found = untranslated(sources, translations("de", ("Hi", "Hallo")), "de")
    assert [(f.path, f.line) for f in found] == [("layouts/a.mjml", 1)]
    assert found[0].message.endswith("(and 1 more place)")


def test_the_default_language_needs_no_translation() -> None:
    assert untranslated({"layouts/sale.mjml": SALE}, NullTranslations(), "en_US") == []
    assert untranslated({"layouts/sale.mjml": SALE}, NullTranslations(), "de", default_language="de") == []


def test_a_layout_the_extractor_cannot_read_is_an_error_and_others_are_still_checked() -> None:
    sources = {"layouts/broken.mjml": "<mj-text>\n{% if %}</mj-text>", "layouts/sale.mjml": '{{ _("Shop now") }}'}
    found = untranslated(sources, translations("de", ("Other", "Andere")), "de")
    assert [(f.rule, f.severity, f.path, f.line) for f in found] == [
        ("layout-syntax", "error", "layouts/broken.mjml", 2), ("untranslated", "warning", "layouts/sale.mjml", 1),
    ]  # fmt: skip


def test_compile_time_tags_are_hidden_from_extraction() -> None:
    source = '[% include "partials/x.mjml" %]\n{% if slots.[[ group ]]|length %}{{ _("Shop now") }}{% endif %}'
    [finding] = untranslated({"layouts/x.mjml": source}, translations("de", ("Hi", "Hallo")), "de")
    assert (finding.line, finding.message.split(" has")[0]) == (2, "'Shop now'")


# -- campaign texts -----------------------------------------------------------------------------

TABLES = {
    "subject": {"en": "New in", "da": "Nyt", "de": "Neu"},
    "preheader": {"en": "Warm layers", "da": "Varme lag"},
    "content.hero_heading": {"en": "Autumn"},
    "content.hero_link": "https://shop.test/autumn",
}


def test_each_campaign_text_lacking_the_language_is_reported() -> None:
    found = untranslated_campaign(TABLES, "de", path="campaign.toml")
    assert [(f.rule, f.path, f.message) for f in found] == [
        ("untranslated", "campaign.toml", "[preheader] has no 'de' text: recipients get the English one ('Warm layers')"),
        ("untranslated", "campaign.toml", "[content.hero_heading] has no 'de' text: recipients get the English one ('Autumn')"),
    ]  # fmt: skip


def test_a_locale_finds_its_language_s_text() -> None:
    assert [f.message.split()[0] for f in untranslated_campaign(TABLES, "da_DK")] == ["[content.hero_heading]"]


def test_the_default_language_and_plain_strings_need_nothing() -> None:
    assert untranslated_campaign(TABLES, "en_GB") == []
    assert untranslated_campaign({"subject": "Hello"}, "ja") == []


def test_without_the_default_language_the_first_text_is_what_recipients_get() -> None:
    [finding] = untranslated_campaign({"subject": {"sv": "Hej"}}, "ja")
    assert finding.message == "[subject] has no 'ja' text: recipients get the Swedish one ('Hej')"


def test_shipped_sample_campaign_tables_are_complete_for_its_languages() -> None:
    import tomllib

    campaign = tomllib.loads((ROOT / "fixtures" / "campaign.toml").read_text(encoding="utf-8"))
    tables = {"subject": campaign["subject"], "preheader": campaign["preheader"],
              **{f"content.{k}": v for k, v in campaign["content"].items()}}  # fmt: skip
    for language in ("da", "sv", "de", "fr"):
        assert untranslated_campaign(tables, language) == [], language
    assert len(untranslated_campaign(tables, "ja")) == 4
