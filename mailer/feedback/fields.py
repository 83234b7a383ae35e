"""Report fields: the ``Name: value`` blocks of delivery-status and feedback reports.

RFC 3464 (``message/delivery-status``) and RFC 5965
(``message/feedback-report``) bodies are groups of header-like fields,
separated by blank lines; a line starting with white space continues the
field before it. Real reports break the rules (no blank line between
groups, stray text, a report pasted into a ``text/plain`` part), so this
reader never fails: a line that is not a field is skipped.

>>> [(f.name, f.value, f.group) for f in read_fields("Action: failed\\nStatus: 5.1.1\\n\\nAction: delayed")]
[('action', 'failed', 0), ('status', '5.1.1', 0), ('action', 'delayed', 1)]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,76})[ \t]*:[ \t]*(.*)")
_MAX_VALUE = 4000
"""Characters kept of one field's value: a diagnostic longer than this is noise."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field: its name lower-cased, its unfolded value, and the number of
    the blank-line-separated group it came in (0 for the first)."""

    name: str
    value: str
    group: int


def read_fields(text: str) -> Iterator[Field]:
    """The fields of ``text`` in order, continuation lines unfolded.

    >>> [f.value for f in read_fields("Diagnostic-Code: smtp; 550 no\\n  such user\\nnot a field")]
    ['smtp; 550 no such user']
    """
    group = 0
    name: str | None = None
    parts: list[str] = []
    seen_field_in_group = False
    for line in text.splitlines():
        if not line.strip():
            if name is not None:
                yield _field(name, parts, group)
                name = None
            if seen_field_in_group:
                group += 1
                seen_field_in_group = False
            continue
        if line[0] in " \t":
            if name is not None and sum(map(len, parts)) < _MAX_VALUE:
                parts.append(line.strip())
            continue
        if name is not None:
            yield _field(name, parts, group)
            name = None
        match = _FIELD.fullmatch(line.rstrip())
        if match:
            name, parts = match.group(1).lower(), [match.group(2).strip()]
            seen_field_in_group = True
    if name is not None:
        yield _field(name, parts, group)


def _field(name: str, parts: list[str], group: int) -> Field:
    return Field(name, " ".join(part for part in parts if part)[:_MAX_VALUE], group)
