"""Shared material for the tracking tests: hostile strings and the rendered sample newsletter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, prepared_sample, shared_path


@pytest.fixture(scope="session")
def hostile() -> list[str]:
    """The Big List of Naughty Strings (skips when the shared material is absent)."""
    strings = json.loads(shared_path("hostile/blns.json").read_text(encoding="utf-8"))
    return [s for s in strings if isinstance(s, str)]


@pytest.fixture(scope="session")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped newsletter composed for the first fixture customer."""
    from mailer.inputs.customers import iter_customers

    state: Path = tmp_path_factory.mktemp("state")
    with prepared_sample(state) as prepared:
        customer = next(iter(iter_customers(FIXTURES / "customers.csv")))
        choice = next(iter(prepared.choices([customer])))
        return prepared.compose(choice)


@pytest.fixture(scope="session")
def newsletter(composed: Any) -> str:
    """Its HTML part (~27 KB)."""
    return str(composed.html)


@pytest.fixture(scope="session")
def newsletter_encoded(composed: Any) -> bytes:
    """Its HTML part as the composer renders it: quoted-printable, ready for the message."""
    encoded = composed.bodies.html_encoded
    assert isinstance(encoded, bytes)
    return encoded
