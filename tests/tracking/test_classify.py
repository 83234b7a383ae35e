"""Classifying a message's hits: realistic sequences of people, proxies and scanners."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mailer.errors import ConfigError
from mailer.tracking.classify import Classification, Rules, classify
from mailer.tracking.hits import Hit, capture
from mailer.tracking.links import HONEYPOT
from mailer.tracking.networks import APPLE, Networks

DELIVERED = 1_790_000_000.0
LINKS = 10
UNSUBSCRIBE = 10
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
OLD_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = ("Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 "
               "Safari/537.36 Edge/12.246 YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html")
HOME_ADDRESS = "81.2.69.160"  # a home broadband address
AZURE_ADDRESS = "20.93.14.7"  # a cloud sandbox outside every listed range


def click(after: float, link: int, agent: str = CHROME, address: str = HOME_ADDRESS, **extra: Any) -> Hit:
    return capture(at=DELIVERED + after, kind="click", message=1, link=link, user_agent=agent, address=address, **extra)


def opened(after: float, agent: str = CHROME, address: str = HOME_ADDRESS, **extra: Any) -> Hit:
    return capture(at=DELIVERED + after, kind="open", message=1, user_agent=agent, address=address, **extra)


def judge(*hits: Hit, **options: Any) -> Classification:
    options.setdefault("delivered_at", DELIVERED)
    options.setdefault("links", LINKS)
    options.setdefault("unsubscribe_links", (UNSUBSCRIBE,))
    return classify(hits, **options)


def verdicts(result: Classification) -> list[str]:
    return [j.verdict for j in result.hits]


# Realistic sequences


def test_an_apple_mpp_open_at_delivery_then_a_human_click_an_hour_later() -> None:
    result = judge(opened(0.8, agent="Mozilla/5.0", address="17.58.101.22"), click(3600, 4, agent=SAFARI))
    assert verdicts(result) == ["machine_open", "human"]
    assert "Apple Mail Privacy Protection" in result.hits[0].reason
    summary = result.summary
    assert summary.human_opened and summary.machine_opened
    assert summary.human_clicks == (4,) and summary.first_human_at == DELIVERED + 3600
    assert not summary.scanned and not summary.unsubscribed


def test_a_safe_links_burst_of_every_link_within_two_seconds_is_no_human_click() -> None:
    hits = [click(0.3 + 0.17 * i, link, agent=OLD_CHROME, address=AZURE_ADDRESS) for i, link in enumerate(range(1, LINKS + 1))]
    hits.append(opened(0.2, agent=OLD_CHROME, address=AZURE_ADDRESS))
    result = judge(*hits)
    clicks = [j for j in result.hits if j.hit.kind == "click"]
    assert all(j.verdict == "scanner" for j in clicks)
    assert any("burst: 10 of 10 links" in j.reason for j in clicks)
    (the_open,) = [j for j in result.hits if j.hit.kind == "open"]
    assert the_open.verdict in ("machine_open", "unknown")
    summary = result.summary
    assert summary.human_clicks == () and not summary.human_opened
    assert not summary.unsubscribed and summary.scanned


def test_a_burst_from_microsofts_network_names_it() -> None:
    result = judge(*(click(1 + 0.1 * i, link, address="40.107.22.31") for i, link in enumerate(range(1, 6))))
    assert all(j.verdict == "scanner" for j in result.hits)
    assert result.hits[0].reason == "from Microsoft Exchange Online Protection's network 40.107.22.0/24"


def test_a_burst_later_than_the_delivery_window_is_still_a_scanner() -> None:
    result = judge(*(click(120 + 0.2 * i, link, address=AZURE_ADDRESS) for i, link in enumerate(range(1, 7))))
    assert verdicts(result) == ["scanner"] * 6
    assert result.hits[0].reason.startswith("burst: 6 of 10 links clicked within 1.0 s")


def test_a_human_click_after_a_scanner_burst_still_counts() -> None:
    burst = [click(0.5 + 0.1 * i, link, agent=OLD_CHROME, address=AZURE_ADDRESS) for i, link in enumerate(range(1, LINKS + 1))]
    result = judge(*burst, opened(1800, agent=SAFARI), click(1830, 6, agent=SAFARI))
    assert verdicts(result)[-2:] == ["human", "human"]
    assert result.summary.human_clicks == (6,) and result.summary.human_opened and result.summary.scanned


def test_a_proofpoint_network_click_is_a_scanner_even_with_a_browser_agent() -> None:
    result = judge(click(45, 2, agent=CHROME, address="148.163.150.12"))
    assert verdicts(result) == ["scanner"]
    assert result.hits[0].reason == "from Proofpoint's network 148.163.150.0/24"


def test_a_proofpoint_user_agent_is_a_scanner() -> None:
    result = judge(click(300, 2, agent="Mozilla/5.0 (compatible; Proofpoint URL Defense)", address="203.0.113.9"))
    assert verdicts(result) == ["scanner"] and "proofpoint" in result.hits[0].reason.lower()


@pytest.mark.parametrize("agent", ["curl/8.5.0", "python-requests/2.32", "Mozilla/5.0 HeadlessChrome/120.0", "Go-http-client/1.1",
                                   "Mozilla/5.0 (compatible; bingbot/2.0)", "Microsoft Office Existence Discovery", "Mozilla/5.0",
                                   "Mimecast", "Barracuda Sentinel", "IronPort"])
def test_machine_user_agents_are_scanners(agent: str) -> None:
    assert verdicts(judge(click(600, 3, agent=agent))) == ["scanner"]


def test_the_honeypot_and_everything_near_it_is_a_scanner() -> None:
    result = judge(click(30, HONEYPOT), click(31.5, 7), click(38, 3), click(600, 3))
    assert verdicts(result) == ["scanner", "scanner", "scanner", "human"]
    assert result.hits[0].reason == "the hidden honeypot link: people cannot see it"
    assert result.hits[1].reason == "within 10 s of a honeypot click"
    assert result.summary.human_clicks == (3,)


def test_a_gmail_proxy_open_from_googles_network_is_a_human_open() -> None:
    result = judge(opened(900, agent=GMAIL_PROXY, address="66.249.84.33"))
    assert verdicts(result) == ["human"]
    assert result.hits[0].reason == "Gmail's image proxy fetches images when the message is opened"
    assert result.summary.human_opened and not result.summary.machine_opened


def test_a_yahoo_proxy_open_is_a_human_open() -> None:
    assert verdicts(judge(opened(900, agent=YAHOO_PROXY, address="98.136.0.1"))) == ["human"]


def test_an_apple_relay_address_from_the_egress_list_is_a_machine_open() -> None:
    relay = APPLE | Networks.from_egress_csv("Apple Private Relay", ["104.28.37.0/24,FR,FR-IDF,Paris,"])
    result = judge(opened(2, agent=SAFARI, address="104.28.37.90"), rules=Rules(apple=relay))
    assert verdicts(result) == ["machine_open"] and "Apple Private Relay" in result.hits[0].reason


def test_a_click_through_apples_relay_is_a_human_click() -> None:
    assert verdicts(judge(click(900, 2, agent=SAFARI, address="17.58.101.22"))) == ["human"]


# The single rules


def test_a_click_within_ten_seconds_of_delivery_is_a_scanner() -> None:
    assert verdicts(judge(click(4, 5))) == ["scanner"]
    assert verdicts(judge(click(-2, 5))) == ["scanner"]  # before delivery was recorded
    assert verdicts(judge(click(11, 5))) == ["human"]
    assert verdicts(judge(click(4, 5), delivered_at=None)) == ["human"]


def test_an_open_right_at_delivery_is_unknown() -> None:
    result = judge(opened(1.5))
    assert verdicts(result) == ["unknown"] and "too soon" in result.hits[0].reason


def test_clicks_from_three_networks_within_seconds_are_scanners() -> None:
    result = judge(click(100, 1, address="20.1.1.1"), click(102, 1, address="20.2.2.2"), click(104, 1, address="20.3.3.3"))
    assert verdicts(result) == ["scanner"] * 3
    assert result.hits[0].reason == "clicks from 3 networks within 5 s"


def test_two_networks_or_a_slow_spread_are_not_a_farm() -> None:
    assert verdicts(judge(click(100, 1, address="20.1.1.1"), click(102, 1, address="20.2.2.2"))) == ["human", "human"]
    slow = judge(click(100, 1, address="20.1.1.1"), click(110, 1, address="20.2.2.2"), click(120, 1, address="20.3.3.3"))
    assert verdicts(slow) == ["human"] * 3


def test_a_double_click_on_one_link_is_not_a_burst() -> None:
    assert verdicts(judge(click(500, 4), click(500.3, 4))) == ["human", "human"]


def test_a_one_link_message_is_never_a_burst() -> None:
    assert verdicts(judge(click(500, 1), click(500.3, 1), links=1)) == ["human", "human"]


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "POST"])
def test_a_click_that_is_not_a_get_is_a_scanner(method: str) -> None:
    assert verdicts(judge(click(600, 3, method=method))) == ["scanner"]


def test_a_prefetch_is_not_a_click() -> None:
    result = judge(click(600, 3, headers={"Sec-Purpose": "prefetch;prerender"}))
    assert verdicts(result) == ["scanner"] and "prefetch" in result.hits[0].reason


def test_without_a_user_agent_a_click_or_open_is_unknown() -> None:
    assert verdicts(judge(click(600, 3, agent=""), opened(700, agent=""))) == ["unknown", "unknown"]


def test_an_open_from_a_scanners_network_during_its_clicks_is_a_machine_open() -> None:
    result = judge(click(60, HONEYPOT, address=AZURE_ADDRESS), opened(61, address=AZURE_ADDRESS), opened(4000))
    assert verdicts(result) == ["scanner", "machine_open", "human"]


def test_scanner_clicks_on_the_unsubscribe_link_are_no_unsubscribe() -> None:
    burst = judge(*(click(0.5 + 0.1 * i, link, address=AZURE_ADDRESS) for i, link in enumerate(range(1, LINKS + 1))))
    assert not burst.summary.unsubscribed
    person = judge(click(7200, UNSUBSCRIBE, agent=SAFARI))
    assert person.summary.unsubscribed


def test_the_order_hits_arrive_in_does_not_matter() -> None:
    hits = [opened(0.8, agent="Mozilla/5.0", address="17.1.2.3"), *(click(2 + 0.1 * i, i + 1, address=AZURE_ADDRESS) for i in range(LINKS)),
            click(3000, HONEYPOT), click(3004, 2), opened(5000), click(5010, 8, agent=SAFARI)]
    expected = judge(*hits)
    for seed in range(20):
        shuffled = hits[:]
        random.Random(seed).shuffle(shuffled)
        assert judge(*shuffled) == expected


def test_human_clicks_are_listed_once_in_first_click_order() -> None:
    result = judge(click(100, 5), click(160, 2), click(220, 5), click(400, 9))
    assert result.summary.human_clicks == (5, 2, 9)


def test_no_hits_is_an_empty_summary() -> None:
    summary = judge().summary
    assert not (summary.human_opened or summary.machine_opened or summary.scanned or summary.human_clicks)
    assert summary.first_human_at is None


@pytest.mark.parametrize(
    "bad",
    [dict(delivery_window=-1), dict(burst_gap=float("inf")), dict(burst_share=0), dict(burst_share=1.5),
     dict(spread_networks=1), dict(honeypot_window="10"), dict(spread_window=True)],
)
def test_bad_rules_are_a_config_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Rules(**bad)


def test_hostile_strings_as_user_agents_and_addresses_never_raise(hostile: list[str]) -> None:
    hits = []
    for i, string in enumerate(hostile):
        hits.append(click(100 + 30 * i, i % 12, agent=string, address=string, headers={"Sec-Purpose": string}))
        hits.append(opened(100 + 30 * i + 1, agent=string, address=string))
    result = judge(*hits)
    assert {j.verdict for j in result.hits} <= {"human", "machine_open", "scanner", "unknown"}
    assert all(j.reason for j in result.hits)
