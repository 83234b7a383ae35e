"""RFM scores, named segments with configurable thresholds, and audience filters."""

from __future__ import annotations

import numpy as np
import pytest

from mailer.errors import ConfigError
from mailer.personalise import PurchaseTable
from mailer.personalise.catalogue import Catalogue
from mailer.personalise.segments import Audience, RFMThresholds, SegmentRule, choose_by_segment, rfm

from .conftest import product

TODAY = 20_000


def history(rows: list[tuple[str, int, float]]) -> PurchaseTable:
    cat = Catalogue.from_products([product("P", "Home > Decor", "10.00")])
    return PurchaseTable.from_arrays(
        cat, [c for c, _, _ in rows], product=[0] * len(rows), day=[TODAY - d for _, d, _ in rows],
        price=[p for _, _, p in rows],
    )  # fmt: skip


SHOP = history(
    [("champ", d, 300.0) for d in (5, 60, 120, 200, 300)]
    + [("loyal", d, 20.0) for d in (100, 150, 250, 320)]
    + [("newbie", 3, 40.0)]
    + [("lapsed", 400, 80.0), ("lapsed", 500, 80.0)]
    + [("drifting", d, 50.0) for d in (200, 250, 300, 350)]
    + [("promising", 10, 30.0), ("promising", 200, 30.0)]
)


def test_named_segments_from_default_thresholds() -> None:
    seg = rfm(SHOP, today=TODAY)
    names = seg.segment_of(["champ", "loyal", "newbie", "lapsed", "drifting", "promising", "stranger"])
    assert names.tolist() == ["champions", "loyal", "new", "lapsed", "at_risk", "promising", "prospect"]


def test_scores_follow_the_edges() -> None:
    seg = rfm(SHOP, today=TODAY)
    assert seg.scores_of(["champ", "stranger"]).tolist() == [[5, 4, 5], [0, 0, 0]]


def test_thresholds_are_configurable() -> None:
    strict = RFMThresholds(lapsed_days=90)
    assert rfm(SHOP, today=TODAY, thresholds=strict).segment_of(["loyal"]).tolist() == ["lapsed"]
    rules = (SegmentRule("big_spenders", monetary=(5, 5)),)
    assert rfm(SHOP, today=TODAY, rules=rules).segment_of(["champ", "loyal"]).tolist() == ["big_spenders", "regular"]


def test_bad_thresholds_name_the_key() -> None:
    with pytest.raises(ConfigError, match="rfm.monetary"):
        RFMThresholds(monetary=(10, 5, 20, 30))


def test_audience_only_lapsed() -> None:
    seg = rfm(SHOP, today=TODAY)
    ids = ["champ", "lapsed", "stranger"]
    assert Audience(segments=("lapsed",)).mask(seg, ids).tolist() == [False, True, False]
    assert Audience(exclude=("prospect",), min_monetary=4).mask(seg, ids).tolist() == [True, False, False]


def test_audience_refuses_an_unknown_segment() -> None:
    with pytest.raises(ConfigError, match="unknown segment"):
        Audience(segments=("lapsd",)).mask(rfm(SHOP, today=TODAY), ["champ"])


def test_top_tier_gets_the_premium_layout() -> None:
    names = rfm(SHOP, today=TODAY).segment_of(["champ", "loyal"])
    assert choose_by_segment(names, {"champions": "premium"}, "newsletter").tolist() == ["premium", "newsletter"]


def test_frequency_counts_orders_not_lines() -> None:
    seg = rfm(history([("c", 10, 5.0), ("c", 10, 5.0), ("c", 20, 5.0)]), today=TODAY)
    assert seg.frequency.tolist() == [2]
    assert np.isclose(seg.monetary[0], 15.0)
