"""Collect the rows a batch skipped, so one bad row never sinks the rest.

A :class:`Report` keeps a count of every problem and the first ``limit`` of
them in full, so a feed with a million broken rows still uses bounded memory.
"""

from __future__ import annotations

import json
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

    def add(self, problem: MailerError) -> None:
        self.count += 1
        self.reasons[type(problem).__name__] += 1
        if len(self.problems) < self.limit:
            self.problems.append(problem)

    def __bool__(self) -> bool:
        return self.count > 0

    def lines(self) -> list[str]:
        """One human-readable line per kept problem, plus a tail if some were dropped."""
        out = [
            f"customer {p.recipient}: {p}" if getattr(p, "recipient", None) else str(p)  # type: ignore[attr-defined]
            for p in self.problems
        ]
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
