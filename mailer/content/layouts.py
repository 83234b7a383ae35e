"""Layouts: MJML + Jinja sources compiled once into per-recipient templates.

A layout is ``layouts/<name>.mjml`` plus an optional ``layouts/<name>.toml``
that declares its slot groups (``[slots] picks = 6``). Its source speaks two
template languages:

* ``[% ... %]`` / ``[[ ... ]]`` run **once, when the layout compiles**: they
  include partials and expand structure such as a product grid of N slots.
* ``{% ... %}`` / ``{{ ... }}`` run **once per recipient** (Jinja2, sandboxed,
  autoescaped, ``StrictUndefined``), with ``jinja2.ext.i18n`` for translations.

Compiling hides every per-recipient tag behind an opaque token, compiles the
MJML (mrml) and inlines the CSS of ``<mj-style inline="inline">`` (css-inline)
exactly once, then puts the tags back. The same tokenised HTML is turned into
the plain-text template, so the per-recipient cost is two Jinja renders and
nothing else. Each restored tag starts on a line of its own, so a Jinja error
in the compiled template maps back to the source file and line it came from.
"""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import css_inline
import html2text
import jinja2
import markupsafe
from jinja2.sandbox import SandboxedEnvironment
from mjml import mjml2html

from mailer.errors import LayoutError, LayoutNotFound, LayoutSyntaxError, SlotError
from mailer.project import SHIPPED_LAYOUTS

DEFAULT_LAYOUTS_DIR = SHIPPED_LAYOUTS

_OPEN_TAG = re.compile(r"(\{\{|\{%)(-?)")
_COMMENT = re.compile(r"\{#.*?#\}", re.S)
# A per-recipient tag after the loader marked it with its origin ``@file:line``.
_MARKED_TAG = re.compile(
    r"(?P<open>\{\{|\{%)(?P<lws>-?)@(?P<file>\d+):(?P<line>\d+) (?P<body>.*?)(?P<close>-?(?:\}\}|%\}))",
    re.S,
)
_TRANS_END = re.compile(r"\{%-?@\d+:\d+ \s*endtrans\s*-?%\}")
_INLINE_STYLE = re.compile(r"<mj-style\s+inline=\"inline\"\s*>(.*?)</mj-style>", re.S)
_VALUE_TOKEN = "jjv{}vjj"
_BLOCK_TOKEN = "<!--jjb{}bjj-->"
_ANY_TOKEN = re.compile(r"(?:<!--|&lt;!--)jjb(\d+)bjj(?:-->|--&gt;)|jjb(\d+)bjj|jjv(\d+)vjj")
_PREHEADER_DIV = re.compile(r"<div style=\"display:none;[^\"]*\">.*?</div>", re.S)


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a per-recipient tag came from."""

    path: str
    line: int


@dataclass(frozen=True, slots=True)
class _Tag:
    text: str
    kind: str  # "value" (renders inline) or "block" (control flow)
    origin: SourceLocation


class _LineMap:
    """Compiled-template line → source location of the tag on that line."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._origins: list[SourceLocation] = []

    def add(self, first_line: int, origin: SourceLocation) -> None:
        self._starts.append(first_line)
        self._origins.append(origin)

    def locate(self, line: int) -> SourceLocation | None:
        import bisect

        index = bisect.bisect_right(self._starts, line) - 1
        return self._origins[index] if index >= 0 else None


@dataclass(frozen=True)
class CompiledLayout:
    """A layout ready to render: HTML and text Jinja templates plus metadata.

    ``slots`` maps each slot group to the number of products it shows.
    ``digest`` identifies the compiled content (sources and options).
    """

    name: str
    slots: Mapping[str, int]
    html: jinja2.Template
    text: jinja2.Template
    html_source: str
    text_source: str
    digest: str
    html_lines: _LineMap = field(repr=False)
    text_lines: _LineMap = field(repr=False)
    description: str = ""
    encoded_html: jinja2.Template | None = field(default=None, repr=False)
    """The HTML part writing quoted-printable (LF line breaks) directly; see
    :func:`mailer.content.render.render` with ``encode_html``."""
    encoded_html_source: str = field(default="", repr=False)
    encoded_html_lines: _LineMap | None = field(default=None, repr=False)

    def locate(self, template: jinja2.Template, line: int | None) -> SourceLocation | None:
        """Map a line of a compiled template back to its source."""
        if line is None:
            return None
        if template is self.html:
            lines = self.html_lines
        elif template is self.encoded_html and self.encoded_html_lines is not None:
            lines = self.encoded_html_lines
        else:
            lines = self.text_lines
        return lines.locate(line)


