"""Named IP ranges and the lookup of truncated networks."""

from __future__ import annotations

from typing import Any

import pytest

from mailer.errors import ConfigError
from mailer.tracking.networks import APPLE, SCANNERS, Networks


def test_a_truncated_network_inside_a_range_is_found() -> None:
    assert APPLE.find("17.58.101.0/24") == "Apple"
    assert SCANNERS.find("40.107.22.0/24") == "Microsoft Exchange Online Protection"
    assert SCANNERS.find("148.163.150.0/24") == "Proofpoint"
    assert SCANNERS.find("207.211.30.0/24") == "Mimecast"
    assert SCANNERS.find("64.235.150.0/24") == "Barracuda"
    assert SCANNERS.find("2a01:111:f400::/48") == "Microsoft Exchange Online Protection"


def test_a_range_smaller_than_the_truncation_counts_when_it_overlaps() -> None:
    nets = Networks({"Small": ["198.51.100.128/26"]})
    assert nets.find("198.51.100.0/24") == "Small"
    assert nets.find("198.51.101.0/24") is None


def test_networks_outside_every_range_are_not_found() -> None:
    for network in ("81.2.69.0/24", "66.249.84.0/24", "2001:db8::/48", "", "junk", "17.0.0.0/8x"):
        assert SCANNERS.find(network) is None
    assert APPLE.find("18.0.0.0/24") is None


def test_nested_and_overlapping_ranges_are_all_found() -> None:
    nets = Networks({"Wide": ["10.0.0.0/8"], "Narrow": ["10.1.2.0/24"], "Later": ["11.0.0.0/24"]})
    assert nets.find("10.1.2.0/24") in ("Wide", "Narrow")
    assert nets.find("10.200.0.0/24") == "Wide"
    assert nets.find("11.0.0.0/24") == "Later"
    assert nets.find("12.0.0.0/24") is None


def test_many_ranges_are_looked_up_quickly() -> None:
    nets = Networks({"Relay": [f"172.{a}.{b}.0/27" for a in range(16, 32) for b in range(0, 256, 2)]})
    assert len(nets) == 16 * 128
    assert nets.find("172.20.4.0/24") == "Relay"
    assert nets.find("172.20.5.0/24") is None


def test_apples_egress_list_is_read_and_junk_passed_over() -> None:
    lines = ["# comment", "", "172.224.226.0/27,GB,GB-EN,London,", "2a02:26f7:b3c0:4000::/64,GB,GB-EN,London,", "not,a,range", "999.1.1.1/24,,"]
    nets = Networks.from_egress_csv("Apple Private Relay", lines)
    assert len(nets) == 2
    assert (APPLE | nets).find("2a02:26f7:b3c0::/48") == "Apple Private Relay"


@pytest.mark.parametrize("ranges", [{"X": ["not a network"]}, {"X": "10.0.0.0/8"}, {"X": [None]}])
def test_bad_ranges_are_a_config_error(ranges: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Networks(ranges)


def test_hostile_strings_find_nothing_and_never_raise(hostile: list[str]) -> None:
    for string in hostile:
        assert SCANNERS.find(string) is None or "/" in string or "." in string or ":" in string
