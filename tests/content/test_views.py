"""Product views: fields worked out on first read, escaped for HTML, complete to every reader."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import jinja2
import markupsafe
import pytest

from mailer.campaign import Campaign, load_campaign
from mailer.content.localise import Localiser, Localisers
from mailer.content.money import Money
from mailer.inputs.products import Product
from mailer.content.render import make_environment
from mailer.content.views import EscapedProductView, ProductView, safe_url

from .test_compose import CATALOGS, FIXTURES, customer, make_composer, product

NOW = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


@pytest.fixture
def formatted(monkeypatch: pytest.MonkeyPatch) -> list[Money]:
    """The prices real localisers format, in order (a spy: they still format)."""
    calls: list[Money] = []
    real_money = Localiser.money
    monkeypatch.setattr(Localiser, "money", lambda self, value: calls.append(value) or real_money(self, value))
    return calls


@pytest.fixture
def campaign() -> Campaign:
    return load_campaign(FIXTURES / "campaign.toml")


@pytest.fixture
def l10n() -> Localiser:
    return Localisers(catalogs=CATALOGS).get("de_DE", "EUR", "Europe/Berlin")


def evil() -> Product:
    return product(1, title="<b>Jumper</b> & co", price=Money(Decimal("12.50"), "EUR"), link="javascript:alert(1)")


def test_fields_are_worked_out_only_when_first_read(l10n: Localiser, formatted: list[Money]) -> None:
    view = ProductView(evil(), 7, l10n, NOW)
    assert view["key"] == 7 and formatted == []
    assert view["price"] == "12,50\xa0€" and len(formatted) == 1
    assert view["title"] == "<b>Jumper</b> & co" and len(formatted) == 1
    assert view["link"] == "" and safe_url("javascript:alert(1)") is None


@pytest.mark.parametrize(
    "read", [len, list, dict, reversed, lambda v: v.get("title"), lambda v: "title" in v, lambda v: v.items()]
)
def test_every_way_of_reading_sees_every_field(l10n: Localiser, read) -> None:  # type: ignore[no-untyped-def]
    view = ProductView(evil(), 7, l10n, NOW)
    read(view)
    assert set(dict.keys(view)) == {"key", "id", "title", "brand", "link", "image", "price", "was_price", "color", "size"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ p|reverse|list|length }}", "10"),
        ("{{ p|last }}", "size"),
        ("{{ p|dictsort|length }}", "10"),
        ("{{ p == q }} {{ p != q }} {{ p in [q] }}", "True False True"),
        ("{{ (p|tojson)[:9] }}", '{"brand":'),
    ],
)
def test_templates_see_whole_views(l10n: Localiser, source: str, expected: str) -> None:
    """Two unfilled views of one product compare equal; filters that reach
    a dict without reading a field still see every field."""
    p, q = (EscapedProductView(ProductView(evil(), 7, l10n, NOW)) for _ in range(2))
    assert make_environment(True).from_string(source).render(p=p, q=q) == expected


def test_the_key_shows_layouts_nothing_of_the_product(l10n: Localiser) -> None:
    html = EscapedProductView(ProductView(evil(), 7, l10n, NOW))
    with pytest.raises(jinja2.UndefinedError):
        make_environment(True).from_string("{{ p.key.link }}").render(p=html)


def test_a_missing_field_is_a_key_error_not_a_loop(l10n: Localiser) -> None:
    view = ProductView(evil(), 7, l10n, NOW)
    with pytest.raises(KeyError):
        view["nonexistent"]
    with pytest.raises(jinja2.UndefinedError, match="nonexistent"):
        make_environment(True).from_string("{{ p.nonexistent }}").render(p=view)


def test_the_html_view_is_escaped_once_even_under_safe(l10n: Localiser) -> None:
    html = EscapedProductView(ProductView(evil(), 7, l10n, NOW))
    assert html["key"] == 7
    assert isinstance(html["title"], markupsafe.Markup)
    out = make_environment(True).from_string("{{ p.title }}|{{ p.title|safe }}|{{ p|length }}").render(p=html)
    assert out == "&lt;b&gt;Jumper&lt;/b&gt; &amp; co|&lt;b&gt;Jumper&lt;/b&gt; &amp; co|10"


def test_a_card_already_rendered_formats_no_price(campaign: Campaign, formatted: list[Money]) -> None:
    composer = make_composer(campaign)
    picks = {"picks": [product(i) for i in range(6)]}
    first = composer.compose(customer(), picks)
    assert len(formatted) == 6
    second = composer.compose(customer(id="cust-2", name="Ann Lee"), picks)
    assert len(formatted) == 6  # every card came from the fragment cache
    assert first.html.count("Merino jumper") == second.html.count("Merino jumper") > 0
