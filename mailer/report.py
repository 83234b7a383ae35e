"""Collect the rows a batch skipped, so one bad row never sinks the rest.

A :class:`Report` keeps a count of every problem and the first ``limit`` of
them in full, so a feed with a million broken rows still uses bounded memory.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mailer.errors import InputError, MailerError


@dataclass
class Report:
    """Problems met while reading or rendering a batch.

    >>> report = Report(limit=1)
    >>> report.add(InputError("missing title", path="feed.xml", item="A1"))
    >>> report.add(InputError("bad price", path="feed.xml", item="A2"))
    >>> report.count, len(report.problems)
    (2, 1)
    """

    limit: int = 1000
    count: int = 0
    problems: list[MailerError] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    """Problems per kind (file, field and reason with the row's own values left out)."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """The first few problems of each kind, in full."""

    def add(self, problem: MailerError) -> None:
        self.count += 1
        self.reasons[type(problem).__name__] += 1
        if len(self.problems) < self.limit:
            self.problems.append(problem)
        kind = kind_of(problem)
        if kind not in self.kinds and len(self.kinds) >= MAX_KINDS:
            kind = OTHER_KINDS
        self.kinds[kind] += 1
        examples = self.examples.setdefault(kind, []) if len(self.examples) < self.limit else None
        if examples is not None and len(examples) < EXAMPLES:
            examples.append(_line(problem))

    def summary(self, examples: int = 3) -> dict[str, tuple[int, list[str]]]:
        """Problems summed up by kind, most frequent first, each with its first few examples.

        >>> report = Report()
        >>> for line in (3, 9):
        ...     report.add(InputError("unparseable price '1O.00'", path="feed.csv", line=line, field="price"))
        >>> report.summary()
        {"feed.csv, field 'price': unparseable price '…'": (2, ["feed.csv, line 3, field 'price': unparseable price '1O.00'", "feed.csv, line 9, field 'price': unparseable price '1O.00'"])}
        """
        return {kind: (n, self.examples.get(kind, [])[:examples]) for kind, n in self.kinds.most_common()}

    def __bool__(self) -> bool:
        return self.count > 0

    def lines(self) -> list[str]:
        """One human-readable line per kept problem, plus a tail if some were dropped."""
        out = [_line(p) for p in self.problems]
        if self.count > len(self.problems):
            out.append(f"... and {self.count - len(self.problems)} more")
        return out

    def write_json(self, path: str | Path) -> None:
        """Write the problems as JSON (structured attributes included)."""
        rows = []
        for p in self.problems:
            row = {"error": type(p).__name__, "message": str(p)}
            for attr in ("path", "line", "item", "field", "reason", "layout", "recipient"):
                value = getattr(p, attr, None)
                if value is not None:
                    row[attr] = value
            rows.append(row)
        Path(path).write_text(
            json.dumps({"count": self.count, "problems": rows}, indent=2, ensure_ascii=False),
            encoding="utf-8",
        )


EXAMPLES = 3
MAX_KINDS = 100
"""Kinds of problem told apart; past that many, the rest are counted together."""
OTHER_KINDS = "other problems"

_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+)?(?:Z|[+-]\d{2}:?\d{2})?")


def kind_of(problem: MailerError) -> str:
    """What a problem is, without the values of its own row: problems of one kind share it."""
    path = getattr(problem, "path", None)
    field_name = getattr(problem, "field", None)
    reason = str(getattr(problem, "reason", None) or problem)
    reason = _VALUES.sub("'…'", reason)
    where = ", ".join(part for part in (path, f"field {field_name!r}" if field_name else None) if part)
    return f"{where}: {reason}" if where else reason


def _line(problem: MailerError) -> str:
    recipient = getattr(problem, "recipient", None)
    return f"customer {recipient}: {problem}" if recipient else str(problem)
