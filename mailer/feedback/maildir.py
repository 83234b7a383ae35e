"""Reading feedback from a Maildir: the mailbox a return path delivers to.

:func:`read_maildir` parses each message not yet processed and yields its
key with the :class:`~mailer.feedback.records.Feedback`; once the caller
has acted on it (suppressed, counted), :func:`mark_processed` moves it to
``cur/`` with the seen flag (``S``), so the next run skips it. A message that
cannot be read (a file removed meanwhile, unreadable bytes) is yielded as
``not-feedback`` with the reason; it never stops the loop.

Listing and reading go through the stdlib :class:`mailbox.Maildir`;
marking renames the file as the Maildir layout prescribes
(``new/<key>`` → ``cur/<key>:2,S``), which keeps the message's bytes as
they arrived (``mailbox.Maildir`` in Python 3.11 can only change flags by
rewriting the message).

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> box = mailbox.Maildir(root / "bounces")
>>> key = box.add(b"From: MAILER-DAEMON@mx.example.com\\nSubject: failure notice\\n\\n<ann@example.com>:\\nSorry, no mailbox here by that name. (#5.1.1)\\n")
>>> [(k == key, feedback.kind) for k, feedback in read_maildir(root / "bounces")]
[(True, 'hard')]
>>> mark_processed(root / "bounces", key)
>>> list(read_maildir(root / "bounces"))
[]
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

from mailer.errors import ConfigError
from mailer.feedback.parse import parse_feedback
from mailer.feedback.records import Feedback

__all__ = ["mark_processed", "read_maildir"]

SEEN = "S"
"""The Maildir flag for a message that was read (here: acted on)."""


def read_maildir(path: str | os.PathLike[str], *, include_processed: bool = False) -> Iterator[tuple[str, Feedback]]:
    """``(key, feedback)`` for each message in the Maildir at ``path``
    (``new/`` and ``cur/``), skipping those marked seen unless
    ``include_processed``. Raises :class:`~mailer.errors.ConfigError` when
    ``path`` is not a Maildir.
    """
    root = _maildir(path)
    box = mailbox.Maildir(root, factory=None, create=False)
    processed = set() if include_processed else _seen_keys(root, box.colon)
    for key in box.iterkeys():
        if key in processed:
            continue
        try:
            data = box.get_bytes(key)
        except (OSError, KeyError) as err:
            yield key, Feedback("not-feedback", f"the message file could not be read: {type(err).__name__}: {err}")
            continue
        yield key, parse_feedback(data)


def mark_processed(path: str | os.PathLike[str], key: str) -> None:
    """Move message ``key`` of the Maildir at ``path`` to ``cur/`` with the
    seen flag, keeping its other flags and its bytes. Raises
    :class:`KeyError` when no such message is there.
    """
    root = _maildir(path)
    if not key or os.sep in key or "/" in key or key in (".", ".."):
        raise KeyError(key)
    colon = mailbox.Maildir.colon
    fresh = root / "new" / key
    if fresh.is_file():
        os.replace(fresh, root / "cur" / f"{key}{colon}2,{SEEN}")
        return
    with os.scandir(root / "cur") as entries:
        for entry in entries:
            name, _, info = entry.name.partition(colon)
            if name != key:
                continue
            flags = info[2:] if info.startswith("2,") else ""
            if SEEN not in flags:
                os.replace(entry.path, root / "cur" / f"{key}{colon}2,{''.join(sorted(flags + SEEN))}")
            return
    raise KeyError(key)


def _maildir(path: str | os.PathLike[str]) -> Path:
    root = Path(path)
    if not all((root / sub).is_dir() for sub in ("new", "cur")):
        raise ConfigError(f"{root}: not a Maildir (it needs new/ and cur/ directories)")
    return root


def _seen_keys(root: Path, colon: str) -> set[str]:
    seen = set()
    with os.scandir(root / "cur") as entries:
        for entry in entries:
            name, _, info = entry.name.partition(colon)
            if info.startswith("2,") and SEEN in info[2:]:
                seen.add(name)
    return seen
