"""mailer.lint.caniemail: reading caniemail.com's data and judging clients with it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mailer.errors import ConfigError
from mailer.lint.caniemail import CanIEmail, load_caniemail, parse_caniemail
from mailer.lint.clients import ClientTarget, default_targets
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def data() -> CanIEmail:
    return load_caniemail(shared_path("caniemail/caniemail.json"))


def feature(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "slug": "css-display-flex", "title": "display:flex", "category": "css",
        "url": "https://www.caniemail.com/features/css-display-flex/",
        "stats": {"outlook": {"macos": {"2019-02": "y", "16.80": "n #1"}, "windows": {"2016": "n", "2019": "a #1 #2"}}},
        "notes_by_num": {"1": "Only with a prefix.", "2": "Not in tables."},
    }  # fmt: skip
    item.update(overrides)
    return item


def document(*features: dict[str, Any]) -> dict[str, Any]:
    return {"api_version": "1.0.4", "last_update_date": "2025-09-09 18:08:06 +0000",
            "nicenames": {"family": {"outlook": "Outlook"}, "platform": {"windows": "Windows", "macos": "macOS"}},
            "data": list(features or [feature()])}  # fmt: skip


# -- the shared data file -------------------------------------------------------------------------


def test_the_data_file_is_read_whole(data: CanIEmail) -> None:
    assert len(data.features) == 302
    assert data.last_update_date == "2025-09-09 18:08:06 +0000" and data.api_version == "1.0.4"
    assert data.nicenames["family"]["apple-mail"] == "Apple Mail"
    flex = data.features["css-display-flex"]
    assert flex.title == "display:flex" and flex.category == "css" and flex.url.endswith("/css-display-flex/")
    assert flex.notes_by_num["1"] == "Not supported with non Google accounts."


def test_every_feature_has_verdicts_for_the_default_clients(data: CanIEmail) -> None:
    for slug, item in data.features.items():
        verdicts = data.verdicts(slug)
        assert {v.family for v in verdicts} == {"gmail", "outlook", "apple-mail", "yahoo"}, slug
        for verdict in verdicts:
            assert verdict.support in ("y", "n", "a", "u"), (slug, verdict)
            latest, value = list(item.stats[verdict.family][verdict.platform].items())[-1]
            assert verdict.version == latest, (slug, verdict)
            numbers = re.findall(r"#(\d+)", value)
            assert len(verdict.notes) == len(numbers), (slug, verdict)
            for number, note in zip(numbers, verdict.notes):
                assert note == item.notes_by_num.get(number, note) and note.strip(), (slug, number)
                if number not in item.notes_by_num:  # the data refers to a note it lacks (css-clear, gmail ios)
                    assert f"note #{number} is not in the data" in note
            assert verdict.label.startswith(verdict.client) and verdict.client, (slug, verdict)


def test_the_latest_version_is_the_last_listed_not_the_greatest_string(data: CanIEmail) -> None:
    macos = {v.platform: v for v in data.verdicts("css-display-flex", [ClientTarget("outlook")])}["macos"]
    assert list(data.features["css-display-flex"].stats["outlook"]["macos"]) == ["2019-02", "16.80"]
    assert macos.version == "16.80"


def test_labels_use_the_names_people_know(data: CanIEmail) -> None:
    labels = {v.label for v in data.verdicts("css-display-flex", default_targets())}
    assert {"Outlook Windows 2019", "Gmail Android 2020-11", "Outlook.com 2019-02", "Yahoo! Mail iOS 2020-11"} <= labels
    [verdict] = data.verdicts("css-display-flex", [ClientTarget("gmail", "android")])
    assert verdict.describe() == "Gmail Android 2020-11: partial (note: Not supported with non Google accounts.)"


def test_platforms_lists_every_family_and_platform(data: CanIEmail) -> None:
    assert data.platforms["outlook"] == ("windows", "windows-mail", "macos", "outlook-com", "ios", "android")
    assert "samsung-email" in data.platforms


# -- verdicts ------------------------------------------------------------------------------------


def test_verdicts_of_a_family_cover_each_platform_at_its_latest_version() -> None:
    data = parse_caniemail(document())
    verdicts = data.verdicts("css-display-flex", [ClientTarget("outlook")])
    assert [(v.platform, v.version, v.support, v.notes) for v in verdicts] == [
        ("macos", "16.80", "n", ("Only with a prefix.",)),
        ("windows", "2019", "a", ("Only with a prefix.", "Not in tables.")),
    ]  # fmt: skip


def test_a_platform_target_and_duplicate_targets() -> None:
    data = parse_caniemail(document())
    targets = [ClientTarget("outlook", "windows"), ClientTarget("outlook"), ClientTarget("gmail")]
    assert [v.platform for v in data.verdicts("css-display-flex", targets)] == ["windows", "macos"]


def test_an_unknown_feature_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no feature 'css-nope'"):
        parse_caniemail(document()).verdicts("css-nope")


def test_a_platform_without_versions_gives_no_verdict() -> None:
    data = parse_caniemail(document(feature(stats={"outlook": {"windows": {}}})))
    assert data.verdicts("css-display-flex") == []


def test_names_without_nicenames_fall_back_to_the_keys() -> None:
    data = parse_caniemail({"data": [feature(stats={"hey": {"desktop-webmail": {"2020-06": "u"}}})]})
    assert data.verdicts("css-display-flex", [ClientTarget("hey")])[0].label == "hey desktop-webmail 2020-06"


# -- broken files --------------------------------------------------------------------------------


def test_a_missing_file_says_where_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.json: no caniemail data there; download https://www\.caniemail\.com"):
        load_caniemail(tmp_path / "nope.json")


def test_a_directory_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the caniemail data"):
        load_caniemail(tmp_path)


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{\n  "data": [\n    {"slug": "x",}\n  ]\n}\n')
    with pytest.raises(ConfigError) as caught:
        load_caniemail(path)
    assert str(caught.value).startswith(f"{path}, line 3, column 18: not valid JSON")


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(b'{"data": ["\xff"]}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_caniemail(path)


@pytest.mark.parametrize(("data", "reason"), [
    ([], "expected a JSON object with a 'data' list"),
    ({"features": []}, "'data' must be a list of features, got nothing"),
    ({"data": {}}, "'data' must be a list of features, got an object"),
    ({"data": [], "nicenames": {"family": ["gmail"]}}, "'nicenames' must be an object of objects"),
    ({"data": ["css-a"]}, "data[0]: expected a feature object, got a string"),
    ({"data": [feature(title=None)]}, "data[0] ('css-display-flex'): 'title' must be a non-empty string, got nothing"),
    ({"data": [feature(stats=[])]}, "'stats' must be an object of client → platform → version → support, got a list"),
    ({"data": [feature(stats={"gmail": "y"})]}, "stats.gmail must be an object of platforms, got a string"),
    ({"data": [feature(stats={"gmail": {"ios": ["y"]}})]}, "stats.gmail.ios must be an object of versions, got a list"),
    ({"data": [feature(stats={"gmail": {"ios": {"2020": "yes"}}})]}, "stats.gmail.ios.2020 is 'yes', expected y, n, a or u"),
    ({"data": [feature(stats={"gmail": {"ios": {"2020": 1}}})]}, "stats.gmail.ios.2020 is 1"),
    ({"data": [feature(notes_by_num=["a"])]}, "'notes_by_num' must be an object of note number → text"),
    ({"data": [feature(keywords=["a"])]}, "'keywords' must be a string, got a list"),
    ({"data": [feature(), feature()]}, "data[1]: feature 'css-display-flex' appears twice"),
])  # fmt: skip
def test_data_of_the_wrong_shape_names_the_file_and_what_is_wrong(tmp_path: Path, data: Any, reason: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        load_caniemail(path)
    assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)


def test_optional_fields_may_be_null_or_absent() -> None:
    data = parse_caniemail({"data": [feature(notes_by_num=None, keywords=None, url=None, notes=None)]})
    item = data.features["css-display-flex"]
    assert (item.notes_by_num, item.keywords, item.url, item.notes) == ({}, (), "", "")
    assert data.last_update_date == "" and data.source is None


def test_keywords_are_split() -> None:
    assert parse_caniemail(document(feature(keywords="flexbox, flex ,"))).features["css-display-flex"].keywords == (
        "flexbox", "flex",
    )  # fmt: skip


def test_verdicts_are_remembered_but_each_caller_gets_its_own_list() -> None:
    data = parse_caniemail(document())
    first = data.verdicts("css-display-flex")
    first.clear()
    assert len(data.verdicts("css-display-flex")) == 2
    assert data.verdicts("css-display-flex", [ClientTarget("outlook", "windows")])[0].platform == "windows"
