"""Named IP ranges, and which of them a hit's truncated network falls in.

:class:`Networks` holds ranges under labels ("Apple Private Relay",
"Proofpoint", …) and answers, in logarithmic time, which label covers a
network such as ``203.0.113.0/24`` (a hit's address, truncated at capture; a
range smaller than the truncation counts when it overlaps it). It scales to
Apple's published list of relay egress ranges, which
:meth:`Networks.from_egress_csv` reads.

The default lists are seeds to start from, with their sources: vendors change
their ranges, so an operator should load the current published lists (and
their own findings) and pass them to :class:`mailer.tracking.classify.Rules`.

* :data:`APPLE` — Apple's own ``17.0.0.0/8`` (ARIN: Apple Inc.). Mail Privacy
  Protection fetches remote content through the iCloud Private Relay
  infrastructure (Word to the Wise, "Apple MPP reporting and geolocation",
  2021, from Mailchimp's data), whose egress ranges Apple publishes at
  https://mask-api.icloud.com/egress-ip-ranges.csv ("Prepare your network or
  web server for iCloud Private Relay", developer.apple.com); load it with
  :meth:`Networks.from_egress_csv`.
* :data:`SCANNERS` — the mail-protection networks of Microsoft (Exchange
  Online Protection, from "Microsoft 365 URLs and IP address ranges",
  learn.microsoft.com), Proofpoint (its hosted ``pphosted.com`` ranges),
  Mimecast (its published gateway ranges) and Barracuda (Email Security
  Service). Cisco Secure Email (IronPort) appliances run in their owners'
  networks and have no common range: they are caught by behaviour
  (:mod:`mailer.tracking.classify`).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from functools import lru_cache

from mailer.errors import ConfigError

__all__ = ["APPLE", "SCANNERS", "Networks"]

_Range = tuple[int, int, str]
"""First and last address as integers, and the label."""


@lru_cache(maxsize=4_096)
def _span(network: str) -> tuple[int, int, int] | None:
    """(version, first, last) of a network or address, or None."""
    try:
        parsed = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return None
    return parsed.version, int(parsed.network_address), int(parsed.broadcast_address)


class Networks:
    """Labelled IP ranges (IPv4 and IPv6).

    >>> nets = Networks({"Example": ["192.0.2.0/25", "2001:db8::/32"]})
    >>> nets.find("192.0.2.0/24"), nets.find("2001:db8:5::/48"), nets.find("198.51.100.0/24")
    ('Example', 'Example', None)
    >>> len(nets | Networks({"Other": ["198.51.100.0/24"]}))
    3
    """

    __slots__ = ("_ranges", "_starts", "_reach")

    def __init__(self, ranges: Mapping[str, Iterable[str]] | None = None) -> None:
        by_version: dict[int, list[_Range]] = {4: [], 6: []}
        for label, cidrs in (ranges or {}).items():
            if isinstance(cidrs, str):
                raise ConfigError(f"the ranges of {label!r} must be a list of networks, not one string")
            for cidr in cidrs:
                span = _span(cidr) if isinstance(cidr, str) else None
                if span is None:
                    raise ConfigError(f"{label}: {cidr!r} is not an IP network")
                version, first, last = span
                by_version[version].append((first, last, label))
        self._build(by_version)

    def _build(self, by_version: dict[int, list[_Range]]) -> None:
        self._ranges: dict[int, list[_Range]] = {}
        self._starts: dict[int, list[int]] = {}
        self._reach: dict[int, list[int]] = {}
        for version, ranges in by_version.items():
            ranges.sort()
            reach: list[int] = []
            furthest = -1
            for _, last, _ in ranges:
                furthest = max(furthest, last)
                reach.append(furthest)
            self._ranges[version] = ranges
            self._starts[version] = [first for first, _, _ in ranges]
            self._reach[version] = reach

    @classmethod
    def from_egress_csv(cls, label: str, lines: Iterable[str]) -> Networks:
        """Ranges from lines of Apple's egress list (``prefix,country,region,city,``);
        blank, comment and malformed lines are passed over.

        >>> Networks.from_egress_csv("Apple Private Relay", ["172.224.226.0/27,GB,GB-EN,London,", "junk"]).find("172.224.226.0/24")
        'Apple Private Relay'
        """
        cidrs = []
        for line in lines:
            prefix = line.partition(",")[0].strip() if isinstance(line, str) else ""
            if prefix and not prefix.startswith("#") and _span(prefix) is not None:
                cidrs.append(prefix)
        return cls({label: cidrs})

    def __or__(self, other: Networks) -> Networks:
        merged = Networks()
        merged._build({v: self._ranges[v] + other._ranges[v] for v in (4, 6)})
        return merged

    def __len__(self) -> int:
        return len(self._ranges[4]) + len(self._ranges[6])

    def find(self, network: str) -> str | None:
        """The label of a range that overlaps ``network`` (a prefix or an
        address), or ``None``; ``""`` and anything unparseable find nothing."""
        span = _span(network) if isinstance(network, str) and network and len(network) <= 64 else None
        if span is None:
            return None
        version, first, last = span
        ranges, reach = self._ranges[version], self._reach[version]
        index = bisect_right(self._starts[version], last) - 1
        # Ranges starting at or before ``last``, walked back while one could still reach ``first``.
        while index >= 0 and reach[index] >= first:
            start, end, label = ranges[index]
            if end >= first:
                return label
            index -= 1
        return None


APPLE = Networks({"Apple": ["17.0.0.0/8"]})
"""Apple's own network; add the Private Relay egress list (see the module docstring)."""

SCANNERS = Networks(
    {
        "Microsoft Exchange Online Protection": [
            "40.92.0.0/15",
            "40.107.0.0/16",
            "52.100.0.0/14",
            "104.47.0.0/17",
            "2a01:111:f400::/48",
            "2a01:111:f403::/48",
        ],
        "Proofpoint": ["67.231.144.0/20", "148.163.128.0/19"],
        "Mimecast": ["91.220.42.0/24", "195.130.217.0/24", "205.139.110.0/24", "207.211.30.0/24"],
        "Barracuda": ["64.235.144.0/20", "209.222.80.0/21"],
    }
)
"""Mail-protection networks whose requests are link scanners (see the module docstring)."""
