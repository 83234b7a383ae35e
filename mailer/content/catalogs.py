"""Gettext catalogs: loading translations with a locale fallback chain, and keeping catalogs current.

The catalogs live in ``locales/<language>/LC_MESSAGES/messages.po`` with the
compiled ``messages.mo`` beside each (both are committed: the ``.mo`` files are
what ships). Messages are written in the *source language* (English) in the
layouts and sources that ``babel.cfg`` names; ``locales/vocabulary.jinja``
lists the messages the catalogs promise to every layout and campaign template
even before a shipped layout uses them.

:class:`Catalogs` loads one :class:`babel.support.Translations` per locale,
chained along :func:`fallback_chain` (``de_AT`` → ``de`` → ``en``), so a
message missing in one catalog is looked up in the next.

:func:`check` and :func:`update` back ``mailer catalogs check|update``:
``update`` extracts messages (``locales/messages.pot``), merges them into
every ``.po`` and compiles every ``.mo``; ``check`` lists what is wrong (a
missing or stale ``.mo``, a message missing from a catalog, a fuzzy or
untranslated entry outside the source language, a broken placeholder).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from babel.core import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import NullTranslations, Translations
from jinja2 import TemplateSyntaxError
from jinja2.ext import babel_extract

from mailer.errors import ConfigError, LayoutSyntaxError, LocaleError

__all__ = [
    "Catalogs",
    "Problem",
    "check",
    "extract",
    "extract_layout",
    "fallback_chain",
    "find_problems",
    "init_language",
    "update",
]

DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
CONFIG = "babel.cfg"
LOCALES = "locales"

_HEADER: dict[str, Any] = {
    "project": "mailer",
    "copyright_holder": "the mailer contributors",
    "header_comment": (
        "# Translations template for PROJECT.\n"
        "# Copyright (C) YEAR ORGANIZATION\n"
        "# This file is distributed under the same license as the PROJECT project.\n"
        "#"
    ),
    "last_translator": "mailer contributors",
    "language_team": "mailer contributors",
    "charset": "utf-8",
}

# Header lines that change on every run; ignored when deciding whether a file changed.
_VOLATILE = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"\n', re.MULTILINE)


def fallback_chain(locale: str, *, default: str = DEFAULT_LANGUAGE) -> tuple[str, ...]:
    """The catalogs to look a message up in for ``locale``, most specific first.

    >>> fallback_chain("sv_FI")
    ('sv_FI', 'sv', 'en')
    >>> fallback_chain("de-AT")
    ('de_AT', 'de', 'en')
    >>> fallback_chain("zh_TW")
    ('zh_Hant_TW', 'zh_TW', 'zh_Hant', 'zh', 'en')
    >>> fallback_chain("en_GB")
    ('en_GB', 'en')
    >>> fallback_chain("de_XX"), fallback_chain("xx"), fallback_chain("")
    (('de', 'en'), ('en',), ('en',))
    >>> fallback_chain("fr_BE", default="de")
    ('fr_BE', 'fr', 'de')
    """
    given = locale.replace("-", "_")
    parsed = _parse_locale(given)
    if parsed is None:
        given = re.split(r"[-_]", locale, maxsplit=1)[0]
        parsed = _parse_locale(given)
    if parsed is None:
        return (default,)
    # Babel may add a script the identifier implied (zh_TW is zh_Hant_TW);
    # catalogs are often named without it.
    chain = [str(parsed), given]
    if parsed.script:
        chain.append(f"{parsed.language}_{parsed.script}")
    chain += [parsed.language, default]
    return tuple(dict.fromkeys(chain))


def _parse_locale(identifier: str) -> Locale | None:
    try:
        return Locale.parse(identifier)
    except (UnknownLocaleError, ValueError, TypeError):
        return None


class Catalogs:
    """The compiled catalogs in ``locales_dir``, loaded on first use and cached.

    >>> catalogs = Catalogs(Path(__file__).parent.parent.parent / "locales")
    >>> "da" in catalogs.languages
    True
    >>> catalogs.translations("da_DK").gettext("Unsubscribe")
    'Afmeld'
    >>> catalogs.translations("nl_NL").gettext("Unsubscribe")
    'Unsubscribe'
    """

    def __init__(
        self,
        locales_dir: str | PathLike[str],
        *,
        default: str = DEFAULT_LANGUAGE,
        domain: str = DOMAIN,
    ) -> None:
        self.locales_dir = Path(locales_dir)
        self.default = default
        self.domain = domain
        self._compiled: dict[str, bytes | None] = {}
        self._chains: dict[tuple[str, ...], NullTranslations] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages with a compiled catalog, sorted."""
        pattern = f"*/LC_MESSAGES/{self.domain}.mo"
        return tuple(sorted(path.parent.parent.name for path in self.locales_dir.glob(pattern)))

    def fallback_chain(self, locale: str) -> tuple[str, ...]:
        """:func:`fallback_chain` with this collection's default language."""
        return fallback_chain(locale, default=self.default)

    def translations(self, locale: str) -> NullTranslations:
        """Translations for ``locale``, falling back along its chain (cached).

        Each catalog of the chain that exists is loaded; the first one found
        answers and hands unknown messages to the next (``add_fallback``).
        Without any catalog the messages come back untranslated.
        """
        chain = self.fallback_chain(locale)
        found = self._chains.get(chain)
        if found is None:
            # Fresh objects per chain: add_fallback mutates, so catalogs are never shared.
            loaded = [
                Translations(io.BytesIO(data), domain=self.domain)
                for data in map(self._mo, chain)
                if data is not None
            ]
            found = loaded[0] if loaded else NullTranslations()
            for fallback in loaded[1:]:
                found.add_fallback(fallback)
            self._chains[chain] = found
        return found

    def _mo(self, language: str) -> bytes | None:
        if language not in self._compiled:
            path = self.locales_dir / language / "LC_MESSAGES" / f"{self.domain}.mo"
            self._compiled[language] = path.read_bytes() if path.is_file() else None
        return self._compiled[language]


