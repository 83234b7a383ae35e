"""Findings: what a check says about a rendered email or a layout source.

Every check of :mod:`mailer.lint` returns a list of :class:`Finding`; the
preview page shows them beside the email and ``mailer lint`` prints them or
writes them as JSON (:meth:`Finding.to_json`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Finding", "Severity", "snippet"]

Severity = Literal["error", "warning"]

SNIPPET_CHARS = 120
_SPACES = re.compile(r"\s+")


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis.

    >>> snippet('<img\\n   src="https://cdn.shop.test/hero.jpg">')
    '<img src="https://cdn.shop.test/hero.jpg">'
    >>> snippet("x" * 200, 10)
    'xxxxxxxxx…'
    """
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to fix (``error``) or to look at (``warning``).

    ``rule`` is a stable id (``image-alt``, ``https-links``,
    ``unsubscribe-link``, ``html-size``, ``client-support``,
    ``mjml-unknown-tag``, ``untranslated``). ``line`` is 1-based, in
    ``path`` (a layout source) or, when ``path`` is ``None``, in the rendered
    HTML. ``element`` is a short snippet of what is at fault; ``clients``
    lists, for ``client-support``, each affected client and its verdict.

    >>> finding = Finding("image-alt", "image has no alt text", line=12, element='<img src="a.png">')
    >>> finding.to_json()
    {'rule': 'image-alt', 'message': 'image has no alt text', 'severity': 'warning', 'line': 12, 'element': '<img src="a.png">'}
    >>> print(finding)
    line 12: warning: image has no alt text [image-alt]
    """

    rule: str
    message: str
    severity: Severity = "warning"
    line: int | None = None
    path: str | None = None
    element: str | None = None
    clients: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; optional fields that are ``None`` or empty are left out."""
        data: dict[str, Any] = {"rule": self.rule, "message": self.message, "severity": self.severity}
        if self.line is not None:
            data["line"] = self.line
        if self.path is not None:
            data["path"] = self.path
        if self.element:
            data["element"] = self.element
        if self.clients:
            data["clients"] = list(self.clients)
        return data

    def __str__(self) -> str:
        where = [part for part in (self.path, f"line {self.line}" if self.line is not None else None) if part]
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.severity}: {self.message} [{self.rule}]"
