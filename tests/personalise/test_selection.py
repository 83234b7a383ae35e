"""Slot selection: each rule pinned by a small hand-made shop, and the vectorised path against the loop."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.errors import ConfigError
from mailer.personalise import Profiles, RecentlyShown, Selection, SelectionRules, Selector, Weights, select
from tests.support.reference import select_reference
from mailer.inputs.products import Product

from .conftest import A_MONTH_AGO, LAST_WEEK, LONG_AGO, TODAY, mixed_people, people, product, shop


def ids(selection: Selection, i: int = 0, group: str = "picks") -> list[str]:
    return selection.product_ids(i)[group]


def handbags() -> list[Product]:
    return [
        product("BAG-1000", "Accessories > Bags > Handbags", "1000.00"),
        product("BAG-35", "Accessories > Bags > Handbags", "35.00"),
        product("BAG-28", "Accessories > Bags > Totes", "28.00"),
        product("BAG-45", "Accessories > Bags > Totes", "45.00"),
        product("BAG-320", "Accessories > Bags > Handbags", "320.00"),
    ]


def test_value_customer_never_sees_the_1000_pound_bag() -> None:
    purchases = [("val", "BAG-35", LONG_AGO), ("val", "BAG-28", LONG_AGO)]
    profiles = shop(handbags(), purchases, prices=[30.0, 25.0])
    chosen = ids(select(profiles, people("val"), {"picks": 6}))
    assert "BAG-1000" not in chosen and "BAG-320" not in chosen
    assert "BAG-45" in chosen  # within 1.5 × the most they paid (£30)


def test_price_ceiling_lifts_when_the_campaign_asks() -> None:
    purchases = [("val", "BAG-35", LONG_AGO), ("val", "BAG-28", LONG_AGO)]
    profiles = shop(handbags(), purchases, prices=[30.0, 25.0])
    chosen = ids(select(profiles, people("val"), {"picks": 6}, rules=SelectionRules(allow_above_band=True)))
    assert "BAG-1000" in chosen


def test_price_band_carries_to_categories_never_bought() -> None:
    products = [
        product("BAG-30", "Accessories > Bags", "30.00"),
        product("BAG-300", "Accessories > Bags", "300.00"),
        product("SCARF-15", "Accessories > Scarves", "15.00"),
        product("SCARF-40", "Accessories > Scarves", "40.00"),
        product("SCARF-400", "Accessories > Scarves", "400.00"),
    ]
    profiles = shop(products, [("val", "BAG-30", LONG_AGO)], prices=[30.0])
    chosen = ids(select(profiles, people("val"), {"picks": 6}))
    assert "SCARF-400" not in chosen and "SCARF-15" in chosen


def beauty_shop() -> tuple[Profiles, list[str]]:
    products = [product(f"W{i}", "Women > Knitwear", "40.00") for i in range(4)]
    products += [product(f"BEAUTY{i}", "Beauty > Skincare", "20.00") for i in range(6)]
    customers = [f"c{i}" for i in range(200)]
    purchases = [(c, "W0", LONG_AGO) for c in customers]
    return shop(products, purchases), customers


def test_never_bought_beauty_gets_no_beauty_without_an_exploration_share() -> None:
    profiles, customers = beauty_shop()
    chosen = select(profiles, people(*customers), {"picks": 6}, rules=SelectionRules(exploration_share=0.0))
    assert all(not any(p.startswith("BEAUTY") for p in ids(chosen, i)) for i in range(len(customers)))


def test_never_bought_beauty_gets_at_most_the_exploration_share() -> None:
    profiles, customers = beauty_shop()
    chosen = select(profiles, people(*customers), {"picks": 6}, rules=SelectionRules(exploration_share=0.1))
    beauty = np.array([sum(p.startswith("BEAUTY") for p in ids(chosen, i)) for i in range(len(customers))])
    assert beauty.max() <= 1  # 10% of 6 slots rounds to 0 or 1
    assert 0.45 < beauty.mean() < 0.75  # and is 0.6 on average


def test_no_two_sizes_of_one_jean() -> None:
    jeans = [product(f"JEAN-{s}", "Women > Jeans > Straight", "60.00", group="JEAN", brand="Denim Co")
             for s in ("S", "M", "L", "XL")]  # fmt: skip
    others = [product(f"TOP{i}", "Women > Tops", "30.00") for i in range(5)]
    profiles = shop(jeans + others, [("ann", "JEAN-M", LONG_AGO), ("ann", "TOP0", LONG_AGO)])
    chosen = ids(select(profiles, people("ann"), {"picks": 6}, rules=SelectionRules(max_per_brand=6)))
    assert sum(p.startswith("JEAN") for p in chosen) == 1


def test_maternity_is_never_inferred() -> None:
    products = [product(f"MAT{i}", "Women > Maternity > Dresses", "50.00") for i in range(4)]
    products += [product(f"BABY{i}", "Baby > Sleepsuits", "12.00", age_group="newborn") for i in range(4)]
    products += [product(f"W{i}", "Women > Dresses", f"{40 + i}.00") for i in range(6)]
    products += [product(f"H{i}", "Home > Decor", f"{20 + i}.00") for i in range(6)]
    base = [("ann", "W0", LONG_AGO), ("bob", "H0", LONG_AGO), ("bob", "W1", LONG_AGO)]
    life_event = [("ann", "MAT0", LAST_WEEK), ("ann", "MAT1", LAST_WEEK), ("ann", "BABY0", LAST_WEEK)]
    recipients = people("ann", "bob", "new")
    without = select(shop(products, base), recipients, {"picks": 6})
    with_event = select(shop(products, base + life_event), recipients, {"picks": 6})
    for i in range(3):
        assert ids(with_event, i) == ids(without, i)
        assert not any(p.startswith(("MAT", "BABY")) for p in ids(with_event, i))


def test_sensitive_category_cannot_be_targeted_by_affinity() -> None:
    profiles = shop([product("BABY0", "Baby > Toys", "10.00")])
    with pytest.raises(ConfigError, match="privacy-sensitive"):
        Selector(profiles, {"picks": 3}, rules=SelectionRules(categories=("Baby",), require_affinity=True))


def test_sold_out_products_are_never_chosen() -> None:
    products = [product("A", "Home > Decor", "10.00", stock=False), product("B", "Home > Decor", "10.00")]
    assert ids(select(shop(products, [("ann", "B", LONG_AGO)]), people("ann"), {"picks": 2})) == ["B"]


def test_at_most_n_products_per_brand() -> None:
    products = [product(f"K{i}", "Home > Kitchen", "20.00", brand="Kettle Co") for i in range(6)]
    products += [product(f"O{i}", "Home > Kitchen", "20.00") for i in range(3)]
    profiles = shop(products, [("ann", "K0", LONG_AGO)])
    chosen = ids(select(profiles, people("ann"), {"picks": 6}, rules=SelectionRules(max_per_brand=2)))
    assert sum(p.startswith("K") for p in chosen) == 2 and len(chosen) == 5


def test_recently_bought_is_not_shown_again_unless_consumable() -> None:
    products = [
        product("COAT-S", "Women > Coats", "90.00", group="COAT"),
        product("COAT-M", "Women > Coats", "90.00", group="COAT"),
        product("SERUM", "Beauty > Skincare > Serums", "25.00"),
        product("KNIT", "Women > Knitwear", "45.00"),
    ]
    profiles = shop(products, [("ann", "COAT-S", A_MONTH_AGO), ("ann", "SERUM", A_MONTH_AGO)])
    chosen = ids(select(profiles, people("ann"), {"picks": 4}))
    assert "COAT-S" not in chosen and "COAT-M" not in chosen  # no variant of what they bought lately
    assert "SERUM" in chosen  # beauty is consumable: a month on, it is offered again


def test_a_consumable_bought_days_ago_waits_for_its_gap() -> None:
    products = [product("SERUM", "Beauty > Skincare > Serums", "25.00"), product("KNIT", "Women > Knitwear", "45.00")]
    profiles = shop(products, [("ann", "SERUM", LAST_WEEK)])
    assert "SERUM" not in ids(select(profiles, people("ann"), {"picks": 2}))
    soon = SelectionRules(consumable_gap_days=3)
    assert "SERUM" in ids(select(shop(products, [("ann", "SERUM", LAST_WEEK)], rules=soon), people("ann"), {"picks": 2},
                                 rules=soon))  # fmt: skip


def test_recently_shown_products_are_left_out() -> None:
    products = [product(f"D{i}", "Home > Decor", "20.00") for i in range(6)]
    profiles = shop(products, [("ann", "D0", LONG_AGO)])
    first = ids(select(profiles, people("ann"), {"picks": 3}))
    shown = RecentlyShown.from_pairs(("ann", p) for p in first)
    second = ids(select(profiles, people("ann"), {"picks": 3}, shown=shown))
    assert len(second) == 3 and not set(first) & set(second)


def test_cold_start_gets_bestsellers_for_their_gender_and_new_in() -> None:
    products = [
        product("DRESS", "Women > Dresses", "50.00", gender="female"),
        product("SHIRT", "Men > Shirts", "40.00", gender="male"),
        product("MUG", "Home > Kitchen", "10.00", gender="unisex"),
        product("NEW-DRESS", "Women > Dresses", "55.00", gender="female"),
    ]
    history = [(f"c{i}", p, LAST_WEEK) for i, p in enumerate(["SHIRT"] * 5 + ["DRESS"] * 3 + ["MUG"] * 2)]
    profiles = shop(products, history, added={"NEW-DRESS": date(2026, 11, 20)})
    chosen = select(profiles, people("newcomer", gender="female"), {"picks": 2, "new_in": 1})
    assert ids(chosen) == ["DRESS", "MUG"]  # the best-selling shirt is for men
    assert ids(chosen, group="new_in") == ["NEW-DRESS"]
    assert all("new customer" in line for line in chosen.explain(0)["picks"])


def test_new_in_slots_hold_only_new_products() -> None:
    products = [product(f"P{i}", "Home > Decor", "20.00") for i in range(6)]
    added = {"P4": date(2026, 11, 1), "P5": date(2026, 6, 1)}
    profiles = shop(products, [("ann", "P0", LONG_AGO)], added=added)
    chosen = select(profiles, people("ann"), {"picks": 3, "new_in": 2})
    assert ids(chosen, group="new_in") == ["P4"]
    assert "P4" not in ids(chosen)


def test_category_campaign_can_target_only_customers_with_affinity() -> None:
    products = [product(f"B{i}", "Beauty > Make-Up", "15.00") for i in range(3)]
    products += [product(f"H{i}", "Home > Decor", "15.00") for i in range(3)]
    profiles = shop(products, [("fan", "B0", LONG_AGO), ("other", "H0", LONG_AGO)])
    rules = SelectionRules(categories=("Beauty",), require_affinity=True)
    chosen = select(profiles, people("fan", "other"), {"picks": 3}, rules=rules)
    assert chosen.audience.tolist() == [True, False]
    assert set(ids(chosen, 0)) <= {"B0", "B1", "B2"} and ids(chosen, 0) and ids(chosen, 1) == []


def test_same_seed_same_picks_whatever_the_batch() -> None:
    products = [product(f"P{i}", "Home > Decor", "20.00") for i in range(30)]
    profiles = shop(products, [("c1", "P0", LONG_AGO)])
    everyone = people(*[f"c{i}" for i in range(50)])
    whole = select(profiles, everyone, {"picks": 4}, rules=SelectionRules(seed=5))
    chunked = select(profiles, everyone, {"picks": 4}, rules=SelectionRules(seed=5), chunk_size=7)
    alone = select(profiles, people("c30"), {"picks": 4}, rules=SelectionRules(seed=5))
    assert (whole.picks["picks"] == chunked.picks["picks"]).all()
    assert ids(alone) == ids(whole, 30)
    other_seed = select(profiles, everyone, {"picks": 4}, rules=SelectionRules(seed=6))
    assert (other_seed.picks["picks"] != whole.picks["picks"]).any()


def test_every_pick_keeps_a_reason_for_the_preview() -> None:
    products = [product("D1", "Women > Dresses", "50.00"), product("M1", "Home > Kitchen", "10.00")]
    profiles = shop(products, [("ann", "D1", LONG_AGO)])
    chosen = select(profiles, people("ann"), {"picks": 2}, rules=SelectionRules(exploration_share=1.0), explain=True)
    lines = chosen.explain(0)["picks"]
    assert lines[0].startswith("D1: buys Women > Dresses (affinity")
    assert lines[1].startswith("M1: exploration: never bought Home")


def test_unknown_slot_kind_is_a_config_error() -> None:
    profiles = shop([product("A", "Home", "1.00")])
    with pytest.raises(ConfigError, match="unknown kind 'newest'"):
        Selector(profiles, {"picks": 1}, kinds={"picks": "newest"})  # type: ignore[dict-item]


# --- the vectorised selection is the per-customer loop, whenever the pools hold everything


CATEGORIES = ["Women > Dresses > Midi", "Women > Dresses > Maxi", "Women > Tops", "Men > Shoes",
              "Home > Kitchen", "Beauty > Skincare", "Baby > Toys", "Maternity > Jeans"]  # fmt: skip


@st.composite
def shops(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(3, 14))
    products = []
    for i in range(n):
        products.append(product(
            f"P{i}", draw(st.sampled_from(CATEGORIES)), f"{draw(st.integers(2, 400))}.00",
            brand=draw(st.sampled_from(["A", "B", "C", None])) or "",
            group=draw(st.sampled_from([None, None, "G1", "G2"])),
            stock=draw(st.booleans()) or draw(st.booleans()),
            gender=draw(st.sampled_from([None, "female", "male", "unisex"])),
        ))  # fmt: skip
    customers = [f"c{i}" for i in range(draw(st.integers(1, 6)))]
    purchases = draw(st.lists(st.tuples(st.sampled_from(customers), st.integers(0, n - 1),
                                        st.sampled_from([LONG_AGO, LAST_WEEK])), max_size=12))  # fmt: skip
    prices = [draw(st.floats(1, 500)) for _ in purchases]
    added = {f"P{i}": date(2026, 11, draw(st.integers(1, 22))) for i in range(n) if draw(st.booleans())}
    shown = draw(st.lists(st.tuples(st.sampled_from(customers), st.sampled_from([p.id for p in products])), max_size=4))
    rules = SelectionRules(
        exploration_share=draw(st.sampled_from([0.0, 0.1, 0.5])),
        max_per_brand=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 3)),
    )
    everyone = customers + ["newcomer"]
    genders = [draw(st.sampled_from([None, "female", "male"])) for _ in everyone]
    markets = {c: draw(st.sampled_from(["en_GB", "de_DE", "fr_FR"])) for c in everyone}
    return (products, [(c, f"P{p}", d) for c, p, d in purchases], prices, added, shown, everyone, rules,
            genders, markets)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shops(), st.sampled_from([{"picks": 3}, {"picks": 2, "new_in": 2}, {"picks": 2, "bestsellers": 2}]))
def test_vectorised_selection_equals_the_per_customer_loop(case, slots) -> None:  # type: ignore[no-untyped-def]
    products, purchases, prices, added, shown_pairs, customers, rules, genders, markets = case
    profiles = shop(products, purchases, rules=rules, added=added, prices=prices, markets=markets)
    recipients = mixed_people(customers, genders, [markets[c] for c in customers])
    shown = RecentlyShown.from_pairs(shown_pairs)
    fast = select(profiles, recipients, slots, rules=rules, shown=shown)
    slow = select_reference(profiles, recipients, slots, rules=rules, shown=shown)
    for group in slots:
        assert fast.picks[group].tolist() == slow.picks[group].tolist()
        assert fast.reasons[group].tolist() == slow.reasons[group].tolist()
    assert fast.audience.tolist() == slow.audience.tolist()


def test_noise_weight_zero_still_deterministic() -> None:
    products = [product(f"P{i}", "Home > Decor", "20.00") for i in range(5)]
    profiles = shop(products, [("ann", "P0", LONG_AGO)])
    rules = SelectionRules(weights=Weights(noise=0.0))
    a = select(profiles, people("ann"), {"picks": 3}, rules=rules)
    b = select(profiles, people("ann"), {"picks": 3}, rules=rules)
    assert ids(a) == ids(b)


def test_profiles_ignore_purchases_after_the_send_date() -> None:
    products = [product("A", "Home > Decor", "20.00"), product("B", "Women > Tops", "20.00")]
    future = (date(2026, 12, 1) - date(1970, 1, 1)).days
    profiles = shop(products, [("ann", "B", future)])
    assert profiles.affinity.weight.tolist() == [0.0]
    assert TODAY < date(2026, 12, 1)


def test_vectorised_equals_the_loop_on_a_generated_shop_when_pools_hold_everything() -> None:
    from mailer.personalise import Catalogue, PurchaseTable, Recipients, fit_profiles
    from tests.support.synthetic import generate

    generated = generate(800, 200, seed=5)
    rules = SelectionRules(pool_discovery=100_000)  # every eligible product is a candidate
    catalogue = Catalogue.from_products(generated.products, added=generated.added, rules=rules)
    rows = generated.purchase_customer
    history = PurchaseTable.from_arrays(
        catalogue, generated.customer_ids[rows], product=generated.purchase_product, day=generated.purchase_day,
        quantity=generated.purchase_quantity, price=generated.purchase_price, markets=generated.markets[rows],
    )  # fmt: skip
    profiles = fit_profiles(catalogue, history, now=generated.today, rules=rules)
    recipients = Recipients.from_arrays(generated.customer_ids, genders=generated.genders, markets=generated.markets)
    sample = recipients.take(slice(0, 40))
    slots = {"picks": 6, "new_in": 2}
    fast, slow = select(profiles, sample, slots, rules=rules), select_reference(profiles, sample, slots, rules=rules)
    for group in slots:
        assert fast.picks[group].tolist() == slow.picks[group].tolist()
