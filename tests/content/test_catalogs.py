from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from mailer.content.catalogs import Catalogs, check, extract, fallback_chain, update
from mailer.cli import main
from mailer.errors import LayoutSyntaxError, LocaleError

ROOT = Path(__file__).parent.parent.parent
SHIPPED = ("da", "de", "en", "fr", "sv")
TRANSLATED = ("da", "de", "fr", "sv")

# The messages layouts and campaign templates rely on (locales/vocabulary.jinja).
VOCABULARY = [
    "View in your browser", "Unsubscribe", "Manage your email preferences",
    "You are receiving this email because you subscribed at %(shop)s.", "Shop now",
    "See all new arrivals", "Hi %(name)s,", "Welcome to %(shop)s", "Your discount code",
    "Valid until %(date)s", "We miss you", "Now %(price)s", "Was %(price)s",
    ("%(num)d new item in your size", "%(num)d new items in your size"),
    ("Only %(num)d left", "Only %(num)d left"), "Recommended for you", "New in",
    "Why am I getting this email?",
]


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs(ROOT / "locales")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the catalogs and extraction config, with one layout of its own."""
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    (tmp_path / "layouts").mkdir()
    (tmp_path / "layouts" / "sale.mjml").write_text(
        '<mj-text>{{ _("Shop now") }}</mj-text>\n', encoding="utf-8"
    )
    return tmp_path


def po_path(root: Path, language: str) -> Path:
    return root / "locales" / language / "LC_MESSAGES" / "messages.po"


def edit_po(root: Path, language: str, msgid: str | tuple[str, str], **changes: object) -> None:
    path = po_path(root, language)
    with path.open("rb") as fileobj:
        catalog = read_po(fileobj, locale=language)
    message = catalog[msgid]
    for name, value in changes.items():
        setattr(message, name, value)
    with path.open("wb") as fileobj:
        write_po(fileobj, catalog, width=100, sort_output=True, include_lineno=False)


# --- the shipped catalogs ------------------------------------------------------------------------


def test_shipped_catalogs_are_complete_and_compiled() -> None:
    """Fails when a layout gained a message no catalog has: run `mailer catalogs update`, translate."""
    assert [str(problem) for problem in check(ROOT)] == []


@pytest.mark.parametrize("language", SHIPPED)
def test_every_shipped_language_has_a_compiled_catalog(catalogs: Catalogs, language: str) -> None:
    assert language in catalogs.languages
    assert po_path(ROOT, language).is_file()
    assert po_path(ROOT, language).with_suffix(".mo").is_file()


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("message", VOCABULARY, ids=str)
def test_vocabulary_is_translated(catalogs: Catalogs, language: str, message: str | tuple[str, str]) -> None:
    translations = catalogs.translations(language)
    if isinstance(message, tuple):
        translated = translations.ngettext(*message, 2)
        assert translated != message[1] or language == "fr" and "Only" not in message[0]
        assert "%(num)d" in translated
    else:
        translated = translations.gettext(message)
        assert translated != message
        for placeholder in ("%(shop)s", "%(name)s", "%(date)s", "%(price)s"):
            assert (placeholder in translated) == (placeholder in message)


@pytest.mark.parametrize(
    ("language", "plural_forms"),
    [
        ("en", "nplurals=2; plural=(n != 1);"),
        ("da", "nplurals=2; plural=(n != 1);"),
        ("sv", "nplurals=2; plural=(n != 1);"),
        ("de", "nplurals=2; plural=(n != 1);"),
        ("fr", "nplurals=2; plural=(n > 1);"),
    ],
)
def test_catalog_declares_the_languages_plural_rule(language: str, plural_forms: str) -> None:
    with po_path(ROOT, language).open("rb") as fileobj:
        assert read_po(fileobj, locale=language).plural_forms == plural_forms


# --- fallback ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "chain"),
    [
        ("sv_FI", ("sv_FI", "sv", "en")),
        ("de_AT", ("de_AT", "de", "en")),
        ("de-AT", ("de_AT", "de", "en")),
        ("de", ("de", "en")),
        ("en_US", ("en_US", "en")),
        ("en", ("en",)),
        ("sr_Latn_RS", ("sr_Latn_RS", "sr_Latn", "sr", "en")),
        ("de_XX", ("de", "en")),
        ("xx", ("en",)),
        ("", ("en",)),
    ],
)
def test_fallback_chain(locale: str, chain: tuple[str, ...]) -> None:
    assert fallback_chain(locale) == chain


def test_fallback_chain_default_is_configurable() -> None:
    assert fallback_chain("sv_FI", default="de") == ("sv_FI", "sv", "de")
    assert fallback_chain("xx", default="de") == ("de",)
    assert Catalogs(ROOT / "locales", default="de").translations("nl_NL").gettext("Unsubscribe") == "Abmelden"


def test_translations_fall_back_from_region_to_language_to_default(project: Path) -> None:
    # A regional catalog holding only what differs; the rest comes from "de", then "en".
    (po_path(project, "de_AT").parent).mkdir(parents=True)
    update(project, add=["de_AT"])
    edit_po(project, "de_AT", "Your discount code", string="Ihr Gutscheincode")
    update(project)
    translations = Catalogs(project / "locales").translations("de_AT")
    assert translations.gettext("Your discount code") == "Ihr Gutscheincode"
    assert translations.gettext("Unsubscribe") == "Abmelden"
    assert translations.gettext("Not in any catalog") == "Not in any catalog"


def test_unknown_locale_gets_the_default_language(catalogs: Catalogs) -> None:
    assert catalogs.translations("xx").gettext("Unsubscribe") == "Unsubscribe"
    assert catalogs.translations("nl_NL").ngettext("%(num)d new item in your size",
                                                   "%(num)d new items in your size", 1) == "%(num)d new item in your size"


def test_translations_have_the_gettext_family(catalogs: Catalogs) -> None:
    translations = catalogs.translations("fr_FR")
    assert translations.gettext("Unsubscribe") == "Se désabonner"
    assert translations.ngettext("Only %(num)d left", "Only %(num)d left", 0) == "Plus que %(num)d en stock"
    assert translations.pgettext("button", "Shop now") == "Shop now"
    assert translations.npgettext("stock", "Only %(num)d left", "Only %(num)d left", 2) == "Only %(num)d left"


def test_translations_are_cached_per_chain(catalogs: Catalogs) -> None:
    assert catalogs.translations("da_DK") is catalogs.translations("da-DK")
    assert catalogs.translations("da_DK") is not catalogs.translations("da")


def test_no_catalogs_at_all_gives_untranslated_messages(tmp_path: Path) -> None:
    assert Catalogs(tmp_path).translations("de_DE").gettext("Unsubscribe") == "Unsubscribe"


# --- check ---------------------------------------------------------------------------------------


def test_copy_of_the_catalogs_checks_clean(project: Path) -> None:
    assert check(project) == []


def test_check_reports_a_message_missing_from_the_catalogs(project: Path) -> None:
    (project / "layouts" / "sale.mjml").write_text(
        '<mj-text>{{ _("Shop now") }}</mj-text>\n'
        "<mj-text>{% trans %}Final hours of the sale{% endtrans %}</mj-text>\n",
        encoding="utf-8",
    )
    problems = [str(problem) for problem in check(project)]
    assert problems == [
        f"locales/{language}/LC_MESSAGES/messages.po: lacks 'Final hours of the sale' "
        "(used in layouts/sale.mjml:2); run 'mailer catalogs update'"
        for language in SHIPPED
    ]


def test_check_reports_a_missing_compiled_catalog(project: Path) -> None:
    po_path(project, "da").with_suffix(".mo").unlink()
    problems = [str(problem) for problem in check(project)]
    assert problems == ["locales/da/LC_MESSAGES/messages.mo: no compiled catalog; run 'mailer catalogs update'"]


def test_check_reports_a_compiled_catalog_older_than_its_source(project: Path) -> None:
    edit_po(project, "sv", "Unsubscribe", string="Avsluta prenumerationen")
    problems = [str(problem) for problem in check(project)]
    assert problems == ["locales/sv/LC_MESSAGES/messages.mo: out of date with messages.po; run 'mailer catalogs update'"]


def test_check_reports_a_compiled_catalog_without_source(project: Path) -> None:
    po_path(project, "fr").unlink()
    problems = [str(problem) for problem in check(project)]
    assert problems == ["locales/fr/LC_MESSAGES/messages.po: missing, but locales/fr/LC_MESSAGES/messages.mo exists"]


def test_check_reports_fuzzy_and_untranslated_entries_outside_english(project: Path) -> None:
    edit_po(project, "de", "Shop now", flags={"fuzzy"})
    edit_po(project, "fr", "New in", string="")
    edit_po(project, "en", "New in", string="")
    update(project)  # compiled catalogs now match; what remains is the translation work
    problems = [problem.reason for problem in check(project)]
    assert len(problems) == 2
    assert problems[0].endswith("'Shop now' is fuzzy; review it")
    assert problems[1].endswith("'New in' is not translated")


def test_check_reports_a_plural_form_left_empty(project: Path) -> None:
    edit_po(project, "da", ("Only %(num)d left", "Only %(num)d left"), string=("Kun %(num)d tilbage", ""))
    update(project)
    assert [problem.reason.split(": ", 1)[1] for problem in check(project)] == ["'Only %(num)d left' is not translated"]


def test_check_reports_a_broken_placeholder(project: Path) -> None:
    edit_po(project, "de", "Welcome to %(shop)s", string="Willkommen bei %(laden)s")
    update(project)
    problems = [str(problem) for problem in check(project)]
    assert len(problems) == 1
    assert "'Welcome to %(shop)s'" in problems[0] and "laden" in problems[0]


def test_check_without_catalogs_says_so(tmp_path: Path) -> None:
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    assert [str(problem) for problem in check(tmp_path)] == [
        "locales: no catalogs; add one with 'mailer catalogs update --add LANG'"
    ]


# --- extract and update --------------------------------------------------------------------------


def test_extract_reads_layouts_with_compile_time_tags_and_fragment_caches(project: Path) -> None:
    (project / "layouts" / "grid.mjml").write_text(
        "[#- built when the layout compiles -#]\n"
        "[% for index in range(3) %]\n"
        "{% if slots.[[ group ]]|length > [[ index ]] %}{% cached product.id %}\n"
        '{{ _("Add to bag") }}\n'
        "{% endcached %}{% endif %}\n"
        "[% endfor %]\n"
        "{% trans count=n %}One colour{% pluralize %}{{ count }} colours{% endtrans %}\n",
        encoding="utf-8",
    )
    template = extract(project)
    add, colours = template.get("Add to bag"), template.get("One colour")
    assert add is not None and add.locations == [("layouts/grid.mjml", 4)]
    assert colours is not None and colours.id == ("One colour", "%(count)s colours")


def test_extract_names_the_layout_and_line_of_a_syntax_error(project: Path) -> None:
    (project / "layouts" / "broken.mjml").write_text("<p>\n{{ _('Shop now') \n{% endif %}</p>\n", encoding="utf-8")
    with pytest.raises(LayoutSyntaxError) as caught:
        extract(project)
    assert caught.value.path == "layouts/broken.mjml"
    assert caught.value.line is not None


def test_update_brings_new_messages_into_every_catalog(project: Path) -> None:
    (project / "layouts" / "sale.mjml").write_text(
        '{{ _("Final hours of the sale") }}\n', encoding="utf-8"
    )
    written = update(project)
    assert project / "locales" / "messages.pot" in written
    assert all(po_path(project, language) in written for language in SHIPPED)
    problems = check(project)
    # Extracted and compiled everywhere; only the translations are left to do.
    assert sorted(problem.path for problem in problems) == [
        f"locales/{language}/LC_MESSAGES/messages.po" for language in TRANSLATED
    ]
    assert all(problem.reason.endswith("'Final hours of the sale' is not translated") for problem in problems)


def test_update_is_idempotent(project: Path) -> None:
    update(project)
    assert update(project) == []


def test_update_keeps_translations_of_messages_no_longer_used(project: Path) -> None:
    # The copy has none of the real layouts, so their messages become obsolete...
    update(project)
    assert Catalogs(project / "locales").translations("da").gettext("Free returns") == "Free returns"
    assert "#~ msgid \"Free returns\"" in po_path(project, "da").read_text(encoding="utf-8")
    # ...and come back translated when a layout uses them again.
    (project / "layouts" / "sale.mjml").write_text('{{ _("Free returns") }}\n', encoding="utf-8")
    update(project)
    assert Catalogs(project / "locales").translations("da").gettext("Free returns") == "Gratis returnering"
    assert check(project) == []


def test_update_adds_a_language(project: Path) -> None:
    written = update(project, add=["nl"])
    assert po_path(project, "nl") in written
    assert po_path(project, "nl").with_suffix(".mo").is_file()
    assert any(problem.reason.endswith("is not translated") for problem in check(project)
               if problem.path.startswith("locales/nl/"))


def test_update_rejects_an_unknown_language(project: Path) -> None:
    with pytest.raises(LocaleError, match="unknown language 'xx'"):
        update(project, add=["xx"])


# --- the command line ----------------------------------------------------------------------------


def test_cli_check_passes_on_the_shipped_catalogs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogs", "check", "--root", str(ROOT)]) == 0
    assert "complete" in capsys.readouterr().out


def test_cli_check_exits_1_listing_problems(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    po_path(project, "de").with_suffix(".mo").unlink()
    assert main(["catalogs", "check", "--root", str(project)]) == 1
    captured = capsys.readouterr()
    assert "locales/de/LC_MESSAGES/messages.mo: no compiled catalog" in captured.out
    assert "1 problem(s)" in captured.err


def test_cli_update_then_check(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    po_path(project, "de").with_suffix(".mo").unlink()
    assert main(["catalogs", "update", "--root", str(project)]) == 0
    assert "wrote locales/de/LC_MESSAGES/messages.mo" in capsys.readouterr().out
    assert main(["catalogs", "check", "--root", str(project)]) == 0