class _MarkingLoader(jinja2.BaseLoader):
    """Loads layout sources and marks each per-recipient tag with its origin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[Path] = []
        self.sources: dict[Path, str] = {}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = (self.root / template).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            raise jinja2.TemplateNotFound(template)
        source = path.read_text(encoding="utf-8")
        self.sources[path] = source
        if path not in self.files:
            self.files.append(path)
        return _mark_tags(source, self.files.index(path)), str(path), lambda: False


def _mark_tags(source: str, file_id: int) -> str:
    """Drop ``{# #}`` comments and tag each ``{{``/``{%`` with ``@file:line``.

    >>> _mark_tags("a\\n{{ x }}{%- if y %}", 3)
    'a\\n{{@3:2  x }}{%-@3:2  if y %}'
    """
    source = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    pieces: list[str] = []
    line = 1
    last = 0
    for match in _OPEN_TAG.finditer(source):
        line += source.count("\n", last, match.start())
        pieces.append(source[last : match.end()])
        pieces.append(f"@{file_id}:{line} ")
        last = match.end()
    pieces.append(source[last:])
    return "".join(pieces)


def _structure_environment(loader: jinja2.BaseLoader) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=loader,
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _tokenise(structure: str, files: list[Path]) -> tuple[str, list[_Tag]]:
    """Replace every marked per-recipient tag by an opaque token.

    A ``{% trans %}...{% endtrans %}`` block becomes one token so that its
    message id reaches the catalog lookup exactly as extracted.
    """
    tags: list[_Tag] = []
    out: list[str] = []
    pos = 0
    while True:
        match = _MARKED_TAG.search(structure, pos)
        if match is None:
            break
        out.append(structure[pos : match.start()])
        origin = SourceLocation(str(files[int(match["file"])]), int(match["line"]))
        body = match["body"]
        end = match.end()
        kind = "value" if match["open"] == "{{" else "block"
        if match["open"] == "{%" and re.match(r"\s*(trans|pluralize)\b", body):
            closing = _TRANS_END.search(structure, end)
            if closing is None:
                raise LayoutSyntaxError(
                    "{% trans %} without {% endtrans %}", path=origin.path, line=origin.line
                )
            text = _strip_markers(structure[match.start() : closing.end()])
            end = closing.end()
            kind = "value"
        else:
            text = f"{match['open']}{match['lws']} {body}{match['close']}"
        out.append((_VALUE_TOKEN if kind == "value" else _BLOCK_TOKEN).format(len(tags)))
        tags.append(_Tag(text, kind, origin))
        pos = end
    out.append(structure[pos:])
    return "".join(out), tags


def _strip_markers(text: str) -> str:
    return re.sub(r"(\{\{|\{%)(-?)@\d+:\d+ ", r"\1\2", text)


_STATIC_GETTEXT = re.compile(
    r"""\{\{-?\s*(?:_|gettext)\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)\s*-?\}\}"""
)


def _static_message(tag_text: str) -> str | None:
    """The message id of a tag that only translates a literal, else None.

    >>> _static_message('{{ _("Shop now") }}')
    'Shop now'
    >>> _static_message('{{ _("Hi %(name)s", name=x) }}') is None
    True
    """
    match = _STATIC_GETTEXT.fullmatch(tag_text)
    if match is None:
        return None
    import ast

    return str(ast.literal_eval(match.group(1)))


def _restore(
    tokenised: str,
    tags: list[_Tag],
    folds: Mapping[int, str] | None = None,
    rewrites: Mapping[int, str] | None = None,
) -> tuple[str, _LineMap]:
    """Put the tags back, each starting on a fresh line inside its delimiters.

    The newline sits inside the tag, so it never reaches the output, and the
    compiled template's line numbers identify the tag (hence its origin).
    ``folds`` maps a tag's index to the text that replaces it outright: what
    it renders to, worked out when the layout compiled (see
    :meth:`LayoutLibrary.get`); ``rewrites`` gives a tag a new text that keeps
    its place in the line map.
    """
    lines = _LineMap()
    out: list[str] = []
    line = 1
    pos = 0
    for match in _ANY_TOKEN.finditer(tokenised):
        chunk = tokenised[pos : match.start()]
        out.append(chunk)
        line += chunk.count("\n")
        pos = match.end()
        index = int(match.group(1) or match.group(2) or match.group(3))
        inert = _inert(folds[index]) if folds is not None and index in folds else None
        if inert is not None:
            text = inert
        else:
            tag = tags[index]
            tag_text = rewrites.get(index, tag.text) if rewrites else tag.text
            opener = re.match(r"(\{\{|\{%)(-?)", tag_text)
            assert opener is not None
            text = tag_text[: opener.end()] + "\n" + tag_text[opener.end() :]
            lines.add(line + 1, tag.origin)
        out.append(text)
        line += text.count("\n")
    out.append(tokenised[pos:])
    return "".join(out), lines


_WS_LEFT = re.compile(r"^(\{\{|\{%)-")
_WS_RIGHT = re.compile(r"-(\}\}|%\})\Z")


def _restore_encoded(
    tokenised: str,
    tags: list[_Tag],
    folds: Mapping[int, str],
    rewrites: Mapping[int, str],
) -> tuple[str, _LineMap]:
    """The HTML template again, but writing quoted-printable directly.

    Static text (and what was folded into it) is encoded now, once; every
    value a tag outputs passes through the ``qp`` filter. Each encoded piece
    ends in a soft line break, so pieces join in any order and each starts a
    line of its own. Whitespace control (``{{-``, ``-}}``) is applied here,
    to the plain text, since stripping encoded text would break it.
    """
    from mailer.content.mime import quoted_printable_piece

    lines = _LineMap()
    out: list[str] = []
    buffer: list[str] = []
    line = 1
    pos = 0
    strip_left = False

    def flush(strip_right: bool) -> None:
        nonlocal line
        text = "".join(buffer)
        buffer.clear()
        if strip_right:
            text = text.rstrip()
        encoded = _inert(quoted_printable_piece(text))
        if encoded is None:
            raise LayoutSyntaxError("the layout's HTML contains '{% endraw %}' as text")
        out.append(encoded)
        line += encoded.count("\n")

    for match in _ANY_TOKEN.finditer(tokenised):
        chunk = tokenised[pos : match.start()]
        buffer.append(chunk.lstrip() if strip_left else chunk)
        strip_left = False
        pos = match.end()
        index = int(match.group(1) or match.group(2) or match.group(3))
        if index in folds and _inert(folds[index]) is not None:
            buffer.append(folds[index])
            continue
        tag = tags[index]
        tag_text = rewrites.get(index, tag.text)
        flush(strip_right=_WS_LEFT.match(tag_text) is not None)
        strip_left = _WS_RIGHT.search(tag_text) is not None
        tag_text = _WS_RIGHT.sub(r"\1", _WS_LEFT.sub(r"\1", tag_text))
        opener = re.match(r"(\{\{|\{%)", tag_text)
        assert opener is not None
        text = tag_text[: opener.end()] + "\n" + tag_text[opener.end() :]
        if tag.kind == "value" and tag_text.startswith("{{"):
            text = "{{\n(" + tag_text[2:-2] + ")|qp }}"
        elif tag.kind == "value":  # a {% trans %} block
            text = "{% filter qp %}" + text + "{% endfilter %}"
        lines.add(line + 1, tag.origin)
        out.append(text)
        line += text.count("\n")
    tail = tokenised[pos:]
    buffer.append(tail.lstrip() if strip_left else tail)
    flush(strip_right=False)
    return "".join(out), lines


_I18N_NAMES = frozenset({"_", "gettext", "ngettext", "pgettext", "npgettext"})
_ZONED_FILTERS = frozenset({"date", "datetime"})


_CACHED_TAG = re.compile(r"\{%(-?)\s*cached\s(.*?)(-?)%\}\Z", re.S)
_ENDCACHED_TAG = re.compile(r"\{%-?\s*endcached\s*-?%\}\Z")


def _fragment_sites(tokenised: str, tags: list[_Tag], suffix: str = "") -> dict[int, str]:
    """Name each ``{% cached key %}`` fragment by a digest of its code.

    Cells of a product grid hold the same card; with one name they share
    cache entries, so a product is rendered once, not once per cell it
    lands in. Only a single-expression key is rewritten (a tag naming its
    site already is left alone); tags must not nest.
    """
    rewrites: dict[int, str] = {}
    for match in _ANY_TOKEN.finditer(tokenised):
        index = int(match.group(1) or match.group(2) or match.group(3))
        opening = _CACHED_TAG.match(tags[index].text)
        if opening is None or "," in opening.group(2):
            continue
        body = []
        for inner in _ANY_TOKEN.finditer(tokenised, match.end()):
            inner_index = int(inner.group(1) or inner.group(2) or inner.group(3))
            if _ENDCACHED_TAG.match(tags[inner_index].text):
                body.append(tokenised[match.end() : inner.start()])
                break
            body.append(tags[inner_index].text)
        else:
            continue
        code = re.sub(r"jj[vb]\d+[vb]jj", "", "".join(body))
        site = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:16] + suffix
        key = opening.group(2).strip()
        rewrites[index] = f"{{%{opening.group(1)} cached ({key}), {site!r} {opening.group(3)}%}}"
    return rewrites


def _inert(text: str) -> str | None:
    """``text`` made safe to sit in a Jinja template as plain output, or
    None if it cannot be (it would need to contain ``{% endraw %}``)."""
    if "{" not in text:
        return text
    if "endraw" in text:
        return None
    return "{% raw %}" + text + "{% endraw %}"


def _bound_names(env: jinja2.Environment, source: str) -> set[str]:
    """Names a template binds itself (loop targets, ``with``, ``set``, macro
    parameters): a tag reading one of them is never constant."""
    from jinja2 import nodes

    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError:
        return set()  # the whole template's compile reports it, with its location
    return {
        node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")
    }


def _split_inline_css(mjml: str) -> tuple[str, str]:
    """Take ``<mj-style inline="inline">`` blocks out of the MJML.

    Their plain rules are returned for inlining; their ``@media`` (and other
    at-rules, which cannot be inlined) go back as an ordinary ``<mj-style>`` so
    they stay in the ``<style>`` of the head.
    """
    inline_css: list[str] = []

    def take(match: re.Match[str]) -> str:
        rules, at_rules = _separate_at_rules(match.group(1))
        inline_css.append(rules)
        return f"<mj-style>{at_rules}</mj-style>" if at_rules.strip() else ""

    return _INLINE_STYLE.sub(take, mjml), "\n".join(inline_css)


def _separate_at_rules(css: str) -> tuple[str, str]:
    """Split CSS into plain rules and ``@`` blocks (brace-matched).

    >>> _separate_at_rules("a{b:c} @media x{a{b:d}} e{f:g}")
    ('a{b:c}  e{f:g}', '@media x{a{b:d}}')
    """
    plain: list[str] = []
    at_rules: list[str] = []
    pos = 0
    while (start := css.find("@", pos)) != -1:
        plain.append(css[pos:start])
        depth = 0
        index = start
        while index < len(css):
            if css[index] == "{":
                depth += 1
            elif css[index] == "}":
                depth -= 1
                if depth == 0:
                    break
            elif css[index] == ";" and depth == 0:
                break
            index += 1
        at_rules.append(css[start : index + 1])
        pos = index + 1
    plain.append(css[pos:])
    return "".join(plain), "\n".join(at_rules)


_LINE_AFTER = re.compile(r"(</title>|</style>|<body\b[^>]*>|<!\[endif\]-->)(?!\n)")


def _open_lines(html: str) -> str:
    """Break the compiled HTML after the title, each style block, the body
    tag, the preheader and each conditional comment.

    mrml writes most of a layout on a few very long lines; per-recipient
    values (subject, preheader) would share a line with kilobytes of CSS, and
    the message encoder, which reuses what it encoded for lines it has seen,
    would re-encode all of it for every recipient. These places take a
    newline without any change to how the email displays.
    """
    html = _LINE_AFTER.sub(r"\1\n", html)
    return _PREHEADER_DIV.sub(lambda m: "\n" + m.group(0) + "\n", html, count=1)


def _html_to_text_source(tokenised_html: str) -> str:
    """Turn the compiled (still tokenised) HTML into a plain-text template source."""
    body = _PREHEADER_DIV.sub("", tokenised_html, count=1)
    body = re.sub(r"(?:<!--|&lt;!--)(jjb\d+bjj)(?:-->|--&gt;)", r"\1", body)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.inline_links = True
    converter.protect_links = False
    converter.skip_internal_links = True
    converter.use_automatic_links = True
    text = converter.handle(body)
    # Image-only links become "[](url)"; they carry nothing readable.
    text = re.sub(r"\[\s*\]\((?:jjv\d+vjj|[^)]*)\)", "", text)
    # "[label](url)" reads worse in plain text than "label <url>".
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1 <\2>", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@dataclass(frozen=True)
class _Tokenised:
    """A layout after MJML and CSS inlining, its per-recipient tags still hidden."""

    name: str
    slots: Mapping[str, int]
    description: str
    html: str
    text: str
    tags: list[_Tag]
    digest: str


Translate = Callable[[str], str]


class LayoutLibrary:
    """The layouts of one directory, each compiled once and cached by content.

    ``environment_factory`` builds the per-recipient Jinja environment; it is
    called with ``True`` for the HTML part and ``False`` for the text part.
    ``translations(locale)`` returns the catalog of a locale (anything with
    ``gettext``); with it, literal ``_("...")`` tags are translated when a
    layout compiles for a locale instead of once per recipient.

    MJML compilation and CSS inlining run once per distinct layout content;
    each locale then costs one Jinja compile.
    """

    def __init__(
        self,
        directory: str | Path = DEFAULT_LAYOUTS_DIR,
        *,
        environment_factory: Callable[[bool], jinja2.Environment],
        translations: Callable[[str], Any] | None = None,
    ) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise LayoutNotFound(f"layouts directory {self.directory} does not exist")
        self._html_env = environment_factory(True)
        # The encoded HTML is written in canonical form: CRLF line breaks.
        self._encoded_env = self._html_env.overlay(newline_sequence="\r\n")
        self._text_env = environment_factory(False)
        self._translations = translations
        self._structures: dict[str, tuple[dict[Path, str], _Tokenised]] = {}
        self._tokenised: dict[str, _Tokenised] = {}
        self._compiled: dict[tuple[str, str | None, str | None], CompiledLayout] = {}
        self._tags: dict[tuple[int, str], ParsedTag | None] = {}
        self._lock = threading.RLock()
        self.compilations = 0
        """How many times MJML + CSS inlining ran (for tests and benchmarks)."""

    def names(self) -> list[str]:
        """Names of the layouts in the directory (partials excluded)."""
        return sorted(p.stem for p in self.directory.glob("*.mjml"))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(
        self,
        name: str,
        locale: str | None = None,
        *,
        constants: Mapping[str, Any] | None = None,
        l10n: Any = None,
    ) -> CompiledLayout:
        """Layout ``name`` compiled for ``locale``; recompiled only when a
        source file changed.

        ``constants`` are context values that are the same for every
        recipient using this compiled layout (a campaign's ``brand``,
        ``content``, ``offer``); with ``l10n`` (the localiser of the locale
        and currency) a tag reading nothing else, such as ``{{ brand.shop }}``
        or ``{% trans shop=brand.shop %}``, is rendered now, once, instead of
        once per recipient. Tags using time-zone dependent filters (``date``,
        ``datetime``) or names the template binds itself stay dynamic.
        """
        with self._lock:
            tokenised = self._tokenise(name)
            constants_key = _digest_of(constants, l10n) if constants is not None else None
            key = (tokenised.digest, locale, constants_key)
            compiled = self._compiled.get(key)
            if compiled is None:
                translate = None
                if locale is not None and self._translations is not None:
                    translate = self._translations(locale).gettext
                compiled = self._finish(tokenised, translate, constants, l10n)
                self._compiled[key] = compiled
            return compiled

    def slots(self, name: str) -> Mapping[str, int]:
        """Layout ``name``'s slot groups and their product counts, from its
        structure alone (MJML compiled, no Jinja template: cheaper than :meth:`get`)."""
        with self._lock:
            return self._tokenise(name).slots

    def _tokenise(self, name: str) -> _Tokenised:
        cached = self._structures.get(name)
        if cached is not None and all(
            path.is_file() and path.read_text(encoding="utf-8") == text
            for path, text in cached[0].items()
        ):
            return cached[1]
        sources, structure, slots, meta, files, path = self._expand(name)
        marked, tags = _tokenise(structure, files)
        digest = hashlib.sha256(marked.encode() + repr(tags).encode()).hexdigest()
        tokenised = self._tokenised.get(digest)
        if tokenised is None:
            tokenised = self._compile_mjml(name, slots, meta, marked, tags, digest, path)
            self._tokenised[digest] = tokenised
        self._structures[name] = (sources, tokenised)
        return tokenised

    def _expand(
        self, name: str
    ) -> tuple[dict[Path, str], str, dict[str, int], dict[str, Any], list[Path], Path]:
        """Run the compile-time (``[% %]``) pass: partials and structure."""
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise LayoutNotFound(f"invalid layout name {name!r}", layout=name)
        path = self.directory / f"{name}.mjml"
        if not path.is_file():
            raise LayoutNotFound(
                f"no layout {name!r} in {self.directory} (have: {', '.join(self.names())})",
                layout=name,
            )
        meta_path = path.with_suffix(".toml")
        meta: dict[str, Any] = {}
        sources: dict[Path, str] = {}
        if meta_path.is_file():
            meta_text = meta_path.read_text(encoding="utf-8")
            sources[meta_path] = meta_text
            try:
                meta = tomllib.loads(meta_text)
            except tomllib.TOMLDecodeError as err:
                raise LayoutSyntaxError(str(err), layout=name, path=str(meta_path)) from err
        try:
            slots = {str(k): int(v) for k, v in meta.get("slots", {}).items()}
        except (TypeError, ValueError, AttributeError) as err:
            raise LayoutSyntaxError(
                "[slots] must map slot group names to product counts",
                layout=name,
                path=str(meta_path),
            ) from err

        loader = _MarkingLoader(self.directory)
        structure_env = _structure_environment(loader)
        try:
            structure = structure_env.get_template(f"{name}.mjml").render(
                layout={"name": name, "slots": slots}
            )
        except jinja2.TemplateSyntaxError as err:
            raise LayoutSyntaxError(
                err.message or str(err), layout=name, path=err.filename, line=err.lineno
            ) from err
        except jinja2.TemplateNotFound as err:
            raise LayoutNotFound(
                f"partial {err.name!r} not found", layout=name, path=str(path)
            ) from err
        except jinja2.UndefinedError as err:
            location = _template_frame(err, {str(p) for p in loader.files})
            raise SlotError(
                f"{err.message} (in a [[ ]] or [% %] tag, which runs when the layout compiles)",
                name=_undefined_name(err.message),
                layout=name,
                path=location[0] if location else str(path),
                line=location[1] if location else None,
            ) from err
        sources.update(loader.sources)
        return sources, structure, slots, meta, loader.files, path

    def _compile_mjml(
        self,
        name: str,
        slots: dict[str, int],
        meta: Mapping[str, Any],
        marked: str,
        tags: list[_Tag],
        digest: str,
        path: Path,
    ) -> _Tokenised:
        """MJML → HTML → inlined CSS → text: the expensive part, once per content."""
        self.compilations += 1
        mjml_source, inline_css = _split_inline_css(marked)
        try:
            html = mjml2html(mjml_source, fonts={})
        except ValueError as err:
            raise LayoutSyntaxError(f"MJML: {err}", layout=name, path=str(path)) from err
        inliner = css_inline.CSSInliner(
            inline_style_tags=False,
            keep_style_tags=True,
            keep_link_tags=True,
            load_remote_stylesheets=False,
            extra_css=inline_css or None,
        )
        inlined = _open_lines(inliner.inline(html))
        return _Tokenised(
            name=name,
            slots=slots,
            description=str(meta.get("description", "")),
            html=inlined,
            text=_html_to_text_source(inlined),
            tags=tags,
            digest=digest,
        )

    def _finish(
        self,
        tokenised: _Tokenised,
        translate: Translate | None,
        constants: Mapping[str, Any] | None,
        l10n: Any,
    ) -> CompiledLayout:
        """Put the per-recipient tags back and compile both Jinja templates."""
        html_folds = self._folds(self._html_env, tokenised.html, tokenised.tags, translate, constants, l10n)
        text_folds = self._folds(self._text_env, tokenised.text, tokenised.tags, translate, constants, l10n)
        html_source, html_lines = _restore(
            tokenised.html, tokenised.tags, html_folds, _fragment_sites(tokenised.html, tokenised.tags)
        )
        text_source, text_lines = _restore(
            tokenised.text, tokenised.tags, text_folds, _fragment_sites(tokenised.text, tokenised.tags)
        )
        encoded_source, encoded_lines = _restore_encoded(
            tokenised.html,
            tokenised.tags,
            html_folds,
            _fragment_sites(tokenised.html, tokenised.tags, suffix="-qp"),
        )
        name = tokenised.name
        return CompiledLayout(
            encoded_html=self._compile_template(self._encoded_env, encoded_source, name, encoded_lines),
            encoded_html_source=encoded_source,
            encoded_html_lines=encoded_lines,
            name=name,
            slots=tokenised.slots,
            html=self._compile_template(self._html_env, html_source, name, html_lines),
            text=self._compile_template(self._text_env, text_source, name, text_lines),
            html_source=html_source,
            text_source=text_source,
            digest=tokenised.digest,
            html_lines=html_lines,
            text_lines=text_lines,
            description=tokenised.description,
        )

    def _folds(
        self,
        env: jinja2.Environment,
        tokenised: str,
        tags: list[_Tag],
        translate: Translate | None,
        constants: Mapping[str, Any] | None,
        l10n: Any,
    ) -> dict[int, str]:
        """The tags of one part that render the same for every recipient, and
        what they render to (escaped for HTML when ``env`` autoescapes)."""
        folds: dict[int, str] = {}
        allowed: set[str] = set()
        if constants is not None:
            allowed = set(constants) - _bound_names(env, _restore(tokenised, tags)[0])
            if l10n is not None:
                allowed |= _I18N_NAMES | {"l10n"}
        for index, tag in enumerate(tags):
            if tag.kind != "value" or f"jjv{index}vjj" not in tokenised:
                continue
            message = _static_message(tag.text) if translate is not None else None
            if message is not None:
                assert translate is not None
                text = translate(message)
                folded = str(markupsafe.escape(text)) if env.autoescape else text
            elif allowed:
                parsed = _parsed_tag(env, tag.text, self._tags)
                if parsed is None:
                    continue  # reported with its location when the whole template compiles
                names, zoned, template = parsed
                if zoned or not names <= allowed:
                    continue
                try:
                    rendered = template.render({**constants, "l10n": l10n})  # type: ignore[dict-item]
                except jinja2.TemplateError:
                    continue  # left dynamic: it fails per recipient, with its location
                folded = rendered
            else:
                continue
            if folded is not None:
                folds[index] = folded
        return folds

    @staticmethod
    def _compile_template(
        env: jinja2.Environment, source: str, name: str, lines: _LineMap
    ) -> jinja2.Template:
        try:
            check_fragments(env, env.parse(source), name, lines)
            return env.from_string(source)
        except jinja2.TemplateSyntaxError as err:
            message, line = err.message or str(err), err.lineno
            unclosed = _unclosed_block(env, source) if "end of template" in message else None
            if unclosed is not None:
                tag, line = unclosed
                message = f"{{% {tag} %}} is never closed with {{% end{tag} %}}"
            origin = lines.locate(line)
            raise LayoutSyntaxError(
                message,
                layout=name,
                path=origin.path if origin else None,
                line=origin.line if origin else None,
            ) from err


_BLOCK_TAGS = frozenset({"if", "for", "with", "macro", "call", "filter", "block", "trans", "autoescape", "cached"})


def _unclosed_block(env: jinja2.Environment, source: str) -> tuple[str, int] | None:
    """The innermost block tag ``source`` opens and never closes, and its line
    (Jinja reports such an error at the end of the template, not where the tag is).

    >>> from jinja2 import Environment
    >>> _unclosed_block(Environment(), "a\\n{% if x %}\\n{% for y in z %}{% endfor %}\\nb")
    ('if', 2)
    """
    stack: list[tuple[str, int]] = []
    expect_name = False
    try:
        for line, kind, value in env.lex(source):
            if kind == "block_begin":
                expect_name = True
                continue
            if expect_name and kind == "name":
                if value in _BLOCK_TAGS:
                    stack.append((value, line))
                elif value.startswith("end") and stack and stack[-1][0] == value[3:]:
                    stack.pop()
            if kind != "whitespace":
                expect_name = False
    except jinja2.TemplateSyntaxError:
        return None
    return stack[-1] if stack else None


_FRAGMENT_ALLOWED = frozenset(
    {"l10n", "_", "gettext", "ngettext", "pgettext", "npgettext", "fragment_cache", "_cached_fragment"}
)
_PER_RECIPIENT = frozenset({"recipient", "links", "subject", "preheader"})
_ZONED = frozenset({"date", "datetime"})
"""Filters that show a time in the recipient's zone (cards are cached per locale and currency)."""
_L10N_SHARED = frozenset(
    {"money", "number", "percent", "convert", "gettext", "ngettext", "pgettext", "npgettext", "locale", "currency"}
)
"""What a cached fragment may use of the localiser: the same for a whole locale and currency."""


