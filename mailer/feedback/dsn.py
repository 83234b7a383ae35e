"""RFC 3464 delivery status notifications: the machine-readable part of a bounce.

A ``message/delivery-status`` body holds one group of per-message fields
(``Reporting-MTA``, ``Original-Envelope-Id``, ``Arrival-Date``) and one group
per recipient (``Original-Recipient``, ``Final-Recipient``, ``Action``,
``Status``, ``Diagnostic-Code``). :func:`read_delivery_status` reads them from
the part's text; it also finds them where a broken bounce pasted them into
plain text, and splits recipients whose groups lack the blank line between
them.

>>> report = read_delivery_status('''Reporting-MTA: dns; mx.shop.test
...
... Final-Recipient: rfc822; Ann@Example.com
... Action: failed
... Status: 5.1.1
... Diagnostic-Code: smtp; 550 5.1.1 <ann@example.com>... User unknown''')
>>> report.reporting_mta, report.recipients[0].address, report.recipients[0].status
('dns; mx.shop.test', 'ann@example.com', '5.1.1')
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.feedback.addresses import field_address
from mailer.feedback.fields import read_fields
from mailer.feedback.status import best_status, find_status

_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient"})
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
NOT_FAILURES = frozenset({"delivered", "relayed", "expanded"})
"""``Action`` values that report success: such a recipient did not bounce."""


@dataclass(frozen=True, slots=True)
class DeliveryStatusRecipient:
    """One recipient's fields, addresses normalised. ``action`` is
    lower-cased (``None`` when the field is missing or not one RFC 3464
    defines); ``status`` is the most specific enhanced code of the ``Status``
    field and the diagnostic."""

    final_recipient: str | None
    original_recipient: str | None
    action: str | None
    status: str | None
    diagnostic: str
    remote_mta: str | None = None

    @property
    def address(self) -> str | None:
        """The address the sender gave (``Original-Recipient``, from the
        ``ORCPT`` of the delivery), else the one delivery ended at: the
        former is what a suppression list holds when a server rewrote it.

        >>> DeliveryStatusRecipient("ann@mail.example.com", "ann@example.com", "failed", "5.1.1", "").address
        'ann@example.com'
        """
        return self.original_recipient or self.final_recipient

    @property
    def succeeded(self) -> bool:
        """Whether this recipient's line reports a success, not a failure
        (``Action: delivered``, or a 2.x.x status with a made-up action such
        as ``deliverable``)."""
        return self.action in NOT_FAILURES or (self.action != "failed" and (self.status or "").startswith("2."))


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """The per-message fields and the recipients of one report."""

    reporting_mta: str | None
    original_envelope_id: str | None
    arrival_date: str | None
    recipients: tuple[DeliveryStatusRecipient, ...]


def read_delivery_status(text: str) -> DeliveryStatus:
    """The delivery status fields in ``text`` (empty when there are none).

    >>> read_delivery_status("Hello!\\nNothing to see.").recipients
    ()
    """
    message: dict[str, str] = {}
    groups: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    current_group = -1
    for field in read_fields(text):
        # A recipient field opens a new recipient unless it completes the
        # current one (Original- and Final-Recipient come in either order).
        starts_recipient = field.name in _RECIPIENT_FIELDS and (
            current is None
            or current_group != field.group
            or field.name in current
            or _recipient_fields(current)
        )
        if starts_recipient:
            current = {}
            groups.append(current)
            current_group = field.group
        elif current is not None and field.group != current_group:
            current = None
        target = current if current is not None else message
        target.setdefault(field.name, field.value)
    recipients = tuple(_recipient(group) for group in groups if _recipient_fields(group))
    return DeliveryStatus(
        reporting_mta=message.get("reporting-mta"),
        original_envelope_id=message.get("original-envelope-id"),
        arrival_date=message.get("arrival-date"),
        recipients=recipients,
    )


def _recipient_fields(group: dict[str, str]) -> bool:
    return "action" in group or "status" in group or "diagnostic-code" in group


def _recipient(group: dict[str, str]) -> DeliveryStatusRecipient:
    final = field_address(group.get("final-recipient", ""))
    original = field_address(group.get("original-recipient", ""))
    action = group.get("action", "").strip().lower().split(" ", 1)[0] or None
    diagnostic = group.get("diagnostic-code", "")
    status = best_status(find_status(group.get("status", "")), find_status(diagnostic, classes="45"))
    return DeliveryStatusRecipient(
        final_recipient=final,
        original_recipient=original,
        action=action if action in _ACTIONS else None,
        status=status,
        diagnostic=diagnostic,
        remote_mta=group.get("remote-mta"),
    )