# --- keeping catalogs current -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the catalogs: the file concerned and what to do.

    >>> print(Problem("locales/da/LC_MESSAGES/messages.po", "'Shop now' is fuzzy"))
    locales/da/LC_MESSAGES/messages.po: 'Shop now' is fuzzy
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def extract(root: str | PathLike[str], *, config: str = CONFIG) -> Catalog:
    """The message template: every message the files ``root/babel.cfg`` names use.

    Locations are relative to ``root``. A missing configuration raises
    :class:`ConfigError`; a template syntax error raises
    :class:`LayoutSyntaxError` naming the file and line, rather than hiding
    that file's messages.
    """
    root = Path(root)
    config_path = root / config
    try:
        with config_path.open(encoding="utf-8") as fileobj:
            method_map, options_map = parse_mapping_cfg(fileobj, str(config_path))  # type: ignore[no-untyped-call]
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: no extraction configuration (is {root} the project root?)") from None
    template = Catalog(**_HEADER, fuzzy=False)
    current: list[str] = []
    found = extract_from_dir(
        root,
        method_map,
        options_map,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
        callback=lambda filename, method, options: current.append(filename),
    )
    try:
        for filename, lineno, message, comments, context in found:
            location = (Path(filename).as_posix(), lineno)
            template.add(message, None, [location], auto_comments=comments, context=context)
    except TemplateSyntaxError as err:
        path = Path(current[-1]).as_posix() if current else None
        raise LayoutSyntaxError(f"cannot extract messages: {err.message}", path=path, line=err.lineno) from err
    return template


# Structure-time tags of a layout (see mailer.content.layouts): they run when the layout
# compiles, so extraction only needs the per-recipient Jinja around them.
_STRUCTURE_COMMENT = re.compile(r"\[#.*?#\]", re.S)
_STRUCTURE_BLOCK = re.compile(r"\[%.*?%\]", re.S)
_STRUCTURE_VALUE = re.compile(r"\[\[.*?\]\]", re.S)


def _blank_structure(source: str) -> str:
    """Hide a layout's ``[% %]``/``[[ ]]``/``[# #]`` tags from the Jinja extractor, keeping line numbers.

    A ``[[ value ]]`` becomes a name, so per-recipient tags built around it still parse.

    >>> _blank_structure("[% if a %]\\n{% if slots.[[ group ]]|length > [[ i ]] %}[# note #]")
    '\\n{% if slots.structure|length > structure %}'
    """

    def blank(match: re.Match[str]) -> str:
        return "\n" * match.group(0).count("\n")

    source = _STRUCTURE_COMMENT.sub(blank, source)
    source = _STRUCTURE_BLOCK.sub(blank, source)
    return _STRUCTURE_VALUE.sub(lambda match: "structure" + blank(match), source)


