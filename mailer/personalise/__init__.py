"""Personalisation: each customer's products, segment and programme, the way a personal shopper would.

The path through this package, all numpy over plain arrays:

* :class:`Catalogue` (the live feed as arrays) and :class:`PurchaseTable`
  (order lines coded against it) → :func:`fit_profiles` learns each
  customer's category and brand affinity, gender and age fit, price bands
  and recent purchases, and each product's popularity per market and
  newness (:class:`Profiles`), as of the day of the email;
* :func:`select` (or a :class:`Selector`, batch by batch) fills each
  recipient's slot groups from candidate pools under the
  :class:`SelectionRules`: in stock, inside their price band, at most an
  exploration share from categories they never bought, one variant per item
  group, a brand cap, nothing bought or shown recently, privacy-sensitive
  categories never used, seeded so a preview is exactly what is sent, and a
  reason kept for each pick;
* :mod:`~mailer.personalise.segments` (RFM), :mod:`~mailer.personalise.promotions`
  (who buys on discount) and :mod:`~mailer.personalise.programmes`
  (welcome and lapsed-customer series with a durable position per customer).

:mod:`~mailer.personalise.strategies` names these for campaign files and
``mailer render`` (``[selection] strategy = "personal"``, ``[audience]``);
The test suite's :mod:`~tests.support.synthetic` generates shops to try them on, up to
millions of customers. :mod:`~tests.support.reference` is the same
selection written as the straightforward per-customer loop; it is what tests
and the benchmark compare against. See ``docs/personalise.md``.
"""

from __future__ import annotations

from mailer.personalise.catalogue import Catalogue
from mailer.personalise.exclusions import RecentlyShown, ShownLog
from mailer.personalise.profiles import Profiles, fit_profiles
from mailer.personalise.programme_store import ProgrammeStore, run_day
from mailer.personalise.programmes import LAPSED, REACTIVATION, WELCOME, Positions, Programme, Step, advance
from mailer.personalise.promotions import PromotionResponse, PromotionRules, promotion_response
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.reasons import REASONS
from mailer.personalise.recipients import Recipients
from mailer.personalise.rules import SelectionRules, SlotKind, Weights
from mailer.personalise.segments import Audience, RFMThresholds, SegmentRule, Segments, choose_by_segment, rfm
from mailer.personalise.selection import Selection, Selector, iter_select, select
from mailer.personalise.strategies import STRATEGIES, Personalisation, SelectionConfig, parse_selection

__all__ = [
    "Audience",
    "Catalogue",
    "LAPSED",
    "Personalisation",
    "Positions",
    "Profiles",
    "Programme",
    "ProgrammeStore",
    "PromotionResponse",
    "PromotionRules",
    "PurchaseTable",
    "REACTIVATION",
    "REASONS",
    "RFMThresholds",
    "RecentlyShown",
    "Recipients",
    "STRATEGIES",
    "SegmentRule",
    "Segments",
    "Selection",
    "SelectionConfig",
    "SelectionRules",
    "Selector",
    "ShownLog",
    "SlotKind",
    "Step",
    "WELCOME",
    "Weights",
    "advance",
    "choose_by_segment",
    "fit_profiles",
    "iter_select",
    "parse_selection",
    "promotion_response",
    "rfm",
    "run_day",
    "select",
]
