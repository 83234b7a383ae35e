"""Applying feedback to a store: the edge between what comes back and the queue.

A :class:`FeedbackBatch` takes feedback messages one by one (from a Maildir,
or the webhook of :mod:`mailer.web.unsubscribe`): it finds the message each
names (:func:`~mailer.feedback.rules.find_message`) and lets the store act on
it under :mod:`~mailer.feedback.rules` in one transaction
(:meth:`mailer.store.Store.apply_feedback`). When the batch is done,
:meth:`FeedbackBatch.close` judges the complaint rates of the campaigns that
drew complaints and pauses those above the limit, with the reason (the
pause ``mailer campaign pause`` makes; ``mailer campaign resume`` undoes it).

>>> from mailer.store import NewDelivery, open_store
>>> from mailer.feedback.records import Feedback, RecipientReport
>>> signer = VerpSigner(b"k" * 32)
>>> store = open_store("sqlite::memory:")
>>> mid = "<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>"
>>> store.enqueue([NewDelivery("autumn", "C1", "ann@example.com", 0.0, message_id=mid)], now=0.0)
1
>>> bounce = Feedback("hard", "a bounce", (RecipientReport("ann@example.com", "suppress", "bad-mailbox", "5.1.1"),),
...                   envelope_to=(verp_sender("bounces@shop.test", mid, signer),))
>>> batch = FeedbackBatch(store, signer)
>>> event = batch.add(bounce, source="example")
>>> event.outcome, event.suppression, store.is_suppressed(address="ann@example.com")
('suppressed', 'hard-bounce', True)
>>> batch.close()
[]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.feedback.records import Feedback
from mailer.feedback.rules import ComplaintCount, FeedbackPolicy, find_message, pause_reason, verp_sender
from mailer.feedback.verp import VerpSigner

if TYPE_CHECKING:
    from mailer.store import FeedbackEvent, Store

__all__ = ["CampaignPaused", "FeedbackBatch", "verp_sender"]


@dataclass(frozen=True, slots=True)
class CampaignPaused:
    """A campaign :meth:`FeedbackBatch.close` paused (or, in a dry run,
    would pause) for its complaint rate: why, and how many waiting messages
    it held."""

    campaign: str
    reason: str
    held: int


class FeedbackBatch:
    """Feedback applied to ``store`` one message at a time, the complaint
    rates judged once at the end. ``signer`` verifies VERP tokens (built
    from the project's link-signing key); with ``dry_run`` nothing is
    written and each message is judged as if it were the only one read."""

    def __init__(
        self, store: Store, signer: VerpSigner, *, policy: FeedbackPolicy = FeedbackPolicy(), dry_run: bool = False
    ) -> None:
        self.store = store
        self.signer = signer
        self.policy = policy
        self.dry_run = dry_run
        self.kinds: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self._complained: dict[int, tuple[str, str | None]] = {}

    def add(self, feedback: Feedback, *, source: str | None = None, now: float | None = None) -> FeedbackEvent:
        """Apply one feedback message; returns the event the store kept (or
        would keep)."""
        event = self.store.apply_feedback(
            feedback, find_message(feedback, self.signer), policy=self.policy, source=source, dry_run=self.dry_run,
            now=now,
        )  # fmt: skip
        self.kinds[event.kind] += 1
        self.outcomes[event.suppression or event.outcome] += 1
        if event.action == "complaint" and event.campaign is not None and event.delivery is not None:
            self._complained[event.delivery] = (event.campaign, event.sending_domain)
        return event

    def close(self) -> list[CampaignPaused]:
        """Pause each campaign that drew a complaint in this batch whose
        complaint rate, or its sending domain's, is above the policy's limit
        (a campaign already paused or cancelled is left as it is); returns
        those paused. Reads every delivered row once, and only when a
        complaint came."""
        if not self._complained:
            return []
        counts = self.store.complaint_counts()
        if self.dry_run:  # the batch's complaints were not kept: count them in
            extra = Counter(self._complained.values())
            counts = [ComplaintCount(c.campaign, c.domain, c.delivered, c.complaints + extra.pop((c.campaign, c.domain), 0))
                      for c in counts] + [ComplaintCount(c, d, 0, n) for (c, d), n in extra.items()]  # fmt: skip
        paused = []
        for campaign in sorted({campaign for campaign, _ in self._complained.values()}):
            reason = pause_reason(campaign, counts, self.policy)
            if reason is None:
                continue
            found = self.store.campaigns(campaign)
            if found and found[0].hold is not None:
                continue
            held = 0 if self.dry_run else self.store.pause_campaign(campaign, reason=reason)
            paused.append(CampaignPaused(campaign, reason, held))
        self._complained.clear()
        return paused
