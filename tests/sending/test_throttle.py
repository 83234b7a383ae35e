"""Token-bucket arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import ConfigError
from mailer.sending.throttle import RateLimit, reserve


@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(1, 10),
    arrivals=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=80),
)
def test_sends_never_exceed_burst_plus_rate_times_span(rate: float, burst: int, arrivals: list[float]) -> None:
    level = updated = None
    sends = []
    for now in sorted(arrivals):
        level, wait = reserve(level, updated, now=now, rate=rate, burst=burst)
        updated = now if updated is None else max(updated, now)
        sends.append(now + wait)
    sends.sort()
    for i, start in enumerate(sends):
        for j in range(i, len(sends)):
            span = sends[j] - start
            assert j - i + 1 <= burst + rate * span + 1e-6


def test_rate_limit_validation() -> None:
    with pytest.raises(ConfigError):
        RateLimit(0)
    with pytest.raises(ConfigError):
        RateLimit(1, burst=0.5)
