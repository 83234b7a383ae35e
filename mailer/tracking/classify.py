"""Who opened and who clicked: a message's hits judged human or machine.

:func:`classify` takes one message's delivery time and hits and gives each
hit a verdict and a reason, and the message a :class:`Summary`. It is pure:
no clock, no store, no network look-ups.

Verdicts:

``human``
    a person opened or clicked.
``machine_open``
    an image fetch no person caused (a privacy proxy prefetching, a gateway
    rendering the message).
``scanner``
    a click no person made (a mail-security link scanner, a prefetch, a link check).
``unknown``
    not enough to tell; counted as neither.

**Opens**, first rule that applies:

1. not a ``GET``: a machine (link checkers send ``HEAD``).
2. Apple Mail Privacy Protection: the bare user agent ``Mozilla/5.0`` (what
   its proxy sends, as reported by ESPs since 2021, e.g. SocketLabs' "Identifying
   Apple MPP opens") or an address in Apple's ranges
   (:data:`mailer.tracking.networks.APPLE`, plus Private Relay's egress list
   when loaded): MPP fetches every image when the message arrives, read or not,
   so these are ``machine_open``.
3. Gmail's and Yahoo Mail's image proxies (``GoogleImageProxy``,
   ``YahooMailProxy`` in the user agent): they fetch images when the person
   opens the message (and cache them), so these are ``human`` opens, even
   though the address is the proxy's (Google's "image URL proxy" help;
   Yahoo's help article SLN28749 named in its user agent).
4. a scanner network or user agent (below): ``machine_open``.
5. from the network of scanner clicks within ``honeypot_window`` seconds of
   them: the scanner rendering the message, ``machine_open``.
6. within ``delivery_window`` seconds of delivery: ``unknown`` (too soon to
   tell a person from a gateway); no user agent: ``unknown``; else ``human``.

**Clicks**, first rule that applies (all give ``scanner``):

1. the honeypot link (:data:`~mailer.tracking.links.HONEYPOT`), hidden from
   people: only machines follow it (the technique Mautic users report
   working, mautic/mautic#9798);
2. not a ``GET`` (Office's "Existence Discovery" and link checkers send
   ``HEAD``/``OPTIONS``), or a prefetch (``Sec-Purpose: prefetch`` and kin);
3. from a mail-security network (:data:`mailer.tracking.networks.SCANNERS`:
   Microsoft Exchange Online Protection / Defender Safe Links, Proofpoint,
   Mimecast, Barracuda), or a user agent naming a vendor (Proofpoint,
   Mimecast, Barracuda, IronPort, Safe Links), an automation tool (headless
   Chrome, curl, python-requests, Go, Java, …), a crawler, or the bare
   ``Mozilla/5.0`` no browser sends;
4. within ``honeypot_window`` (10 s) of a honeypot click;
5. a burst: clicks less than ``burst_gap`` (1 s) apart covering at least
   ``burst_share`` (half) of the message's links, and at least two: no person
   clicks most of a newsletter's links in a second or two; scanners do
   (gophish/gophish#2446, resend/resend-node#901: every link, seconds after
   delivery, from data-centre addresses with varying browser agents);
6. clicks from ``spread_networks`` (3) or more /24 (/48) networks within
   ``spread_window`` (5 s): a sandbox farm, not one person;
7. within ``delivery_window`` (10 s) of delivery (or before it was recorded):
   gateways scan before the message reaches the inbox.

Otherwise a click is ``human``, or ``unknown`` without a user agent.

Each rule looks only at its own hits and their neighbours in time, so a
scanner burst at delivery takes nothing from a person's click an hour later:
that click is ``human`` and counts. Scanner clicks count as no click and no
unsubscribe (:attr:`Summary.unsubscribed` counts human clicks only).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from mailer.errors import ConfigError
from mailer.tracking.hits import Hit
from mailer.tracking.links import HONEYPOT
from mailer.tracking.networks import APPLE, SCANNERS, Networks

__all__ = ["RULES", "Classification", "Judged", "Rules", "Summary", "Verdict", "classify"]

Verdict = Literal["human", "machine_open", "scanner", "unknown"]

_APPLE_PROXY_AGENT = "Mozilla/5.0"
_IMAGE_PROXIES = (("GoogleImageProxy", "Gmail's image proxy"), ("YahooMailProxy", "Yahoo Mail's image proxy"))
_SCANNER_AGENT = re.compile(
    r"(?P<vendor>proofpoint|mimecast|barracuda|ironport|safe ?links)"
    r"|(?P<tool>headlesschrome|phantomjs|python-requests|python-urllib|aiohttp|python-httpx|curl/|wget/"
    r"|go-http-client|java/|okhttp|apache-httpclient|libwww-perl|scrapy|node-fetch|axios/"
    r"|microsoft office (?:existence|protocol) discovery|(?:bot|crawler|spider)/)"
)
"""Matched against the lower-cased user agent (a case-insensitive search costs several times more)."""
_PRODUCT = re.compile(r"[^\s;()]*$")
_PREFETCH_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")


@dataclass(frozen=True, kw_only=True)
class Rules:
    """The thresholds and ranges :func:`classify` judges by (seconds).

    >>> Rules(delivery_window=30).burst_gap
    1.0
    """

    delivery_window: float = 10.0
    burst_gap: float = 1.0
    burst_share: float = 0.5
    honeypot_window: float = 10.0
    spread_window: float = 5.0
    spread_networks: int = 3
    apple: Networks = APPLE
    scanners: Networks = SCANNERS

    def __post_init__(self) -> None:
        for name in ("delivery_window", "burst_gap", "honeypot_window", "spread_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ConfigError(f"{name} must be a number of seconds, at least 0, got {value!r}")
        if not isinstance(self.burst_share, int | float) or not 0 < self.burst_share <= 1:
            raise ConfigError(f"burst_share must be above 0 and at most 1, got {self.burst_share!r}")
        if isinstance(self.spread_networks, bool) or not isinstance(self.spread_networks, int) or self.spread_networks < 2:
            raise ConfigError(f"spread_networks must be an integer of at least 2, got {self.spread_networks!r}")


RULES = Rules()


@dataclass(frozen=True, slots=True)
class Judged:
    """One hit, its verdict and why."""

    hit: Hit
    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True)
class Summary:
    """What a message's hits add up to."""

    human_opened: bool
    """A person opened it (a human open, or a human click, which implies one)."""
    machine_opened: bool
    human_clicks: tuple[int, ...]
    """The links people clicked, each once, in the order first clicked."""
    scanned: bool
    """A scanner clicked (or fetched) something."""
    unsubscribed: bool
    """A person clicked one of the ``unsubscribe_links``."""
    first_human_at: float | None


