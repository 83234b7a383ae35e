"""Client support: the features an email uses that its target clients do not (fully) support.

:func:`client_support` joins what :func:`~mailer.lint.features.scan_features`
found with the caniemail verdicts of the target clients (each platform at its
latest tested version): one finding per feature that some target does not
support (``n``) or supports only partly (``a``), at the feature's first use.
A feature every target supports, or one the data does not know, gives nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from mailer.lint.caniemail import CanIEmail, Verdict
from mailer.lint.clients import ClientTarget
from mailer.lint.features import Usage
from mailer.lint.findings import Finding

__all__ = ["client_support"]

_PRODUCT_YEAR = re.compile(r"\d{4}")


def client_support(
    usages: Mapping[str, Sequence[Usage]],
    data: CanIEmail,
    clients: Sequence[ClientTarget] | None = None,
    *,
    ignore: Collection[str] = (),
) -> list[Finding]:
    """A ``client-support`` warning for each used feature the ``clients`` fall short on.

    ``ignore`` lists feature slugs not to report (features a team has decided
    to live with). Findings come in the order of the features' first use.

    >>> from mailer.lint.caniemail import parse_caniemail
    >>> data = parse_caniemail({"nicenames": {"family": {"outlook": "Outlook", "gmail": "Gmail"},
    ...                                       "platform": {"windows": "Windows", "android": "Android"}},
    ...     "data": [{"slug": "css-display-flex", "title": "display:flex", "category": "css",
    ...               "url": "https://www.caniemail.com/features/css-display-flex/",
    ...               "stats": {"outlook": {"windows": {"2019": "n"}}, "gmail": {"android": {"2020-11": "a #1"}}},
    ...               "notes_by_num": {"1": "Not supported with non Google accounts."}}]})
    >>> [finding] = client_support({"css-display-flex": [Usage(3, '<div style="display:flex">')]}, data)
    >>> print(finding.message)
    display:flex is not supported in Outlook Windows 2019; partly in Gmail Android. See https://www.caniemail.com/features/css-display-flex/
    >>> finding.clients
    ('Outlook Windows 2019: not supported', 'Gmail Android 2020-11: partial (note: Not supported with non Google accounts.)')
    >>> finding.line, finding.element
    (3, '<div style="display:flex">')
    """
    findings: list[Finding] = []
    for slug, uses in usages.items():
        if slug in ignore or slug not in data.features or not uses:
            continue
        verdicts = [v for v in data.verdicts(slug, clients) if v.support in ("n", "a")]
        if not verdicts:
            continue
        feature = data.features[slug]
        missing = [v for v in verdicts if v.support == "n"]
        partial = [v for v in verdicts if v.support == "a"]
        parts = []
        if missing:
            parts.append(f"is not supported in {_some(missing)}")
        if partial:
            parts.append(f"partly in {_some(partial)}" if missing else f"is only partly supported in {_some(partial)}")
        message = f"{feature.title.strip()} {'; '.join(parts)}."
        if feature.url:
            message += f" See {feature.url}"
        first = uses[0]
        findings.append(Finding("client-support", message, "warning", line=first.line, element=first.element,
                                clients=tuple(v.describe() for v in missing + partial)))  # fmt: skip
    return findings


def _name(verdict: Verdict) -> str:
    """A client as people name it: with its version when that is a product year
    (Outlook 2019), without the test date others are versioned by."""
    return verdict.label if _PRODUCT_YEAR.fullmatch(verdict.version) else verdict.client


def _some(verdicts: Sequence[Verdict]) -> str:
    names = list(dict.fromkeys(_name(v) for v in verdicts))
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} and {len(names) - 1} more"
