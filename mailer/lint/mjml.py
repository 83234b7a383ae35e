"""MJML tags: catch a misspelt ``<mj-…>`` tag in a layout source before it compiles to nothing.

The MJML compiler drops a tag it does not know (with the content inside it)
and says so only in a validation log; :func:`lint_mjml` names the tag, its
line and the tag probably meant. Template tags (``{{ }}``, ``{% %}``,
``{# #}``, and the compile-time ``[% %]``, ``[[ ]]``, ``[# #]``) and HTML
comments are blanked first, keeping line numbers, so nothing inside them is
taken for a tag; tags inside ``<mj-raw>`` are still checked.
"""

from __future__ import annotations

import difflib
import re

from mailer.lint.findings import Finding, snippet

__all__ = ["MJML_TAGS", "lint_mjml"]

MJML_TAGS: frozenset[str] = frozenset(
    """mjml mj-head mj-body mj-attributes mj-all mj-class mj-breakpoint mj-font mj-html-attributes
    mj-html-attribute mj-selector mj-preview mj-style mj-title mj-accordion mj-accordion-element
    mj-accordion-title mj-accordion-text mj-button mj-carousel mj-carousel-image mj-column mj-divider
    mj-group mj-hero mj-image mj-navbar mj-navbar-link mj-raw mj-section mj-social mj-social-element
    mj-spacer mj-table mj-text mj-wrapper mj-include""".split()
)
"""The tags of MJML 4."""

_HIDDEN = re.compile(r"\{#.*?#\}|\[#.*?#\]|\{%.*?%\}|\[%.*?%\]|\{\{.*?\}\}|\[\[.*?\]\]|<!--.*?-->", re.S)
_ALT = re.compile(r"\salt\s*=", re.I)
_TAG = re.compile(r"<(/?)(mj-[A-Za-z0-9_-]*|mjml[A-Za-z0-9_-]+)(?=[\s/>]|$)[^>]*>?")


def lint_mjml(source: str, *, path: str | None = None) -> list[Finding]:
    """An ``mjml-unknown-tag`` error for each tag MJML 4 does not know, and an
    ``image-alt`` warning for each ``<mj-image>`` without ``alt``.

    >>> [f.message for f in lint_mjml('<mj-section>\\n  <mj-txt align="center">{{ _("Hi") }}</mj-txt>\\n</mj-section>')]
    ['unknown MJML tag <mj-txt> (did you mean <mj-text>?)']
    >>> lint_mjml("<mj-raw>{% if a %}<mj-sektion>{% endif %}</mj-raw>", path="x.mjml")[0].line
    1
    >>> lint_mjml("[# <mj-nope> #]{{ '<mj-nope>' }}<!-- <mj-nope> -->")
    []
    >>> [(f.rule, f.line) for f in lint_mjml('<mj-image src="a.png" />\\n<mj-image src="b.png" alt="" />')]
    [('image-alt', 1)]
    """
    text = _HIDDEN.sub(lambda match: "\n" * match.group(0).count("\n"), source)
    findings: list[Finding] = []
    opened: set[str] = set()
    for match in _TAG.finditer(text):
        closing, name = match.group(1), match.group(2)
        if name == "mj-image" and not closing and not _ALT.search(match.group(0)):
            findings.append(Finding(
                "image-alt",
                "<mj-image> has no alt attribute: with images off (the default in many clients) and for "
                'screen readers it says nothing; give a description, or alt="" for a decorative image',
                line=text.count("\n", 0, match.start()) + 1,
                path=path,
                element=snippet(match.group(0)),
            ))  # fmt: skip
        if name in MJML_TAGS:
            continue
        if closing and name in opened:
            continue  # its opening tag was reported
        opened.add(name)
        close = difflib.get_close_matches(name.lower(), sorted(MJML_TAGS), n=1, cutoff=0.6)
        hint = f" (did you mean <{close[0]}>?)" if close else f"; MJML 4 knows {', '.join(_similar(name))}"
        findings.append(Finding(
            "mjml-unknown-tag",
            f"unknown MJML tag <{closing}{name}>{hint}",
            "error",
            line=text.count("\n", 0, match.start()) + 1,
            path=path,
            element=snippet(match.group(0)),
        ))  # fmt: skip
    return findings


def _similar(name: str) -> list[str]:
    """Some known tags to offer when none is close: those sharing the first word, else the body tags."""
    stem = name.split("-")[1] if name.count("-") else ""
    related = sorted(tag for tag in MJML_TAGS if stem and tag.startswith(f"mj-{stem[:3]}"))
    return related or ["mj-section", "mj-column", "mj-text", "mj-image", "mj-button", "…"]