@dataclass(frozen=True, slots=True)
class Classification:
    """Every hit judged (in time order) and the message's summary."""

    hits: tuple[Judged, ...]
    summary: Summary


@lru_cache(maxsize=4_096)
def _agent_signal(agent: str) -> str | None:
    """Why a user agent is a machine's, or None (remembered: agents recur)."""
    if agent == _APPLE_PROXY_AGENT:
        return "the bare user agent 'Mozilla/5.0' is no browser's"
    lowered = agent.lower()
    match = _SCANNER_AGENT.search(lowered)
    if match is None:
        return None
    if match.group("vendor"):
        return f"user agent names {match.group('vendor')}, a link scanner"
    product = _PRODUCT.search(lowered, 0, match.start()).group() + match.group("tool")  # type: ignore[union-attr]
    return f"user agent of an automated client ({product.rstrip('/')})"


def _prefetch(hit: Hit) -> str | None:
    for name in _PREFETCH_HEADERS:
        value = hit.headers.get(name, "")
        if "prefetch" in value.lower() or "preview" in value.lower():
            return f"{name}: {value}"
    return None


def _near(times: list[float], at: float, window: float) -> bool:
    """Whether a time in sorted ``times`` lies within ``window`` of ``at``."""
    index = bisect_left(times, at - window)
    return index < len(times) and times[index] <= at + window


