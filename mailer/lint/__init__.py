"""Lint: what is wrong with a rendered email or a layout before it reaches an inbox.

The checks behind the preview page and ``mailer lint``; pure functions over
strings and plain data, each returning :class:`Finding` objects:

* :func:`lint_html` — a rendered email: its size against Gmail's clipping,
  the unsubscribe link, image ``alt`` texts, ``http://`` and relative
  addresses and, given the caniemail.com data (:func:`load_caniemail`), the
  HTML and CSS features its target clients (:func:`parse_clients`) do not
  support (:func:`scan_features` finds them).
* :func:`lint_mjml` — a layout source: tags MJML does not know.
* :func:`untranslated` and :func:`untranslated_campaign` — the layout messages
  and campaign texts a language would show in the default language.
"""

from __future__ import annotations

from mailer.lint.caniemail import CanIEmail, Feature, Verdict, load_caniemail, parse_caniemail
from mailer.lint.clients import DEFAULT_CLIENTS, ClientTarget, parse_clients
from mailer.lint.features import DETECTABLE, Usage, scan_features
from mailer.lint.findings import Finding
from mailer.lint.mjml import lint_mjml
from mailer.lint.rules import lint_html
from mailer.lint.translations import untranslated, untranslated_campaign

__all__ = [
    "CanIEmail",
    "ClientTarget",
    "DEFAULT_CLIENTS",
    "DETECTABLE",
    "Feature",
    "Finding",
    "Usage",
    "Verdict",
    "lint_html",
    "lint_mjml",
    "load_caniemail",
    "parse_caniemail",
    "parse_clients",
    "scan_features",
    "untranslated",
    "untranslated_campaign",
]
