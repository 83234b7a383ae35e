"""Fixtures for delivery against a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.smtp_server import ScriptedHandler, SMTPServer


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture
def smtp(handler: ScriptedHandler) -> Iterator[SMTPServer]:
    with SMTPServer(handler) as server:
        yield server