def _bursts(clicks: list[Hit], links: int, rules: Rules) -> dict[int, str]:
    """Indices (into ``clicks``) of clicks in bursts, with the reason."""
    needed = max(2, math.ceil(rules.burst_share * links))
    found: dict[int, str] = {}
    start = 0
    for end in range(1, len(clicks) + 1):
        if end < len(clicks) and clicks[end].at - clicks[end - 1].at <= rules.burst_gap:
            continue
        distinct = {c.link for c in clicks[start:end] if c.link != HONEYPOT}
        if len(distinct) >= needed:
            span = clicks[end - 1].at - clicks[start].at
            of = f" of {links}" if links else ""
            reason = f"burst: {len(distinct)}{of} links clicked within {span:.1f} s"
            found.update(dict.fromkeys(range(start, end), reason))
        start = end
    return found


def _spread(clicks: list[Hit], rules: Rules) -> dict[int, str]:
    """Indices of clicks from many networks within a few seconds, with the reason."""
    found: dict[int, str] = {}
    counts: Counter[str] = Counter()
    left = marked = 0
    for right, click in enumerate(clicks):
        if click.network:
            counts[click.network] += 1
        while click.at - clicks[left].at > rules.spread_window:
            gone = clicks[left].network
            if gone:
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
            left += 1
        if len(counts) >= rules.spread_networks:
            reason = f"clicks from {len(counts)} networks within {rules.spread_window:g} s"
            for index in range(max(left, marked), right + 1):
                found[index] = reason
            marked = right + 1
    return found


def _judge_click(
    hit: Hit, delivered_at: float | None, rules: Rules, honeypots: list[float], group: str | None
) -> tuple[Verdict, str]:
    if hit.link == HONEYPOT:
        return "scanner", "the hidden honeypot link: people cannot see it"
    if hit.method != "GET":
        return "scanner", f"{hit.method} request: a link check, not a visit"
    prefetch = _prefetch(hit)
    if prefetch:
        return "scanner", f"a prefetch ({prefetch}), not a click"
    label = rules.scanners.find(hit.network)
    if label:
        return "scanner", f"from {label}'s network {hit.network}"
    agent = _agent_signal(hit.user_agent)
    if agent:
        return "scanner", agent
    if honeypots and _near(honeypots, hit.at, rules.honeypot_window):
        return "scanner", f"within {rules.honeypot_window:g} s of a honeypot click"
    if group:
        return "scanner", group
    if delivered_at is not None and hit.at - delivered_at < rules.delivery_window:
        return "scanner", f"clicked {hit.at - delivered_at:.1f} s after delivery: a gateway scanning it"
    if not hit.user_agent:
        return "unknown", "no user agent"
    return "human", "a click with no sign of a machine"


def _judge_open(
    hit: Hit, delivered_at: float | None, rules: Rules, scanner_times: dict[str, list[float]]
) -> tuple[Verdict, str]:
    if hit.method not in ("GET", "HEAD"):
        return "machine_open", f"{hit.method} request for the pixel"
    if hit.method == "HEAD":
        return "machine_open", "HEAD request for the pixel: a check, not a display"
    agent = hit.user_agent
    if agent == _APPLE_PROXY_AGENT:
        return "machine_open", "Apple Mail Privacy Protection: its proxy prefetches with the user agent 'Mozilla/5.0'"
    label = rules.apple.find(hit.network)
    if label:
        return "machine_open", f"Apple Mail Privacy Protection: fetched from {label}'s network {hit.network}"
    for marker, proxy in _IMAGE_PROXIES:
        if marker in agent:
            return "human", f"{proxy} fetches images when the message is opened"
    label = rules.scanners.find(hit.network)
    if label:
        return "machine_open", f"fetched from {label}'s network {hit.network}"
    signal = _agent_signal(agent)
    if signal:
        return "machine_open", signal
    times = scanner_times.get(hit.network)
    if times and _near(times, hit.at, rules.honeypot_window):
        return "machine_open", "fetched from the network of a scanner's clicks, at the same time"
    if delivered_at is not None and hit.at - delivered_at < rules.delivery_window:
        return "unknown", f"opened {hit.at - delivered_at:.1f} s after delivery: too soon to tell a person from a gateway"
    if not agent:
        return "unknown", "no user agent"
    return "human", "the image was loaded, with no sign of a machine"


