"""Whole messages: every layout in every shipped locale and currency, hostile
data, deterministic ids, one-click unsubscribe, size warnings."""

from __future__ import annotations

import dataclasses
import email
import json
import re
from datetime import timedelta
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailer.campaign import Campaign, load_campaign
from mailer.content.compose import Composer, first_name
from mailer.inputs.customers import Customer
from mailer.errors import HeaderInjectionError, MailerError, SlotError
from mailer.content.money import Money
from mailer.inputs.products import Product
from mailer.tokens import Signer

from mailer.content.catalogs import Catalogs
from mailer.content.layouts import LayoutLibrary
from mailer.content.render import make_environment

from tests.conftest import FIXTURES, LOCALES_DIR, shared_path

SIGNER = Signer(b"test-key-" * 4)
LOCALES = [
    ("en_GB", "GBP", "Europe/London"),
    ("en_US", "USD", "America/New_York"),
    ("da_DK", "DKK", "Europe/Copenhagen"),
    ("sv_SE", "SEK", "Europe/Stockholm"),
    ("sv_FI", "EUR", "Europe/Helsinki"),
    ("de_DE", "EUR", "Europe/Berlin"),
    ("de_CH", "CHF", "Europe/Zurich"),
    ("fr_FR", "EUR", "Europe/Paris"),
    ("ja_JP", "JPY", "Asia/Tokyo"),
]
LAYOUTS = ("newsletter", "welcome", "winback")


def product(index: int, **overrides: object) -> Product:
    fields: dict[str, object] = {
        "id": f"SKU-{index}",
        "title": f"Merino jumper {index}",
        "price": Money(Decimal("49.00"), "GBP"),
        "link": f"https://shop.test/p/{index}",
        "image_link": f"https://cdn.shop.test/{index}.jpg",
        "brand": "Acme",
        "item_group_id": f"G{index}",
    }
    fields.update(overrides)
    return Product(**fields)  # type: ignore[arg-type]


def customer(**overrides: object) -> Customer:
    fields: dict[str, object] = {
        "id": "cust-1",
        "email": "zoe@example.com",
        "name": "Zoë Smith",
        "locale": "en_GB",
        "currency": "GBP",
        "timezone": "Europe/London",
    }
    fields.update(overrides)
    return Customer(**fields)  # type: ignore[arg-type]


CATALOGS = Catalogs(LOCALES_DIR)
LIBRARY = LayoutLibrary(environment_factory=make_environment, translations=CATALOGS.translations)


def make_composer(campaign: Campaign) -> Composer:
    """A composer sharing the compiled layouts (MJML compiles once per module)."""
    return Composer(campaign, signer=SIGNER, layouts=LIBRARY, catalogs=CATALOGS)


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign(FIXTURES / "campaign.toml")


@pytest.fixture(scope="module")
def composer(campaign: Campaign) -> Composer:
    return make_composer(campaign)


def parse(data: bytes) -> email.message.EmailMessage:
    message = BytesParser(policy=policy.strict).parsebytes(data)
    assert isinstance(message, email.message.EmailMessage)
    return message


