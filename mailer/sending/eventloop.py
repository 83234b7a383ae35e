"""The event loop workers run on: uvloop where it is installed (a dependency
on Linux and macOS), else asyncio's own. Sending is event-loop bound, and
uvloop's loop costs less per socket read and timer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop (like :func:`asyncio.run`)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
