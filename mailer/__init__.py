"""mailer: personalised marketing email at scale.

Read a product feed and customers, compose each customer's message in their
language and currency from an MJML layout, and get standards-correct bytes::

    import mailer

    report = mailer.Report()
    catalogue = {p.id: p for p in mailer.iter_products("feed.xml", report=report)}
    campaign = mailer.load_campaign("campaign.toml")
    composer = mailer.Composer(campaign, signer=mailer.Signer(key))
    for customer in mailer.iter_customers("customers.csv", report=report):
        message = composer.compose(customer, {"picks": [...]})
        message.data  # bytes, ready for SMTP
"""

from __future__ import annotations

from mailer.sending.caps import Caps, Window
from mailer.campaign import Campaign, load_campaign
from mailer.content.catalogs import Catalogs, fallback_chain
from mailer.content.compose import ComposedMessage, Composer
from mailer.inputs.customers import Customer, iter_customers
from mailer.check import CheckResult, check_campaign
from mailer.sending.delivery import CampaignRenderer, queue_campaign
from mailer.errors import (
    ConfigError,
    CustomerError,
    FeedError,
    HeaderInjectionError,
    InputError,
    LayoutError,
    LayoutNotFound,
    LayoutSyntaxError,
    LocaleError,
    MailerError,
    MessageError,
    RatesError,
    SlotError,
    StoreBusy,
    StoreError,
)
from mailer.inputs.feeds import detect_format, iter_products
from mailer.inputs.history import Engagement, Purchase, iter_engagements, iter_purchases
from mailer.content.layouts import CompiledLayout, LayoutLibrary
from mailer.content.localise import Localiser, Localisers
from mailer.content.mime import MessageTemplate, message_id
from mailer.content.money import Money, Rates
from mailer.personalise import (
    Audience,
    Catalogue,
    ProgrammeStore,
    PurchaseTable,
    RecentlyShown,
    Recipients,
    SelectionRules,
    Selector,
    promotion_response,
    rfm,
    run_day,
    select,
)
from mailer.prepared import PreparedCampaign, prepare
from mailer.sending.plan import At, BestHour, LocalWindow, QuietHours, plan
from mailer.inputs.products import Product
from mailer.content.render import RenderedEmail, make_environment, render
from mailer.report import Report
from mailer.snapshot import Snapshot
from mailer.sto import best_send_times, read_history
from mailer.store import Delivery, NewDelivery, Outcome, Store, open_store
from mailer.sending.throttle import RateLimit
from mailer.tokens import InvalidToken, Signer, load_signing_key
from mailer.transports import Envelope, Transport, open_transport
from mailer.transports.replies import Reply, classify
from mailer.web.unsubscribe import UnsubscribeApp
from mailer.sending.worker import Worker, WorkerOptions

__all__ = [
    "At",
    "Audience",
    "BestHour",
    "Campaign",
    "CampaignRenderer",
    "Caps",
    "Catalogs",
    "Catalogue",
    "CheckResult",
    "CompiledLayout",
    "ComposedMessage",
    "Composer",
    "ConfigError",
    "Customer",
    "CustomerError",
    "Delivery",
    "Engagement",
    "Envelope",
    "FeedError",
    "HeaderInjectionError",
    "InputError",
    "InvalidToken",
    "LayoutError",
    "LayoutLibrary",
    "LayoutNotFound",
    "LayoutSyntaxError",
    "LocalWindow",
    "LocaleError",
    "Localiser",
    "Localisers",
    "MailerError",
    "MessageError",
    "MessageTemplate",
    "Money",
    "NewDelivery",
    "Outcome",
    "PreparedCampaign",
    "Product",
    "ProgrammeStore",
    "Purchase",
    "PurchaseTable",
    "QuietHours",
    "RateLimit",
    "Rates",
    "RatesError",
    "RecentlyShown",
    "Recipients",
    "RenderedEmail",
    "Reply",
    "Report",
    "SelectionRules",
    "Selector",
    "Signer",
    "SlotError",
    "Snapshot",
    "Store",
    "StoreBusy",
    "StoreError",
    "Transport",
    "UnsubscribeApp",
    "Window",
    "Worker",
    "WorkerOptions",
    "best_send_times",
    "check_campaign",
    "classify",
    "detect_format",
    "fallback_chain",
    "iter_customers",
    "iter_engagements",
    "iter_products",
    "iter_purchases",
    "load_campaign",
    "load_signing_key",
    "make_environment",
    "message_id",
    "open_store",
    "open_transport",
    "plan",
    "prepare",
    "promotion_response",
    "queue_campaign",
    "read_history",
    "render",
    "rfm",
    "run_day",
    "select",
]
