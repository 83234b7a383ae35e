"""The public face: everything campaign scripts use is in ``mailer.__all__``."""

from __future__ import annotations

import mailer
from mailer.errors import MailerError


def test_all_is_sorted() -> None:
    assert mailer.__all__ == sorted(mailer.__all__)


def test_every_public_name_is_exported_and_exists() -> None:
    for name in mailer.__all__:
        assert hasattr(mailer, name), name
    public = {n for n in vars(mailer) if not n.startswith("_") and not isinstance(getattr(mailer, n), type(mailer))}
    public.discard("annotations")
    assert public <= set(mailer.__all__), sorted(public - set(mailer.__all__))


def test_every_error_is_a_mailer_error() -> None:
    errors = [getattr(mailer, n) for n in mailer.__all__ if n.endswith("Error") or n == "InvalidToken"]
    assert errors and all(issubclass(e, MailerError) for e in errors)
    assert issubclass(mailer.FeedError, ValueError)
    assert issubclass(mailer.LayoutNotFound, LookupError)