def classify(
    hits: Iterable[Hit],
    *,
    delivered_at: float | None,
    links: int,
    unsubscribe_links: Collection[int] = (),
    rules: Rules = RULES,
) -> Classification:
    """Judge one message's hits (see the module docstring for the rules).

    ``delivered_at`` is when the receiving server accepted the message (None:
    unknown, the delivery-time rules are skipped); ``links`` how many tracked
    links the message has (the honeypot aside); ``unsubscribe_links`` the
    indices of links that unsubscribe, if any are tracked. Hits may come in
    any order; the result lists them by time.

    >>> from mailer.tracking.hits import capture
    >>> safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    >>> hits = [capture(at=1000.4, kind="open", message=9, user_agent="Mozilla/5.0", address="17.58.1.9"),
    ...         capture(at=4600.0, kind="click", message=9, link=3, user_agent=safari, address="81.2.69.160")]
    >>> result = classify(hits, delivered_at=1000.0, links=9)
    >>> [(j.verdict, j.reason) for j in result.hits][0]
    ('machine_open', "Apple Mail Privacy Protection: its proxy prefetches with the user agent 'Mozilla/5.0'")
    >>> result.summary.human_clicks, result.summary.human_opened, result.summary.machine_opened
    ((3,), True, True)
    """
    ordered = sorted(hits, key=lambda hit: hit.at)
    positions = [index for index, hit in enumerate(ordered) if hit.kind == "click"]
    clicks = [ordered[index] for index in positions]
    honeypots = [hit.at for hit in clicks if hit.link == HONEYPOT]
    groups = _spread(clicks, rules)
    groups.update(_bursts(clicks, links, rules))  # a burst's reason says more
    verdicts: dict[int, tuple[Verdict, str]] = {}
    scanner_times: dict[str, list[float]] = {}
    for number, (index, hit) in enumerate(zip(positions, clicks)):
        verdicts[index] = _judge_click(hit, delivered_at, rules, honeypots, groups.get(number))
        if verdicts[index][0] == "scanner" and hit.network:
            scanner_times.setdefault(hit.network, []).append(hit.at)
    judged = []
    for index, hit in enumerate(ordered):
        found = verdicts.get(index) or _judge_open(hit, delivered_at, rules, scanner_times)
        judged.append(Judged(hit, *found))
    return Classification(tuple(judged), _summarise(judged, unsubscribe_links))


def _summarise(judged: list[Judged], unsubscribe_links: Collection[int]) -> Summary:
    human_clicks: dict[int, None] = {}
    first_human_at = None
    human_opened = machine_opened = scanned = unsubscribed = False
    for item in judged:
        hit = item.hit
        if item.verdict == "human":
            human_opened = True
            if first_human_at is None:
                first_human_at = hit.at
            if hit.kind == "click" and hit.link is not None:
                human_clicks.setdefault(hit.link)
                unsubscribed = unsubscribed or hit.link in unsubscribe_links
        elif item.verdict == "machine_open":
            machine_opened = True
        elif item.verdict == "scanner":
            scanned = True
    return Summary(human_opened, machine_opened, tuple(human_clicks), scanned, unsubscribed, first_human_at)