def extract_layout(
    fileobj: BinaryIO,
    keywords: Sequence[str],
    comment_tags: Sequence[str],
    options: dict[str, Any],
) -> Iterator[tuple[int, str, Any, list[str]]]:
    """Babel extraction method for layouts: Jinja's, once the structure-time tags are hidden.

    ``babel.cfg`` names it in its ``[extractors]`` section; it takes the options
    of Jinja's own extractor (``extensions``, ``trimmed``, ``newstyle_gettext``...).
    """
    encoding = options.get("encoding", "utf-8")
    source = _blank_structure(fileobj.read().decode(encoding))
    yield from babel_extract(io.BytesIO(source.encode(encoding)), keywords, comment_tags, options)


def _po_path(locales: Path, language: str, domain: str) -> Path:
    return locales / language / "LC_MESSAGES" / f"{domain}.po"


def _languages(locales: Path, domain: str) -> list[str]:
    """Languages with a ``.po`` or a ``.mo`` in ``locales``."""
    found = {path.parent.parent.name for suffix in ("po", "mo")
             for path in locales.glob(f"*/LC_MESSAGES/{domain}.{suffix}")}
    return sorted(found)


def _compile(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _mo_content(data: bytes) -> tuple[object, dict[tuple[object, str | None], object]]:
    """What a compiled catalog means: plural rule and translations, ignoring header dates."""
    catalog = read_mo(io.BytesIO(data))
    messages = {(_frozen(message.id), message.context): _frozen(message.string)
                for message in catalog if message.id}
    return catalog.plural_forms, messages


def _describe(message_id: object, context: str | None) -> str:
    text = message_id[0] if isinstance(message_id, tuple) else message_id
    return f"{text!r} (context {context!r})" if context else repr(text)


def _translated(string: object) -> bool:
    return all(string) if isinstance(string, (tuple, list)) else bool(string)


def find_problems(
    template: Catalog,
    catalogs: Mapping[str, tuple[str, Catalog | None, str, bytes | None]],
    *,
    source_language: str = DEFAULT_LANGUAGE,
) -> list[Problem]:
    """What is wrong with ``catalogs`` given the messages in ``template``.

    ``catalogs`` maps a language to ``(po_path, po, mo_path, mo_bytes)``,
    ``None`` where the file is missing. Pure: :func:`check` reads the files.
    Catalogs may hold messages the template lacks (the vocabulary promised to
    campaign templates); every template message must be in every catalog and,
    outside ``source_language``, translated and not fuzzy.
    """
    problems: list[Problem] = []
    run = "run 'mailer catalogs update'"
    for language, (po_path, po, mo_path, mo) in sorted(catalogs.items()):
        if po is None:
            problems.append(Problem(po_path, f"missing, but {mo_path} exists"))
            continue
        if mo is None:
            problems.append(Problem(mo_path, f"no compiled catalog; {run}"))
        elif _mo_content(mo) != _mo_content(_compile(po)):
            problems.append(Problem(mo_path, f"out of date with {Path(po_path).name}; {run}"))
        for message in template:
            if message.id and po.get(message.id, message.context) is None:
                where = ", ".join(f"{file}:{line}" for file, line in message.locations)
                problems.append(Problem(po_path, f"lacks {_describe(message.id, message.context)}"
                                                 f" (used in {where}); {run}"))
        for message in po:
            if not message.id:
                continue
            name = _describe(message.id, message.context)
            if language != source_language:
                if message.fuzzy:
                    problems.append(Problem(po_path, f"line {message.lineno}: {name} is fuzzy; review it"))
                elif not _translated(message.string):
                    problems.append(Problem(po_path, f"line {message.lineno}: {name} is not translated"))
        for message, errors in po.check():
            for error in errors:
                problems.append(Problem(po_path, f"line {message.lineno}: {_describe(message.id, message.context)}: {error}"))
    return problems


def check(
    root: str | PathLike[str],
    *,
    source_language: str = DEFAULT_LANGUAGE,
    domain: str = DOMAIN,
) -> list[Problem]:
    """Extract the messages under ``root`` and list what is wrong with ``root/locales``.

    An empty list means every shipped catalog is complete and compiled.
    """
    root = Path(root)
    locales = root / LOCALES
    template = extract(root)
    catalogs: dict[str, tuple[str, Catalog | None, str, bytes | None]] = {}
    for language in _languages(locales, domain):
        po_path = _po_path(locales, language, domain)
        mo_path = po_path.with_suffix(".mo")
        po = None
        if po_path.is_file():
            with po_path.open("rb") as fileobj:
                po = read_po(fileobj, locale=language, domain=domain)
        mo = mo_path.read_bytes() if mo_path.is_file() else None
        catalogs[language] = (_relative(po_path, root), po, _relative(mo_path, root), mo)
    if not catalogs:
        return [Problem(_relative(locales, root), "no catalogs; add one with 'mailer catalogs update --add LANG'")]
    return find_problems(template, catalogs, source_language=source_language)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _po_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    # Sorted by message and located by file only, so editing a layout does not
    # reorder or renumber every catalog.
    write_po(buffer, catalog, width=100, sort_output=True, include_lineno=False)
    return buffer.getvalue()


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless ``path`` already says the same (dates aside); True if written."""
    if path.is_file() and _VOLATILE.sub(b"", path.read_bytes()) == _VOLATILE.sub(b"", data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def _language(identifier: str) -> Locale:
    locale = _parse_locale(identifier.replace("-", "_"))
    if locale is None:
        raise LocaleError(f"unknown language {identifier!r}")
    return locale


def init_language(
    root: str | PathLike[str],
    language: str,
    *,
    template: Catalog | None = None,
    domain: str = DOMAIN,
) -> Path:
    """Start a catalog for ``language`` from the extracted messages; returns its ``.po`` path."""
    root = Path(root)
    locale = _language(language)
    template = template if template is not None else extract(root)
    path = _po_path(root / LOCALES, str(locale), domain)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    catalog = Catalog(locale=locale, domain=domain, **_HEADER, fuzzy=False)
    catalog.update(template, no_fuzzy_matching=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_po_bytes(catalog))
    return path


def _revive(catalog: Catalog, template: Catalog) -> None:
    """Bring back obsolete entries the template uses again, translations and all.

    (Babel's ``Catalog.update`` would start them afresh, untranslated.)
    """
    for key, message in list(catalog.obsolete.items()):
        if template.get(message.id, message.context) is not None:
            del catalog.obsolete[key]
            catalog[message.id] = message


def update(
    root: str | PathLike[str],
    *,
    add: Iterable[str] = (),
    domain: str = DOMAIN,
) -> list[Path]:
    """Extract, merge and compile, like ``pybabel extract``/``update``/``compile``.

    Writes ``locales/messages.pot``, merges it into each ``.po`` (new messages
    untranslated, near matches fuzzy, removed ones kept as obsolete) after
    starting catalogs for the languages in ``add``, and compiles each ``.mo``.
    A message a layout uses again gets its old translation back.
    Only files whose content changed are written; returns their paths.
    """
    root = Path(root)
    locales = root / LOCALES
    template = extract(root)
    written: list[Path] = []
    pot = locales / f"{domain}.pot"
    if _write_if_changed(pot, _po_bytes(template)):
        written.append(pot)
    for language in add:
        if not _po_path(locales, str(_language(language)), domain).exists():
            written.append(init_language(root, language, template=template, domain=domain))
    for language in _languages(locales, domain):
        po_path = _po_path(locales, language, domain)
        if not po_path.is_file():
            continue
        with po_path.open("rb") as fileobj:
            catalog = read_po(fileobj, locale=language, domain=domain)
        _revive(catalog, template)
        catalog.update(template)
        if _write_if_changed(po_path, _po_bytes(catalog)):
            written.append(po_path)
        mo_path = po_path.with_suffix(".mo")
        compiled = _compile(catalog)
        if not mo_path.is_file() or _mo_content(mo_path.read_bytes()) != _mo_content(compiled):
            mo_path.write_bytes(compiled)
            written.append(mo_path)
    return sorted(set(written))
