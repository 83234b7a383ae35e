"""Per-recipient rendering: a compiled layout plus a context → HTML and text.

The Jinja environments here are the only place layouts run per recipient:
sandboxed and immutable (layouts come from the creative team, and the data
they read is shared by many recipients), autoescaped for HTML,
``StrictUndefined`` so a missing slot fails loudly, and ``jinja2.ext.i18n``
whose ``gettext``/``ngettext`` read the recipient's catalog from the context
variable ``l10n`` (a :class:`mailer.content.localise.Localiser`).
"""

from __future__ import annotations

import binascii
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jinja2
import markupsafe
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from mailer.errors import LayoutError, SlotError
from mailer.content.layouts import CompiledLayout, _template_frame, _undefined_name
from mailer.content.mime import encoded_body, quoted_printable_piece
from mailer.content.money import Money



@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The two bodies of one recipient's email.

    With ``encode_html`` the HTML comes as ``html_encoded`` (quoted-printable
    bytes for :meth:`mailer.content.mime.MessageTemplate.build`) and ``html`` is
    decoded from it only when read.
    """

    text: str
    html_encoded: bytes | None = None
    _html: str | None = None

    @property
    def html(self) -> str:
        if self._html is not None:
            return self._html
        assert self.html_encoded is not None
        return decode_html(self.html_encoded)


def tidy_text(text: str) -> str:
    """A rendered text part tidied: no trailing blanks on a line, never more
    than one empty line in a row, no empty lines at either end, one final
    line break.

    >>> tidy_text("\\n Hi  \\n\\n \\n\\nthere\\t\\n\\n")
    'Hi\\n\\nthere\\n'
    """
    lines = []
    blank = False
    for line in text.split("\n"):
        line = line.rstrip(" \t")
        if line:
            blank = False
            lines.append(line)
        elif not blank:
            blank = True
            lines.append("")
    return "\n".join(lines).strip() + "\n"


def decode_html(encoded: bytes) -> str:
    """The HTML of an encoded body, with LF line breaks."""
    return binascii.a2b_qp(encoded).decode("utf-8").replace("\r\n", "\n")[:-1]


_QP_MEMO_SIZE = 4_096
"""Encoded values remembered per input type; the same subject, language or
preheader comes up for every recipient of a locale."""
_QP_MEMO: dict[type, dict[str, markupsafe.Markup]] = {str: {}, markupsafe.Markup: {}}


def _qp_filter(value: Any) -> markupsafe.Markup:
    """Escape (unless already markup) and quoted-printable encode one value.

    Its result is safe to output as it is (see :class:`TrustedOutputCodeGenerator`).
    Plain strings and markup are memoised apart: ``"<b>"`` is escaped,
    ``Markup("<b>")`` is not.
    """
    memo = _QP_MEMO.get(type(value))
    if memo is None:
        return _qp_encode(value)
    encoded = memo.get(value)
    if encoded is None:
        encoded = _qp_encode(value)
        if len(memo) >= _QP_MEMO_SIZE:
            memo.clear()
        memo[value] = encoded
    return encoded


def _qp_encode(value: Any) -> markupsafe.Markup:
    text = value if type(value) is markupsafe.Markup else markupsafe.escape(value)
    text = str.__str__(text)
    # Most values are short printable ASCII with nothing to encode.
    if (
        len(text) < 76
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and text[-1:] not in (" ", "\t")
        and not text.startswith(("From ", "."))
    ):
        return markupsafe.Markup(text + "=\r\n" if text else "")
    return markupsafe.Markup(quoted_printable_piece(text))


FRAGMENT_CACHE_LIMIT = 1_000
"""Fragments kept per plain cache dict; past it, new fragments render uncached.
A :class:`FragmentStore` is bounded by its :class:`CacheBudget` instead."""


class CacheBudget:
    """Memory a composer's caches may fill, in characters (about bytes: the
    cached text is mostly ASCII), shared by all its locales and parts.

    Recommendations are skewed towards popular products, so whatever the
    budget holds takes most of the hits; the bound keeps memory flat however
    many recipients a campaign has.

    >>> budget = CacheBudget(10)
    >>> budget.take(6), budget.take(6), budget.left
    (True, False, 4)
    """

    __slots__ = ("left", "total")

    def __init__(self, chars: int) -> None:
        self.left = self.total = chars

    def take(self, chars: int) -> bool:
        """Reserve ``chars`` if they fit."""
        if chars > self.left:
            return False
        self.left -= chars
        return True


class FragmentStore(dict):  # type: ignore[type-arg]
    """A fragment cache bounded by a shared :class:`CacheBudget`.

    >>> budget = CacheBudget(1_000)
    >>> store = FragmentStore(budget)
    >>> store.keep("card", "x" * 300), budget.left
    (True, 600)
    >>> store.release(), budget.left, len(store)
    (None, 1000, 0)
    """

    __slots__ = ("budget", "chars")

    def __init__(self, budget: CacheBudget) -> None:
        super().__init__()
        self.budget = budget
        self.chars = 0

    def keep(self, entry: Any, fragment: str) -> bool:
        """Store ``fragment`` if the budget has room for it."""
        size = len(fragment) + 100
        if not self.budget.take(size):
            return False
        self[entry] = fragment
        self.chars += size
        return True

    def release(self) -> None:
        """Drop every fragment and give their room back to the budget."""
        self.clear()
        self.budget.left += self.chars
        self.chars = 0


class FragmentCache(Extension):
    """``{% cached key %}...{% endcached %}``: render a fragment once per key.

    A product card looks the same for every recipient of one locale and
    currency, so it is rendered the first time and reused. The cache is the
    ``fragment_cache`` dict in the context (none: no caching); its owner keeps
    one per (layout, locale, currency, part). Layouts are checked when they
    compile: a cached fragment may only use its key's variables, never the
    recipient (see :func:`mailer.content.layouts.check_fragments`).
    """

    tags = {"cached"}

    def filter_stream(self, stream: jinja2.lexer.TokenStream) -> Iterator[jinja2.lexer.Token]:
        """Refuse layouts that name the cache's variables (see ``RESERVED_NAMES``)."""
        for token in stream:
            # Python folds identifiers to NFKC: "ｆragment_cache" would be the same variable.
            if token.type == "name" and unicodedata.normalize("NFKC", token.value) in RESERVED_NAMES:
                raise jinja2.TemplateSyntaxError(
                    f"{token.value!r} is reserved for the fragment cache", token.lineno, stream.name, stream.filename
                )
            yield token

    def parse(self, parser: jinja2.parser.Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        key = parser.parse_expression()
        # An optional second expression names the fragment's code, so that
        # identical fragments (the same card in several grid cells) share
        # entries; without it each tag is its own.
        site: nodes.Expr = nodes.Const(lineno)
        if parser.stream.skip_if("comma"):
            site = parser.parse_expression()
        body = parser.parse_statements(("name:endcached",), drop_needle=True)
        # Hit: the stored fragment, read inline. Miss: the body renders into
        # a variable as {% set %}...{% endset %} would and a filter keeps it.
        # Neither path makes a call through the sandbox or a macro.
        cache = nodes.Name("fragment_cache", "load")
        entry = nodes.Tuple([site, key], "load")
        hit = nodes.And(
            nodes.Test(cache, STORE_TEST, [], [], None, None),
            nodes.Compare(entry, [nodes.Operand("in", cache)]),
        )
        found = nodes.Output([trusted(nodes.Getitem(cache, entry, "load"))])
        rendered = nodes.AssignBlock(nodes.Name(FRAGMENT_VARIABLE, "store"), None, body)
        kept = nodes.Filter(nodes.Name(FRAGMENT_VARIABLE, "load"), KEEP_FILTER, [cache, entry], [], None, None)
        miss = [rendered.set_lineno(lineno), nodes.Output([trusted(kept)]).set_lineno(lineno)]
        return nodes.If(hit, [found], [], miss).set_lineno(lineno)


FRAGMENT_VARIABLE = "_cached_fragment"
"""The template variable a cached fragment renders into when it misses."""
RESERVED_NAMES = frozenset({"fragment_cache", FRAGMENT_VARIABLE})
"""Names only the ``{% cached %}`` tag's own code may use: a layout that
could read or rebind the cache could put its own text there, and a hit is
written out without escaping."""
KEEP_FILTER = "cached:keep"
STORE_TEST = "cached:store"
"""The filter and test the tag's code calls; no layout can spell these names."""


def cached_fragments(tree: nodes.Template) -> Iterator[tuple[nodes.Expr, list[nodes.Node], int]]:
    """Each ``{% cached key %}`` of a parsed layout: its key, body and line."""
    for node in tree.find_all(nodes.If):
        if len(node.else_) != 2:
            continue
        rendered, kept = node.else_
        if not (
            isinstance(rendered, nodes.AssignBlock)
            and isinstance(rendered.target, nodes.Name)
            and rendered.target.name == FRAGMENT_VARIABLE
            and isinstance(kept, nodes.Output)
            and isinstance(kept.nodes[0], nodes.Filter)
            and kept.nodes[0].name == KEEP_FILTER
        ):
            continue
        entry = kept.nodes[0].args[1]
        assert isinstance(entry, nodes.Tuple)
        yield entry.items[1], rendered.body, node.lineno


@jinja2.pass_eval_context
def _keep_fragment(eval_ctx: EvalContext, fragment: str, cache: Any, entry: tuple[Any, Any]) -> str:
    """The ``KEEP_FILTER`` filter: store a fragment just rendered, if there
    is a cache and room in it (its :class:`CacheBudget`, or
    ``FRAGMENT_CACHE_LIMIT`` entries for a plain dict).

    An HTML environment keeps only markup (what autoescaping produced): a hit
    is written without ``escape()``, so a fragment rendered under
    ``{% autoescape false %}`` must not be found by one where it is on.
    """
    if eval_ctx.environment.autoescape and not isinstance(fragment, markupsafe.Markup):
        return fragment
    if isinstance(cache, FragmentStore):
        cache.keep(entry, fragment)
    elif isinstance(cache, dict) and len(cache) < FRAGMENT_CACHE_LIMIT:
        cache[entry] = fragment
    return fragment


def trusted(node: nodes.Expr) -> nodes.Expr:
    """Mark an output expression whose value is already safe HTML (a cached
    fragment): it is written as it is, without the ``escape()`` autoescape
    adds (Jinja allows no custom node types, so the mark is an attribute)."""
    node.trusted_output = True  # type: ignore[attr-defined]
    return node


class TrustedOutputCodeGenerator(CodeGenerator):
    """Jinja's code generator, minus ``escape()`` around output that is safe
    by construction: expressions marked :func:`trusted` and the ``qp`` filter
    (which escapes what it encodes). Escaping such a value again only copies it."""

    def _trusted(self, node: nodes.Expr, frame: Frame, finalize: Any) -> bool:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape or finalize.src is not None:
            return False
        if getattr(node, "trusted_output", False):
            return True
        return isinstance(node, nodes.Filter) and node.name == "qp" and self.environment.filters.get("qp") is _qp_filter

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if self._trusted(node, frame, finalize):
            self.write("(")
        else:
            super()._output_child_pre(node, frame, finalize)


_PLAIN_DICTS: set[type] = {dict}


class ContextDict(dict):  # type: ignore[type-arg]
    """A dict of mailer's own data for layouts, which the sandbox reads like
    a plain dict (see :meth:`LayoutSandbox.getattr`)."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _PLAIN_DICTS.add(cls)


class LayoutSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with fast paths for plain dicts and template globals.

    Render contexts are dicts of data prepared by `mailer`; reading a key of a
    plain dict exposes nothing the sandbox guards (attributes, callables), so
    ``product.title`` on a dict skips the attribute probe and its exception.
    """

    code_generator_class = TrustedOutputCodeGenerator

    def make_globals(self, d: Any) -> Any:
        """A plain dict, not Jinja's ChainMap: every render copies the
        globals into a new context, and copying a ChainMap runs in Python,
        key by key. (Our environments are complete before any template
        compiles, so nothing is lost by not chaining.)"""
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in _PLAIN_DICTS:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return context["l10n"].gettext(message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return context["l10n"].ngettext(singular, plural, n)


@jinja2.pass_context
def _pgettext(context: jinja2.runtime.Context, ctxt: str, message: str) -> str:
    return context["l10n"].translations.pgettext(ctxt, message)


@jinja2.pass_context
def _npgettext(
    context: jinja2.runtime.Context, ctxt: str, singular: str, plural: str, n: int
) -> str:
    return context["l10n"].translations.npgettext(ctxt, singular, plural, n)


@jinja2.pass_context
def _money_filter(context: jinja2.runtime.Context, value: Money) -> str:
    if not isinstance(value, Money):
        raise TypeError(f"the money filter takes a Money value, not {type(value).__name__}")
    return context["l10n"].money(value)


@jinja2.pass_context
def _date_filter(context: jinja2.runtime.Context, value: date | datetime, format: str = "long") -> str:
    return context["l10n"].date(value, format=format)


@jinja2.pass_context
def _datetime_filter(context: jinja2.runtime.Context, value: datetime, format: str = "medium") -> str:
    return context["l10n"].datetime(value, format=format)


@jinja2.pass_context
def _number_filter(context: jinja2.runtime.Context, value: Any) -> str:
    return context["l10n"].number(value)


def _is_dict(value: Any) -> bool:
    """Whether ``value`` can hold cached fragments (a plain type check:
    ``mapping`` asks an abstract base class, which costs more per card)."""
    return isinstance(value, dict)


def make_environment(autoescape: bool) -> LayoutSandbox:
    """The per-recipient environment: sandboxed, strict, translated.

    >>> env = make_environment(True)
    >>> env.from_string("{{ x }}").render(x="<b>")
    '&lt;b&gt;'
    """
    env = LayoutSandbox(
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n", FragmentCache],
        auto_reload=False,
        keep_trailing_newline=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        pgettext=_pgettext,
        npgettext=_npgettext,
        newstyle=True,
    )
    env.filters.update(
        money=_money_filter,
        date=_date_filter,
        datetime=_datetime_filter,
        number=_number_filter,
        qp=_qp_filter,
    )
    env.filters[KEEP_FILTER] = _keep_fragment
    env.tests[STORE_TEST] = _is_dict
    return env


def render(
    layout: CompiledLayout,
    context: Mapping[str, Any],
    *,
    text_context: Mapping[str, Any] | None = None,
    encode_html: bool = False,
) -> RenderedEmail:
    """Render ``layout`` for one recipient.

    ``text_context`` (default: ``context``) renders the text part; it lets a
    caller pass unescaped values and its own fragment cache to the text part.
    ``encode_html`` renders the HTML straight to quoted-printable (give it a
    fragment cache of its own: its fragments are encoded). Raises :class:`SlotError` naming the layout source file, line and variable
    when the context lacks something the layout uses, and :class:`LayoutError`
    when a layout tries something the sandbox forbids.
    """
    encoded = encode_html and layout.encoded_html is not None
    template = layout.encoded_html if encoded else layout.html  # type: ignore[assignment]
    try:
        html = template.render(context)
        template = layout.text
        text = template.render(context if text_context is None else text_context)
    except jinja2.UndefinedError as err:
        raise _located(SlotError, layout, template, err, name=_undefined_name(err.message)) from err
    except SecurityError as err:
        raise _located(LayoutError, layout, template, err, prefix="not allowed in a layout: ") from err
    text = tidy_text(text)
    if encoded:
        return RenderedEmail(text=text, html_encoded=encoded_body(html))
    return RenderedEmail(text=text, _html=html)


def _located(
    kind: type[LayoutError],
    layout: CompiledLayout,
    template: jinja2.Template,
    err: jinja2.TemplateError,
    *,
    prefix: str = "",
    **extra: Any,
) -> LayoutError:
    frame = _template_frame(err, {"<template>"})
    origin = layout.locate(template, frame[1] if frame else None)
    return kind(
        f"{prefix}{err.message or err}",
        layout=layout.name,
        path=origin.path if origin else None,
        line=origin.line if origin else None,
        **extra,
    )
