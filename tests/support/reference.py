"""The straightforward way: one customer at a time, every product, in plain Python.

:func:`select_reference` applies exactly the rules of
:mod:`~mailer.personalise.selection` (same profiles, same terms added in the
same order, same seeded noise, same greedy filling), but scores every
eligible product for each customer in a Python loop instead of pooled
candidates in arrays. It is the specification the vectorised selection is
tested against (they agree exactly whenever the pools hold every eligible
product) and the baseline ``bench/personalise.py`` measures against. It is
far too slow for a real send: about a second per hundred customers over a
10,000-product catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mailer.personalise.candidates import eligible_products
from mailer.personalise.exclusions import ShownLog
from mailer.personalise.profiles import Profiles
from mailer.personalise.reasons import reason_codes
from mailer.personalise.recipients import Recipients
from mailer.personalise.rules import SelectionRules, SlotKind
from mailer.personalise.scoring import PRICE_CAP, TERMS, weight_vector
from mailer.personalise.seeding import uniform_scalar
from mailer.personalise.selection import DEFAULT_KINDS, Selection

__all__ = ["select_reference"]


def select_reference(
    profiles: Profiles,
    recipients: Recipients,
    slots: Mapping[str, int],
    *,
    rules: SelectionRules | None = None,
    kinds: Mapping[str, SlotKind] | None = None,
    shown: ShownLog | None = None,
) -> Selection:
    """:func:`~mailer.personalise.selection.select`, one customer and one product at a time."""
    rules = rules or profiles.rules
    cat = profiles.catalogue
    kinds = {**{g: k for g, k in DEFAULT_KINDS.items() if g in slots}, **(kinds or {})}
    kind_of = {g: kinds.get(g, "personal") for g in slots}
    order = sorted(slots, key=lambda g: kind_of[g] != "new")
    total_slots = sum(slots.values())
    weights = {"personal": weight_vector(rules.weights), "bestsellers": weight_vector(rules.weights, personal=False)}
    n_groups = max(cat.n_groups, 1)

    eligible = eligible_products(profiles, rules).tolist()
    paths = [tuple(row) for row in cat.path.tolist()]
    brand, group, gender, age = cat.brand.tolist(), cat.group.tolist(), cat.gender.tolist(), cat.age.tolist()
    band, log_price, phash = cat.band.tolist(), cat.log_price.tolist(), cat.hash.tolist()
    newness, is_new = profiles.newness.tolist(), profiles.is_new.tolist()
    popularity = profiles.popularity.score.T.tolist()
    depth_weights = rules.depth_weights

    n = len(recipients)
    picks = {g: np.full((n, slots[g]), -1, dtype=np.int32) for g in slots}
    reasons = {g: np.zeros((n, slots[g]), dtype=np.uint8) for g in slots}
    audience = np.ones(n, dtype=bool)
    for i in range(n):
        f = profiles.features(recipients.take(np.array([i])), rules=rules, total_slots=total_slots, shown=shown)
        shares, brand_shares = f.shares[0].tolist(), f.brand_shares[0].tolist()
        gender_fit, age_fit = f.gender_fit[0].tolist(), f.age_fit[0].tolist()
        centre, ceiling = f.centre[0].tolist(), f.ceiling[0].tolist()
        warm, chash = bool(f.warm[0]), int(f.hash[0])
        pop = popularity[int(f.market[0])]
        excluded = {int(k) % n_groups for k in f.excluded.tolist()}
        audience[i] = bool(f.audience[0])

        scored: list[tuple[float, int, list[float], bool]] = []
        for p in range(len(cat)):
            if not eligible[p] or not audience[i]:
                continue
            if not rules.allow_above_band and log_price[p] > ceiling[band[p]]:
                continue
            if group[p] in excluded:
                continue
            path = paths[p]
            affinity = depth_weights[0] * shares[path[0]]
            for d in range(1, len(depth_weights)):
                affinity += depth_weights[d] * shares[path[d]]
            c = centre[band[p]]
            distance = (log_price[p] - c) / rules.band_width
            price = -(0.0 if math.isnan(c) else min(distance * distance, PRICE_CAP))
            values = [
                affinity,
                brand_shares[brand[p]],
                gender_fit[gender[p]],
                age_fit[age[p]],
                pop[p],
                newness[p],
                price,
                uniform_scalar(rules.seed, chash, phash[p]),
            ]
            scored.append((0.0, p, values, warm and shares[path[0]] == 0))

        used_groups: set[int] = set()
        brand_count: dict[int, int] = {}
        explore_left = int(f.explore_allowed[0])
        for g in order:
            kind = kind_of[g]
            w = weights["bestsellers" if kind == "bestsellers" else "personal"]
            ranked = []
            for _, p, values, explore in scored:
                if kind == "new" and not is_new[p]:
                    continue
                s = w[0] * values[0]
                for t in range(1, len(TERMS)):
                    s += w[t] * values[t]
                ranked.append((-s, p, values, explore))
            ranked.sort(key=lambda r: (r[0], r[1]))
            slot = 0
            chosen_values = []
            for _, p, values, explore in ranked:
                if slot == slots[g]:
                    break
                if group[p] in used_groups:
                    continue
                if brand[p] >= 0 and brand_count.get(brand[p], 0) >= rules.max_per_brand:
                    continue
                if explore and explore_left <= 0:
                    continue
                picks[g][i, slot] = p
                chosen_values.append((values, explore))
                used_groups.add(group[p])
                if brand[p] >= 0:
                    brand_count[brand[p]] = brand_count.get(brand[p], 0) + 1
                explore_left -= explore
                slot += 1
            if chosen_values:
                values_array = np.array([v for v, _ in chosen_values]).T[:, None, :]
                codes = reason_codes(
                    values_array, w, warm=np.array([warm]),
                    explore=np.array([[e for _, e in chosen_values]]), picked=np.ones((1, len(chosen_values)), bool),
                )  # fmt: skip
                reasons[g][i, : len(chosen_values)] = codes[0]
    return Selection(catalogue=cat, customer_ids=recipients.ids, picks=picks, reasons=reasons, audience=audience)
