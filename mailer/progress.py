"""Progress for long work, on a terminal only: a bar with the rate and the time left.

Queueing, checking and rendering a campaign stream their customers through
:func:`counted`; delivery updates a :func:`bar` from the store's counts. In a
pipe, in CI (``$CI`` set) or with ``$MAILER_NO_PROGRESS`` nothing is drawn and
the wrappers cost one ``isatty`` call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["bar", "count_rows", "counted", "enabled"]

T = TypeVar("T")


def enabled() -> bool:
    """Whether progress is shown: standard error is a terminal, not in CI."""
    return sys.stderr.isatty() and not os.environ.get("CI") and not os.environ.get("MAILER_NO_PROGRESS")


def bar(description: str, total: int | None, unit: str = "row") -> Any:
    """A tqdm bar on standard error (disabled where :func:`enabled` says no)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=f" {unit}", disable=not enabled(), dynamic_ncols=True,
                leave=True, file=sys.stderr)  # fmt: skip


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Data rows in a CSV or JSON Lines file (lines, less a CSV header), read
    in large blocks: about a second for ten million rows. ``None`` if unreadable."""
    path = Path(path)
    lines = 0
    last = b"\n"
    try:
        with path.open("rb") as file:
            first = file.read(1)
            file.seek(0)
            while block := file.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None
    if last != b"\n":
        lines += 1
    header = 0 if first in (b"{", b"[") else 1
    return max(lines - header, 0)


def counted(items: Iterable[T], description: str, *, total: int | None = None, unit: str = "customer") -> Iterator[T]:
    """``items``, unchanged, with a progress bar while they stream."""
    if not enabled():
        yield from items
        return
    with bar(description, total, unit) as progress:
        for item in items:
            yield item
            progress.update(1)