def bodies(message: email.message.EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    return text_part.get_content(), html_part.get_content()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("locale", "currency", "zone"), LOCALES)
def test_every_layout_renders_in_every_locale_and_currency(
    campaign: Campaign, layout: str, locale: str, currency: str, zone: str
) -> None:
    composer = make_composer(dataclasses.replace(campaign, layout=layout))
    picks = [product(i) for i in range(6)]
    slots = {"picks": picks} if composer.layout.slots else {}
    message = composer.compose(customer(locale=locale, currency=currency, timezone=zone), slots)
    parsed = parse(message.data)
    assert not parsed.defects
    # Ready for SMTP as it is: CRLF only, no line for DATA to dot-stuff.
    assert message.data.count(b"\n") == message.data.count(b"\r\n") == message.data.count(b"\r")
    assert b"\n." not in message.data
    text, html = bodies(parsed)
    assert "{{" not in html and "{%" not in html and "{{" not in text
    assert str(parsed["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    if layout != "welcome":
        price = composer.localisers.get(locale, currency, zone).money(picks[0].price)
        assert price in text
        assert str(markupsafe_escape(price)) in html


def markupsafe_escape(value: str) -> str:
    import markupsafe

    return str(markupsafe.escape(value))


def test_money_is_shown_in_the_recipients_currency_and_locale(composer: Composer) -> None:
    german = composer.compose(
        customer(locale="de_DE", currency="EUR", timezone="Europe/Berlin"),
        {"picks": [product(1, price=Money(Decimal("12.50"), "EUR"))]},
    )
    assert "12,50\xa0€" in german.text
    japanese = composer.compose(
        customer(locale="en_US", currency="JPY", timezone="Asia/Tokyo", id="c-jp"),
        {"picks": [product(2, price=Money(Decimal("1100"), "JPY"))]},
    )
    assert "¥1,100" in japanese.text


def test_sale_price_shows_with_the_regular_price_while_effective(campaign: Campaign) -> None:
    on_sale = product(
        3,
        sale_price=Money(Decimal("29.00"), "GBP"),
        sale_start=campaign.send_date - timedelta(days=1),
    )
    composer = make_composer(campaign)
    message = composer.compose(customer(), {"picks": [on_sale]})
    assert "£29.00" in message.text and "Was £49.00" in message.text
    expired = dataclasses.replace(on_sale, id="SKU-x", sale_end=campaign.send_date)
    message = composer.compose(customer(id="c2"), {"picks": [expired]})
    assert "£49.00" in message.text and "£29.00" not in message.text


def test_message_id_is_deterministic_per_campaign_and_recipient(composer: Composer, campaign: Campaign) -> None:
    one = composer.compose(customer(), {"picks": [product(1)]})
    again = make_composer(campaign).compose(customer(), {"picks": [product(1)]})
    other = composer.compose(customer(id="cust-2"), {"picks": [product(1)]})
    assert one.message_id == again.message_id != other.message_id
    assert one.data == again.data  # a retry sends the same bytes


def test_unsubscribe_link_is_signed_for_the_recipient(composer: Composer) -> None:
    message = composer.compose(customer(), {"picks": [product(1)]})
    header = str(parse(message.data)["List-Unsubscribe"])
    url = re.search(r"<(https://[^>]+)>", header).group(1)  # type: ignore[union-attr]
    assert "mailto:unsubscribe@example-shop.test" in header
    subject = SIGNER.verify(url.rsplit("/", 1)[1])
    assert (subject.customer_id, subject.campaign_id) == ("cust-1", "autumn-newsletter-2026")
    assert url in message.text  # the footer link too


def test_customer_and_product_text_is_escaped_in_html(composer: Composer) -> None:
    evil = "<script>alert(1)</script>"
    message = composer.compose(
        customer(name=f"Eve {evil}"), {"picks": [product(1, title=evil, brand='"><img src=x onerror=1>')]}
    )
    _, html = bodies(parse(message.data))
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert evil in message.text  # the text part shows it as text


def test_values_starting_with_a_period_never_start_a_line(composer: Composer) -> None:
    message = composer.compose(customer(name=".Dot Matrix"), {"picks": [product(1, title=".hidden", brand=".")]})
    assert b"\n." not in message.data
    text, html = bodies(parse(message.data))
    assert ".hidden" in html and ".hidden" in text


def test_javascript_links_from_the_feed_are_dropped(composer: Composer) -> None:
    message = composer.compose(customer(), {"picks": [product(1, link="javascript:alert(1)")]})
    assert "javascript:" not in message.html


def test_name_with_newline_cannot_inject_a_header(composer: Composer) -> None:
    with pytest.raises(HeaderInjectionError):
        composer.compose(customer(name="Eve\r\nBcc: victim@example.com"), {"picks": [product(1)]})


def test_unknown_slot_group_is_an_error(composer: Composer) -> None:
    with pytest.raises(SlotError, match="deals"):
        composer.compose(customer(), {"deals": [product(1)]})


def test_oversized_html_is_flagged_for_gmail_clipping(campaign: Campaign) -> None:
    composer = make_composer(campaign)
    huge = [product(i, title="x" * 20_000) for i in range(6)]
    message = composer.compose(customer(), {"picks": huge})
    assert any("Gmail" in w for w in message.warnings)
    small = composer.compose(customer(id="c3"), {"picks": [product(1)]})
    assert small.warnings == ()


def test_first_name_respects_family_name_first_languages() -> None:
    assert first_name("Zoë Smith", "en") == "Zoë"
    assert first_name("田中 太郎", "ja") == "田中 太郎"


def _naughty_strings() -> list[str]:
    return json.loads(shared_path("hostile/blns.json").read_text(encoding="utf-8"))


def test_naughty_strings_as_names_titles_and_subjects(campaign: Campaign) -> None:
    strings = _naughty_strings()
    composed = 0
    for index, naughty in enumerate(strings):
        trial = dataclasses.replace(campaign, subject={"en": naughty.replace("{", "(").replace("}", ")")})
        composer = make_composer(trial)
        try:
            message = composer.compose(
                customer(id=f"c{index}", name=naughty),
                {"picks": [product(index, title=naughty, brand=naughty)]},
            )
        except HeaderInjectionError:
            assert any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in naughty)
            continue
        except MailerError as err:
            # A subject that is not a valid template is reported as such.
            assert "subject" in str(err)
            continue
        composed += 1
        parsed = parse(message.data)
        assert not parsed.defects
        assert sorted(k.lower() for k in parsed.keys()) == sorted(EXPECTED_HEADERS)
        text, html = bodies(parsed)
        assert "<script" not in html.lower()  # markup from data is always escaped
        assert "\r" not in str(parsed["Subject"]) and "\n" not in str(parsed["Subject"])
    assert composed > len(strings) * 0.9


EXPECTED_HEADERS = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
]