ParsedTag = tuple[frozenset[str], bool, jinja2.Template]
"""A tag's free names, whether it shows a zoned time, and its compiled template."""
_TAG_CACHE_LIMIT = 20_000


def _parsed_tag(
    env: jinja2.Environment, text: str, cache: dict[tuple[int, str], ParsedTag | None]
) -> ParsedTag | None:
    """:data:`ParsedTag` of one tag (``None``: it does not parse). The same for
    every locale and currency, so a layout's tags are compiled once, not once
    per pair (``cache`` is the library's)."""
    from jinja2 import meta, nodes

    key = (id(env), text)  # the library's environments live as long as its cache
    if key in cache:
        return cache[key]
    try:
        tree = env.parse(text)
        found: ParsedTag | None = (
            frozenset(meta.find_undeclared_variables(tree)),
            any(f.name in _ZONED_FILTERS for f in tree.find_all(nodes.Filter)),
            env.from_string(tree),
        )
    except jinja2.TemplateSyntaxError:
        found = None
    if len(cache) >= _TAG_CACHE_LIMIT:
        cache.clear()
    cache[key] = found
    return found


def _digest_of(constants: Mapping[str, Any], l10n: Any) -> str:
    """A key for compiled layouts that folded ``constants`` with ``l10n``."""
    described = repr(sorted(constants.items(), key=lambda item: item[0]))
    if l10n is not None:
        # Folded tags never use the time zone, so it is not part of the key.
        described += f"|{getattr(l10n, 'locale', '')}|{getattr(l10n, 'currency', '')}"
    return hashlib.sha256(described.encode("utf-8", "surrogatepass")).hexdigest()


