"""Tracking consent: what may be recorded about one recipient's opens and clicks.

``personal``
    per-person opens and clicks: the message's tracking URLs name it
    (:meth:`mailer.tracking.links.TrackingUrls.personal`).
``aggregate``
    anonymous totals only: the pixel counts toward the campaign's opens and
    links redirect through tokens that name the campaign's link and nobody
    (:meth:`mailer.tracking.links.TrackingUrls.anonymous`).

The customer's own answer decides when there is one (a consent field holding
true or false). When there is none, a default per country applies: France and
Italy now require consent for per-person open tracking (for France, the CNIL's
2025 recommendation on tracking pixels in email), so by default FR and IT get
``aggregate`` and everywhere else ``personal``. Every default is
configuration (:class:`ConsentPolicy`). A value that is neither true, false
nor empty is taken as no consent: when in doubt, record nothing personal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

from mailer.errors import ConfigError, CustomerError

__all__ = ["ConsentPolicy", "Decision", "Recording", "parse_consent"]

Recording = Literal["personal", "aggregate"]
RECORDINGS: tuple[str, ...] = get_args(Recording)

_YES = frozenset({"true", "yes", "y", "1", "on", "t"})
_NO = frozenset({"false", "no", "n", "0", "off", "f"})
_EMPTY = frozenset({"", "null", "none", "unknown", "n/a", "na", "-"})


def parse_consent(value: bool | str | None, *, field: str = "tracking_consent") -> bool | None:
    """A consent field's value: ``True``, ``False`` or ``None`` (not given).

    >>> parse_consent("Yes"), parse_consent("0"), parse_consent(" "), parse_consent(None)
    (True, False, None, None)
    >>> parse_consent("maybe")
    Traceback (most recent call last):
    ...
    mailer.errors.CustomerError: field 'tracking_consent': expected true, false or empty, got 'maybe'
    """
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None:
        raise CustomerError(f"expected true, false or empty, got {value!r}", field=field)
    if text in _YES:
        return True
    if text in _NO:
        return False
    if text in _EMPTY:
        return None
    raise CustomerError(f"expected true, false or empty, got {value[:40]!r}", field=field)


@dataclass(frozen=True, slots=True)
class Decision:
    """What may be recorded for one recipient, and why."""

    recording: Recording
    reason: str

    @property
    def personal(self) -> bool:
        return self.recording == "personal"


def _default_countries() -> Mapping[str, Recording]:
    return MappingProxyType({"FR": "aggregate", "IT": "aggregate"})


@dataclass(frozen=True, kw_only=True)
class ConsentPolicy:
    """How a recipient's tracking is decided when they have not said.

    ``default`` applies where ``countries`` (ISO 3166-1 alpha-2 code →
    recording) says nothing.

    >>> policy = ConsentPolicy()
    >>> policy.decide(None, "fr").recording, policy.decide(None, "DE").recording
    ('aggregate', 'personal')
    >>> policy.decide("true", "FR")
    Decision(recording='personal', reason='the customer consented')
    >>> ConsentPolicy(default="aggregate", countries={}).decide("", "US").reason
    'no answer; the default for US is aggregate'
    """

    default: Recording = "personal"
    countries: Mapping[str, Recording] = field(default_factory=_default_countries)

    def __post_init__(self) -> None:
        if self.default not in RECORDINGS:
            raise ConfigError(f"the default tracking must be one of {RECORDINGS}, got {self.default!r}")
        normalised: dict[str, Recording] = {}
        for country, recording in dict(self.countries).items():
            code = country.strip().upper() if isinstance(country, str) else ""
            if len(code) != 2 or not code.isascii() or not code.isalpha():
                raise ConfigError(f"tracking consent: {country!r} is not a two-letter country code")
            if recording not in RECORDINGS:
                raise ConfigError(f"tracking consent for {code} must be one of {RECORDINGS}, got {recording!r}")
            normalised[code] = recording
        object.__setattr__(self, "countries", MappingProxyType(normalised))

    def decide(self, consent: bool | str | None, country: str | None) -> Decision:
        """What may be recorded for a recipient whose consent field holds
        ``consent`` and who lives in ``country`` (a two-letter code, any case;
        ``None`` or empty: unknown, the policy's ``default`` applies)."""
        try:
            answer = parse_consent(consent)
        except CustomerError:
            return Decision("aggregate", "the consent field holds neither true, false nor empty")
        if answer is True:
            return Decision("personal", "the customer consented")
        if answer is False:
            return Decision("aggregate", "the customer declined")
        code = country.strip().upper() if isinstance(country, str) else ""
        recording = self.countries.get(code, self.default)
        known = len(code) == 2 and code.isascii() and code.isalpha()
        where = f"for {code}" if known else "where the country is unknown"
        return Decision(recording, f"no answer; the default {where} is {recording}")
