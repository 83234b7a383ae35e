"""Untranslated text: what recipients in a language would read in the default language instead.

A layout's messages (``{{ _("Shop now") }}``, ``{% trans %}``) are found the
way ``mailer catalogs update`` finds them (:func:`~mailer.content.catalogs.extract_layout`
with the options ``babel.cfg`` gives layouts) and looked up in the
language's translations; a message that comes back unchanged falls back to
the source text. A campaign's per-language texts (``[subject]``,
``[content.hero_heading]``...) fall back along the locale's chain to the
default language.

A translation spelled exactly like the source (``"Newsletter"`` in German)
cannot be told from a missing one through gettext, and is reported too.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Protocol, cast

from babel.core import Locale, UnknownLocaleError
from babel.messages.extract import extract
from jinja2 import TemplateSyntaxError

from mailer.content.catalogs import DEFAULT_LANGUAGE, extract_layout, fallback_chain
from mailer.lint.findings import Finding, snippet

__all__ = ["LAYOUT_EXTRACTION_OPTIONS", "Translations", "untranslated", "untranslated_campaign"]

LAYOUT_EXTRACTION_OPTIONS: dict[str, str] = {
    "extensions": "jinja2.ext.i18n, mailer.content.render.FragmentCache",
    "encoding": "utf-8",
    "newstyle_gettext": "true",
    "trimmed": "true",
    "silent": "false",
}
"""The options ``babel.cfg`` gives the layout extractor; they decide the message ids."""

COMMENT_TAGS = ("Translators:",)


class Translations(Protocol):
    """What :func:`untranslated` needs of a :class:`gettext.NullTranslations`."""

    def gettext(self, message: str, /) -> object: ...
    def ngettext(self, singular: str, plural: str, n: int, /) -> object: ...
    def pgettext(self, context: str, message: str, /) -> object: ...
    def npgettext(self, context: str, singular: str, plural: str, n: int, /) -> object: ...


def untranslated(
    sources: Mapping[str, str],
    translations: Translations,
    language: str,
    *,
    default_language: str = DEFAULT_LANGUAGE,
) -> list[Finding]:
    """An ``untranslated`` warning for each message of ``sources`` (layout path → text)
    that ``translations`` leave in the source language, at its first use.

    Nothing for ``default_language``. When the language has no catalog (the
    translations answering are another language's, going by their
    ``Language`` header, or have none) and so no message is translated, one
    finding sums them up. A layout the
    extractor cannot read is an ``layout-syntax`` error naming file and line.

    >>> from gettext import NullTranslations
    >>> sources = {"layouts/sale.mjml": '<mj-text>{{ _("Shop now") }}</mj-text>\\n<mj-text>{{ _("Hi") }}</mj-text>'}
    >>> [f.message for f in untranslated(sources, NullTranslations(), "ja")]
    ["no catalog for 'ja': 2 strings will show in English"]
    >>> untranslated(sources, NullTranslations(), "en_GB")
    []
    """
    if _language(language) == _language(default_language):
        return []
    uses: dict[tuple[Any, str | None], list[tuple[str, int]]] = {}
    findings: list[Finding] = []
    for path, text in sources.items():
        try:
            # (Babel's stubs type extraction methods more narrowly than it calls them.)
            for line, message, _, context in extract(cast(Any, extract_layout), io.BytesIO(text.encode("utf-8")),
                                                     comment_tags=COMMENT_TAGS, options=LAYOUT_EXTRACTION_OPTIONS):  # fmt: skip
                uses.setdefault((message, context), []).append((path, line))
        except TemplateSyntaxError as err:
            findings.append(Finding("layout-syntax", f"cannot read the layout's messages: {err.message}", "error",
                                    line=err.lineno, path=path))  # fmt: skip
    missing = {key: places for key, places in uses.items() if not _translated(translations, *key)}
    fallback = _language_name(default_language)
    catalog = _catalog_language(translations)
    if len(missing) > 1 and len(missing) == len(uses) and (catalog is None or _language(catalog) != _language(language)):
        return [*findings, Finding("untranslated", f"no catalog for {language!r}: {len(missing)} strings will show "
                                                   f"in {fallback}")]  # fmt: skip
    for (message, _), places in missing.items():
        text = message[0] if isinstance(message, tuple) else message
        path, line = places[0]
        others = len(places) - 1
        also = f" (and {others} more place{'s' if others > 1 else ''})" if others else ""
        findings.append(Finding("untranslated", f"{snippet(text, 60)!r} has no {language!r} translation: it will "
                                                f"show in {fallback}{also}", line=line, path=path))  # fmt: skip
    return findings


def untranslated_campaign(
    tables: Mapping[str, Any],
    language: str,
    *,
    default_language: str = DEFAULT_LANGUAGE,
    path: str | None = None,
) -> list[Finding]:
    """An ``untranslated`` warning for each per-language campaign text without ``language``.

    ``tables`` maps a name (``subject``, ``content.hero_heading``) to its
    language → text table, as in the campaign file; plain strings are the
    same in every language and never reported. ``path`` names the campaign file.

    >>> tables = {"subject": {"en": "New in", "da": "Nyt"}, "content.hero_heading": {"en": "Autumn"},
    ...           "content.hero_link": "https://shop.test/"}
    >>> [f.message for f in untranslated_campaign(tables, "da_DK")]
    ["[content.hero_heading] has no 'da_DK' text: recipients get the English one ('Autumn')"]
    """
    if _language(language) == _language(default_language):
        return []
    chain = fallback_chain(language, default=default_language)
    own = [code for code in chain if code != default_language]
    findings: list[Finding] = []
    for name, table in tables.items():
        if not isinstance(table, Mapping) or any(code in table for code in own):
            continue
        used = default_language if default_language in table else next(iter(table), None)
        if used is None:
            continue
        findings.append(Finding("untranslated", f"[{name}] has no {language!r} text: recipients get the "
                                                f"{_language_name(used)} one ({snippet(str(table[used]), 60)!r})",
                                path=path))  # fmt: skip
    return findings


def _translated(translations: Translations, message: Any, context: str | None) -> bool:
    if isinstance(message, tuple):
        singular, plural = message[0], message[1]
        if context is None:
            one, many = translations.ngettext(singular, plural, 1), translations.ngettext(singular, plural, 2)
        else:
            one = translations.npgettext(context, singular, plural, 1)
            many = translations.npgettext(context, singular, plural, 2)
        return (one, many) != (singular, plural)
    found = translations.gettext(message) if context is None else translations.pgettext(context, message)
    return bool(found != message)


def _catalog_language(translations: Translations) -> str | None:
    """The ``Language`` header of the catalog that answers first, if any."""
    info = getattr(translations, "info", None)
    language = info().get("language") if callable(info) else None
    return language if isinstance(language, str) and language else None


def _language(code: str) -> str:
    return code.replace("-", "_").split("_")[0].lower()


def _language_name(code: str) -> str:
    """``English`` for ``en``; the code itself when Babel does not know it."""
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name("en") or code
    except (UnknownLocaleError, ValueError, TypeError):
        return code
