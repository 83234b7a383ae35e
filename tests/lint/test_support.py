"""mailer.lint.support: features the target clients fall short on."""

from __future__ import annotations

from typing import Any

import pytest

from mailer.lint.caniemail import CanIEmail, load_caniemail, parse_caniemail
from mailer.lint.clients import ClientTarget, parse_clients
from mailer.lint.features import Usage, scan_features
from mailer.lint.support import client_support
from tests.conftest import shared_path

NICENAMES = {"family": {"gmail": "Gmail", "outlook": "Outlook", "yahoo": "Yahoo! Mail"},
             "platform": {"windows": "Windows", "android": "Android", "ios": "iOS", "macos": "macOS",
                          "outlook-com": "Outlook.com"}}  # fmt: skip


def feature(slug: str, stats: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "title": extra.pop("title", slug), "category": "css", "stats": stats, **extra}


@pytest.fixture(scope="module")
def data() -> CanIEmail:
    return parse_caniemail({"nicenames": NICENAMES, "data": [
        feature("css-display-flex", {
            "outlook": {"windows": {"2016": "n", "2019": "n"}, "macos": {"16.80": "n"}, "outlook-com": {"2020-01": "n"},
                        "ios": {"2020-01": "n"}},
            "gmail": {"android": {"2019-01": "y", "2020-11": "a #1"}},
        }, title="display:flex", url="https://www.caniemail.com/features/css-display-flex/",
            notes_by_num={"1": "Not supported with non Google accounts."}),
        feature("html-div", {"outlook": {"windows": {"2019": "y"}}, "gmail": {"android": {"2020-01": "y"}}}),
        feature("html-video", {"outlook": {"windows": {"2019": "u"}}, "gmail": {"android": {"2020-01": "y"}}}),
        feature("css-opacity", {"outlook": {"windows": {"2007": "y", "2019": "y"}}, "gmail": {"android": {"2020-01": "y"}},
                                "yahoo": {"ios": {"2020-01": "n"}}}),
        feature("css-width", {"outlook": {"windows": {"2019": "a"}}}, title="width property"),
    ]})  # fmt: skip


def uses(*slugs: str) -> dict[str, list[Usage]]:
    return {slug: [Usage(i + 1, f"<el{i}>"), Usage(i + 10, "<later>")] for i, slug in enumerate(slugs)}


def test_a_feature_some_target_lacks_is_one_finding_at_its_first_use(data: CanIEmail) -> None:
    [finding] = client_support(uses("css-display-flex"), data)
    assert (finding.rule, finding.severity, finding.line, finding.element) == ("client-support", "warning", 1, "<el0>")
    assert finding.message == ("display:flex is not supported in Outlook Windows 2019 and 3 more; partly in Gmail Android. "
                               "See https://www.caniemail.com/features/css-display-flex/")  # fmt: skip
    assert finding.clients == (
        "Outlook Windows 2019: not supported", "Outlook macOS 16.80: not supported",
        "Outlook.com 2020-01: not supported", "Outlook iOS 2020-01: not supported",
        "Gmail Android 2020-11: partial (note: Not supported with non Google accounts.)",
    )  # fmt: skip


def test_a_feature_every_target_supports_gives_nothing(data: CanIEmail) -> None:
    assert client_support(uses("html-div"), data) == []


def test_unknown_support_is_not_reported(data: CanIEmail) -> None:
    assert client_support(uses("html-video"), data) == []


def test_only_the_targets_count(data: CanIEmail) -> None:
    assert len(client_support(uses("css-opacity"), data)) == 1  # yahoo is a default target
    assert client_support(uses("css-opacity"), data, parse_clients(["gmail", "outlook"])) == []
    [finding] = client_support(uses("css-display-flex"), data, [ClientTarget("gmail")])
    assert finding.message.startswith("display:flex is only partly supported in Gmail Android.")


def test_only_the_latest_version_of_a_platform_counts(data: CanIEmail) -> None:
    [finding] = client_support(uses("css-display-flex"), data, [ClientTarget("gmail", "android")])
    assert finding.clients == ("Gmail Android 2020-11: partial (note: Not supported with non Google accounts.)",)


def test_two_clients_are_both_named(data: CanIEmail) -> None:
    targets = [ClientTarget("outlook", "windows"), ClientTarget("outlook", "macos")]
    [finding] = client_support(uses("css-display-flex"), data, targets)
    assert "not supported in Outlook Windows 2019 and Outlook macOS." in finding.message


def test_ignored_and_unknown_features_give_nothing(data: CanIEmail) -> None:
    assert client_support(uses("css-display-flex"), data, ignore={"css-display-flex"}) == []
    assert client_support(uses("css-made-up"), data) == []
    assert client_support({"css-display-flex": []}, data) == []


def test_findings_follow_the_order_of_use(data: CanIEmail) -> None:
    found = client_support(uses("css-width", "css-display-flex"), data)
    assert [f.message.split()[0] for f in found] == ["width", "display:flex"]


def test_with_the_real_data_a_flex_layout_warns_about_outlook() -> None:
    data = load_caniemail(shared_path("caniemail/caniemail.json"))
    findings = client_support(scan_features('<div style="display:flex">'), data)
    flex = [f for f in findings if f.message.startswith("display:flex")]
    assert flex and "Outlook Windows 2019: not supported" in flex[0].clients