def check_fragments(
    env: jinja2.Environment, tree: jinja2.nodes.Template, name: str, lines: _LineMap
) -> None:
    """Refuse a ``{% cached key %}`` fragment that reads more than its key.

    A cached fragment is shared by every recipient of a locale and currency;
    if it read ``recipient.first_name`` one customer's name would reach all
    the others. Only the variables named in the key (and the translation
    helpers) may be used inside; the key itself may not name per-recipient
    data; and nothing inside may depend on the recipient's time zone (dates,
    times) or reach other blocks through ``self``.
    """
    from jinja2 import meta, nodes

    from mailer.content.render import cached_fragments

    for key, statements, lineno in cached_fragments(tree):
        key_names = {n.name for n in key.find_all(nodes.Name)}
        if isinstance(key, nodes.Name):
            key_names.add(key.name)
        body = nodes.Template(statements)
        body.set_environment(env)
        used = meta.find_undeclared_variables(body)
        problem = None
        if key_names & _PER_RECIPIENT:
            problem = f"its key uses {sorted(key_names & _PER_RECIPIENT)}, which differ per recipient"
        elif leaked := sorted(used - key_names - _FRAGMENT_ALLOWED):
            problem = f"it may only use {sorted(key_names)} (its key), but it uses {leaked}"
        elif any(n.name == "self" for n in body.find_all(nodes.Name)):
            problem = "it uses self (other blocks may show recipient data)"
        elif zoned := sorted(
            {f.name for f in body.find_all(nodes.Filter) if f.name in _ZONED}
            | {f"l10n.{g.attr}" for g in body.find_all(nodes.Getattr)
               if isinstance(g.node, nodes.Name) and g.node.name == "l10n" and g.attr not in _L10N_SHARED}
        ):  # fmt: skip
            problem = f"it uses {zoned}, which depend on the recipient's time zone"
        if problem:
            origin = lines.locate(lineno)
            raise LayoutSyntaxError(
                f"a cached fragment is shown to every recipient of a locale, but {problem}: "
                "that would show one recipient's data to others",
                layout=name,
                path=origin.path if origin else None,
                line=origin.line if origin else None,
            )


def _undefined_name(message: str | None) -> str | None:
    """The variable or attribute an UndefinedError is about.

    >>> _undefined_name("'dict object' has no attribute 'hero_image'")
    'hero_image'
    >>> _undefined_name("'offer' is undefined")
    'offer'
    """
    if not message:
        return None
    match = re.search(r"has no attribute '([^']+)'|^'([^']+)' is undefined", message)
    if match:
        return match.group(1) or match.group(2)
    return None


def _template_frame(err: BaseException, filenames: set[str]) -> tuple[str, int] | None:
    """The innermost traceback frame in one of ``filenames`` (Jinja rewrites
    template frames to carry template line numbers)."""
    import traceback

    found = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename in filenames and frame.lineno is not None:
            found = (frame.filename, frame.lineno)
    return found