def test_winback_offer_shows_code_and_local_expiry_date(campaign: Campaign) -> None:
    from datetime import date

    winback = dataclasses.replace(
        campaign, layout="winback", offer={"code": "COMEBACK15", "expires": date(2026, 12, 31)}
    )
    composer = make_composer(winback)
    german = composer.compose(
        customer(locale="de_DE", currency="EUR", timezone="Europe/Berlin"), {"picks": [product(1)]}
    )
    assert "COMEBACK15" in german.text
    assert "31. Dezember 2026" in german.text
    without = make_composer(dataclasses.replace(campaign, layout="winback", offer={}))
    plain = without.compose(customer(), {"picks": [product(1)]})
    assert "COMEBACK15" not in plain.text and "discount code" not in plain.text.lower()


def test_recipient_attributes_such_as_the_segment_reach_the_layout(tmp_path: Path, campaign: Campaign) -> None:
    import shutil

    from mailer.content.layouts import DEFAULT_LAYOUTS_DIR

    layouts = tmp_path / "layouts"
    shutil.copytree(DEFAULT_LAYOUTS_DIR, layouts)
    welcome = layouts / "welcome.mjml"
    welcome.write_text(welcome.read_text().replace(
        '{{ _("Free returns") }}',
        '{% if recipient.segment == "champions" %}Thank you, champion{% else %}{{ _("Free returns") }}{% endif %}',
    ))
    library = LayoutLibrary(layouts, environment_factory=make_environment, translations=CATALOGS.translations)
    composer = Composer(dataclasses.replace(campaign, layout="welcome"), signer=SIGNER, layouts=library, catalogs=CATALOGS)
    champion = composer.compose(customer(), attributes={"segment": "champions"})
    plain = composer.compose(customer(id="c2"))
    assert "Thank you, champion" in champion.text
    assert "Thank you, champion" not in plain.text and "Free returns" in plain.text


def test_a_locale_idle_for_long_makes_room_for_a_new_one(campaign: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recipients sorted by locale: once the budget is low, the cards of a
    locale long finished make room for the next locale's."""
    from mailer.content import compose

    monkeypatch.setattr(compose, "IDLE_MESSAGES", 40)
    composer = Composer(campaign, signer=SIGNER, layouts=LIBRARY, catalogs=CATALOGS, cache_budget=60_000)
    products = [product(i) for i in range(20)]
    locales = [("en_GB", "GBP", "Europe/London"), ("de_DE", "EUR", "Europe/Berlin"), ("fr_FR", "EUR", "Europe/Paris")]
    for locale, currency, zone in locales:
        for n in range(60):
            picks = [products[(n + k) % 20] for k in range(6)]
            composer.compose(customer(id=f"{locale}-{n}", locale=locale, currency=currency, timezone=zone), {"picks": picks})
    first, second, third = (composer._states[(locale, currency)] for locale, currency, _ in locales)
    assert len(first.fragments_html) == 0 and first.fragments_html.chars == 0  # released
    assert len(third.fragments_html) == 20 and len(third.fragments_text) == 20
    assert composer.cache_budget.left >= 0
    stored = sum(s.fragments_html.chars + s.fragments_text.chars for s in composer._states.values())
    assert stored + composer.cache_budget.left == 60_000


def test_a_cached_tag_in_the_subject_caches_nothing(campaign: Campaign) -> None:
    subject = {language: "Hi {% cached 0 %}{{ recipient.first_name }}{% endcached %}" for language in campaign.subject}
    composer = make_composer(dataclasses.replace(campaign, subject=subject))
    picks = {"picks": [product(i) for i in range(6)]}
    first = composer.compose(customer(id="a", name="Alice Smith"), picks)
    second = composer.compose(customer(id="b", name="Bob Jones"), picks)
    assert (first.subject, second.subject) == ("Hi Alice", "Hi Bob")


@pytest.mark.parametrize("name", ["", "   ", "-"])
def test_a_customer_without_a_name_is_greeted_without_a_dangling_comma(tmp_path: Path, name: str) -> None:
    import dataclasses

    from mailer.personalise.choices import Choice
    from tests.conftest import prepared_sample

    with prepared_sample(tmp_path / "state") as prepared:
        from mailer.inputs.customers import iter_customers

        (customer,) = [c for _, c in zip(range(1), iter_customers(FIXTURES / "customers.csv"))]
        message = prepared.compose(Choice(dataclasses.replace(customer, name=name), kept=True))
    assert message.subject == "New in for you"
    assert "Hi," in message.bodies.text and "Hi ," not in message.bodies.text
