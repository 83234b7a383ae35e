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

from mailer.campaign import Campaign, load_campaign
from mailer.catalogs import Catalogs, fallback_chain
from mailer.compose import ComposedMessage, Composer
from mailer.customers import Customer, iter_customers
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
)
from mailer.feeds import detect_format, iter_products
from mailer.history import Engagement, Purchase, iter_engagements, iter_purchases
from mailer.layouts import CompiledLayout, LayoutLibrary
from mailer.localise import Localiser, Localisers
from mailer.mime import MessageTemplate, message_id
from mailer.money import Money, Rates
from mailer.products import Product
from mailer.render import RenderedEmail, make_environment, render
from mailer.report import Report
from mailer.tokens import InvalidToken, Signer, load_signing_key

__all__ = [
    "Campaign",
    "Catalogs",
    "CompiledLayout",
    "ComposedMessage",
    "Composer",
    "ConfigError",
    "Customer",
    "CustomerError",
    "Engagement",
    "FeedError",
    "HeaderInjectionError",
    "InputError",
    "InvalidToken",
    "LayoutError",
    "LayoutLibrary",
    "LayoutNotFound",
    "LayoutSyntaxError",
    "LocaleError",
    "Localiser",
    "Localisers",
    "MailerError",
    "MessageError",
    "MessageTemplate",
    "Money",
    "Product",
    "Purchase",
    "Rates",
    "RatesError",
    "RenderedEmail",
    "Report",
    "Signer",
    "SlotError",
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
    "render",
]
