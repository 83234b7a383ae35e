from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from babel import Locale
from babel.localedata import locale_identifiers
import babel
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import NullTranslations
from hypothesis import given
from hypothesis import strategies as st

from mailer.content.catalogs import Catalogs
from mailer.errors import LocaleError, RatesError
from mailer.content.localise import Localiser, Localisers, _currency_format
from mailer.content.money import Money, Rates, minor_unit

ROOT = Path(__file__).parent.parent.parent
UTC = dt.timezone.utc
NBSP, NNBSP, RLM = "\xa0", "\u202f", "\u200f"

# Cost of money() (see mailer/content/localise.py), measured with timeit, best of 7 runs over
# 100,000 distinct prices on CPython 3.11: 1.8 µs a new price (2.4 µs converted),
# 0.2 µs a price seen before, against 25 µs (31 µs) for babel.numbers.format_currency.
# No timed test: the figures vary too much between machines to fail a build on.


def locked_babel() -> str | None:
    """The Babel release constraints.txt pins (the CLDR the literal strings below were read from)."""
    found = re.search(r"^babel==(\S+)", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    return found.group(1) if found else None


def require_locked_babel() -> None:
    """Literal CLDR text is checked only on the Babel release the lock pins; other releases
    are still checked against Babel's own output by the tests beside these."""
    if babel.__version__ != locked_babel():
        pytest.skip(f"literal CLDR text is for Babel {locked_babel()} (constraints.txt); Babel {babel.__version__} is installed")


def exact_conversion(eur: str, currency: str) -> Decimal:
    table = Rates.from_csv(ROOT / "fixtures" / "rates.csv")
    return Decimal(eur) * table.rate(currency) / table.rate("EUR")


@pytest.fixture(scope="module")
def rates() -> Rates:
    return Rates.from_csv(ROOT / "fixtures" / "rates.csv")


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs(ROOT / "locales")


@pytest.fixture(scope="module")
def localisers(rates: Rates, catalogs: Catalogs) -> Localisers:
    return Localisers(rates=rates, catalogs=catalogs)


# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "currency", "price", "expected"),
    [
        ("de_DE", "EUR", Money(Decimal("12.5"), "EUR"), f"12,50{NBSP}€"),
        ("da_DK", "DKK", Money(Decimal("99"), "DKK"), f"99,00{NBSP}kr."),
        ("en_US", "JPY", Money(Decimal("1100"), "JPY"), "¥1,100"),
        ("ja_JP", "JPY", Money(Decimal("1100"), "JPY"), "￥1,100"),
        ("en_GB", "GBP", Money(Decimal("12.50"), "GBP"), "£12.50"),
        ("fr_CH", "CHF", Money(Decimal("12.50"), "CHF"), f"12,50{NBSP}CHF"),
        ("de_CH", "CHF", Money(Decimal("12.50"), "CHF"), f"CHF{NBSP}12.50"),
        ("de_CH", "CHF", Money(Decimal("1234.50"), "CHF"), f"CHF{NBSP}1'234.50"),
        ("fr_FR", "EUR", Money(Decimal("1234.5"), "EUR"), f"1{NNBSP}234,50{NBSP}€"),
        ("en_US", "KWD", Money(Decimal("1.5"), "KWD"), "KWD1.500"),
    ],
)
def test_money_in_own_currency_is_formatted_per_cldr(
    localisers: Localisers, locale: str, currency: str, price: Money, expected: str
) -> None:
    text = localisers.get(locale, currency, "UTC").money(price)
    assert text == format_currency(price.amount.quantize(minor_unit(currency)), currency, locale=locale)
    if babel.__version__ == locked_babel():
        assert text == expected


# A EUR feed price shown in each recipient's currency: the converted amount
# (rounded once, half up, to the minor unit) and the exact text CLDR gives.
CONVERSIONS = [
    ("de_DE", "EUR", "1234.50", "1234.50", f"1.234,50{NBSP}€"),
    ("nl_NL", "EUR", "49.90", "49.90", f"€{NBSP}49,90"),
    ("en_IE", "EUR", "1234.50", "1234.50", "€1,234.50"),
    ("en_US", "USD", "49.90", "56.75", "$56.75"),
    ("en_US", "USD", "1234.50", "1403.87", "$1,403.87"),
    ("en_GB", "GBP", "49.90", "42.02", "£42.02"),
    ("da_DK", "DKK", "49.90", "372.20", f"372,20{NBSP}kr."),
    ("da_DK", "DKK", "1234.50", "9208.01", f"9.208,01{NBSP}kr."),
    ("sv_SE", "SEK", "1234.50", "13472.10", f"13{NBSP}472,10{NBSP}kr"),
    ("nb_NO", "NOK", "49.90", "575.75", f"575,75{NBSP}kr"),
    ("is_IS", "ISK", "49.90", "7181", f"7.181{NBSP}kr."),
    ("de_CH", "CHF", "1234.50", "1156.36", f"CHF{NBSP}1'156.36"),
    ("fr_CH", "CHF", "1234.50", "1156.36", f"1'156,36{NBSP}CHF"),
    ("pl_PL", "PLN", "1234.50", "5273.54", f"5{NBSP}273,54{NBSP}zł"),
    ("cs_CZ", "CZK", "49.90", "1241.61", f"1{NBSP}241,61{NBSP}Kč"),
    ("hu_HU", "HUF", "1234.50", "499886", f"499{NBSP}886{NBSP}Ft"),
    ("ro_RO", "RON", "1234.50", "6217.56", f"6.217,56{NBSP}RON"),
    ("bg_BG", "BGN", "49.90", "97.59", f"97,59{NBSP}лв."),
    ("tr_TR", "TRY", "1234.50", "55056.23", "₺55.056,23"),
    ("ja_JP", "JPY", "1234.50", "201779", "￥201,779"),
    ("en_US", "JPY", "49.90", "8156", "¥8,156"),
    ("ko_KR", "KRW", "1234.50", "1939708", "₩1,939,708"),
    ("zh_CN", "CNY", "1234.50", "10103.52", "¥10,103.52"),
    ("zh_Hant_HK", "HKD", "49.90", "445.01", "HK$445.01"),
    ("en_SG", "SGD", "1234.50", "1811.26", "$1,811.26"),
    ("en_IN", "INR", "1234.50", "120328.57", "₹1,20,328.57"),
    ("en_CA", "CAD", "1234.50", "1927.30", "$1,927.30"),
    ("fr_CA", "CAD", "1234.50", "1927.30", f"1{NBSP}927,30{NBSP}$"),
    ("es_MX", "MXN", "1234.50", "27084.31", "$27,084.31"),
    ("pt_BR", "BRL", "1234.50", "7936.60", f"R${NBSP}7.936,60"),
    ("en_AU", "AUD", "49.90", "87.92", "$87.92"),
    ("en_NZ", "NZD", "1234.50", "2340.86", "$2,340.86"),
    ("en_ZA", "ZAR", "1234.50", "25162.57", f"R25{NBSP}162,57"),
    ("ar_AE", "AED", "1234.50", "5155.77", f"{RLM}5,155.77{NBSP}د.إ.{RLM}"),
    ("en_AE", "AED", "49.90", "208.40", "AED208.40"),
    ("ar_KW", "KWD", "49.90", "17.400", f"{RLM}17.400{NBSP}د.ك.{RLM}"),
    ("en_US", "KWD", "1234.50", "430.470", "KWD430.470"),
    ("th_TH", "THB", "1234.50", "45874.02", "฿45,874.02"),
    ("he_IL", "ILS", "49.90", "199.92", f"{RLM}199.92{NBSP}{RLM}₪"),
    ("id_ID", "IDR", "1234.50", "22897901", "Rp22.897.901"),
]


@pytest.mark.parametrize(("locale", "currency", "eur", "converted", "expected"), CONVERSIONS)
def test_eur_price_is_converted_and_formatted(
    localisers: Localisers, locale: str, currency: str, eur: str, converted: str, expected: str
) -> None:
    # Checked against whatever Babel is installed: the amount must be the table's exact
    # conversion rounded once to today's CLDR minor unit, and the text Babel's own.
    l10n = localisers.get(locale, currency, "UTC")
    price = Money(Decimal(eur), "EUR")
    amount = exact_conversion(eur, currency).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    assert l10n.convert(price) == Money(amount, currency)
    assert l10n.money(price) == format_currency(amount, currency, locale=locale)


@pytest.mark.parametrize(("locale", "currency", "eur", "converted", "expected"), CONVERSIONS)
def test_conversion_table_is_the_locked_cldr_text(
    localisers: Localisers, locale: str, currency: str, eur: str, converted: str, expected: str
) -> None:
    # The literal column is the CLDR of the Babel release constraints.txt pins.
    require_locked_babel()
    l10n = localisers.get(locale, currency, "UTC")
    price = Money(Decimal(eur), "EUR")
    assert l10n.convert(price) == Money(Decimal(converted), currency)
    assert l10n.money(price) == expected


def test_conversions_cover_at_least_twenty_currencies() -> None:
    assert len({currency for _, currency, *_ in CONVERSIONS}) >= 20


def test_money_converts_between_two_non_base_currencies(localisers: Localisers) -> None:
    # 100 USD → 100 × 0.8421 ÷ 1.1372 = 74.0503... GBP
    assert localisers.get("en_GB", "GBP", "Europe/London").money(Money(Decimal("100"), "USD")) == "£74.05"


def test_negative_amounts_use_the_negative_pattern(localisers: Localisers) -> None:
    assert localisers.get("de_DE", "EUR", "UTC").money(Money(Decimal("-12.5"), "EUR")) == f"-12,50{NBSP}€"
    assert localisers.get("en_US", "USD", "UTC").money(Money(Decimal("-1234.5"), "USD")) == "-$1,234.50"


def test_extra_places_in_a_feed_price_round_half_up_for_display(localisers: Localisers) -> None:
    # Babel alone would round 12.345 half to even (12,34); money rounds half up everywhere.
    l10n = localisers.get("de_DE", "EUR", "UTC")
    assert l10n.money(Money(Decimal("12.345"), "EUR")) == f"12,35{NBSP}€"
    assert l10n.convert(Money(Decimal("12.345"), "EUR")).amount == Decimal("12.345")


def test_missing_rate_raises_naming_the_currency(localisers: Localisers) -> None:
    with pytest.raises(RatesError, match="no rate for XOF"):
        localisers.get("fr_FR", "EUR", "UTC").money(Money(Decimal("1000"), "XOF"))


def test_conversion_without_a_rates_table_is_an_error() -> None:
    l10n = Localiser("en_US", "USD", "UTC")
    assert l10n.money(Money(Decimal("5"), "USD")) == "$5.00"
    with pytest.raises(RatesError, match="no rates table"):
        l10n.money(Money(Decimal("5"), "EUR"))


def test_money_memo_is_bounded() -> None:
    l10n = Localiser("en_US", "USD", "UTC", memo_size=8)
    for cents in range(100):
        assert l10n.money(Money(Decimal(cents).scaleb(-2), "USD")) == f"${cents // 100}.{cents % 100:02d}"
    assert len(l10n._memo) <= 8


def test_fast_formatter_matches_babel_in_every_cldr_locale() -> None:
    amounts = [Decimal("0"), Decimal("7.5"), Decimal("-1234567.891")]
    mismatches = []
    for identifier in locale_identifiers():
        locale = Locale.parse(identifier)
        for currency in ("EUR", "JPY", "KWD", "INR"):
            fast = _currency_format(locale, currency)
            for amount in amounts:
                amount = amount.quantize(minor_unit(currency))
                if fast(amount) != format_currency(amount, currency, locale=locale):
                    mismatches.append((identifier, currency, amount))
    assert mismatches == []


@given(
    amount=st.decimals(min_value=-10**12, max_value=10**12, places=3, allow_nan=False),
    locale=st.sampled_from(["de_DE", "en_IN", "fr_CH", "ar_KW", "ja_JP", "he_IL", "es_419"]),
    currency=st.sampled_from(["EUR", "USD", "JPY", "KWD", "INR"]),
)
def test_fast_formatter_matches_babel_for_any_amount(amount: Decimal, locale: str, currency: str) -> None:
    amount = amount.quantize(minor_unit(currency))
    parsed = Locale.parse(locale)
    assert _currency_format(parsed, currency)(amount) == format_currency(amount, currency, locale=parsed)


# --- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "number", "percent"),
    [
        ("en_GB", "1,234,567.891", "25%"),
        ("de_DE", "1.234.567,891", f"25{NBSP}%"),
        ("da_DK", "1.234.567,891", f"25{NBSP}%"),
        ("sv_SE", f"1{NBSP}234{NBSP}567,891", f"25{NBSP}%"),
        ("fr_FR", f"1{NNBSP}234{NNBSP}567,891", f"25{NBSP}%"),
        ("de_CH", "1234567.891", "25%"),
    ],
)
def test_number_and_percent_follow_the_locale(locale: str, number: str, percent: str) -> None:
    require_locked_babel()
    l10n = Localiser(locale, "EUR", "UTC")
    assert l10n.number(Decimal("1234567.891")) == number
    assert l10n.percent(Decimal("0.25")) == percent


@pytest.mark.parametrize("locale", ["en_GB", "de_DE", "da_DK", "sv_SE", "fr_FR", "de_CH", "hi_IN", "ar_EG"])
def test_number_and_percent_are_babels(locale: str) -> None:
    l10n = Localiser(locale, "EUR", "UTC")
    assert l10n.number(Decimal("1234567.891")) == format_decimal(Decimal("1234567.891"), locale=locale)
    assert l10n.percent(Decimal("0.25")) == format_percent(Decimal("0.25"), locale=locale)


def test_number_takes_a_cldr_pattern() -> None:
    assert Localiser("de_DE", "EUR", "UTC").number(Decimal("3.5"), format="#,##0.00") == "3,50"
    assert Localiser("en_US", "USD", "UTC").percent(Decimal("0.125"), format="#,##0.0%") == "12.5%"


# --- dates and times -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "medium", "full"),
    [
        (dt.datetime(2025, 3, 30, 0, 59, tzinfo=UTC), "30.03.2025, 01:59:00",
         "Sonntag, 30. März 2025, 01:59:00 Mitteleuropäische Normalzeit"),
        (dt.datetime(2025, 3, 30, 1, 0, tzinfo=UTC), "30.03.2025, 03:00:00",
         "Sonntag, 30. März 2025, 03:00:00 Mitteleuropäische Sommerzeit"),
        (dt.datetime(2025, 10, 26, 0, 59, tzinfo=UTC), "26.10.2025, 02:59:00",
         "Sonntag, 26. Oktober 2025, 02:59:00 Mitteleuropäische Sommerzeit"),
        (dt.datetime(2025, 10, 26, 1, 0, tzinfo=UTC), "26.10.2025, 02:00:00",
         "Sonntag, 26. Oktober 2025, 02:00:00 Mitteleuropäische Normalzeit"),
    ],
    ids=["before-spring-forward", "after-spring-forward", "before-fall-back", "after-fall-back"],
)
def test_datetime_crosses_dst_in_the_recipients_zone(instant: dt.datetime, medium: str, full: str) -> None:
    l10n = Localiser("de_DE", "EUR", "Europe/Berlin")
    assert l10n.datetime(instant) == medium
    assert l10n.datetime(instant, format="full") == full


def test_datetime_us_spring_forward() -> None:
    l10n = Localiser("en_US", "USD", "America/New_York")
    assert l10n.datetime(dt.datetime(2025, 3, 9, 6, 59, tzinfo=UTC)) == f"Mar 9, 2025, 1:59:00{NNBSP}AM"
    assert l10n.datetime(dt.datetime(2025, 3, 9, 7, 0, tzinfo=UTC)) == f"Mar 9, 2025, 3:00:00{NNBSP}AM"
    assert l10n.time(dt.datetime(2025, 3, 9, 7, 0, tzinfo=UTC)) == f"3:00{NNBSP}AM"


def test_date_is_the_calendar_day_in_the_recipients_zone() -> None:
    instant = dt.datetime(2025, 3, 31, 16, 0, tzinfo=UTC)  # 1 April in Tokyo, 31 March in Los Angeles
    assert Localiser("ja_JP", "JPY", "Asia/Tokyo").date(instant) == "2025年4月1日"
    assert Localiser("en_US", "USD", "America/Los_Angeles").date(instant) == "March 31, 2025"
    assert Localiser("en_AU", "AUD", "Australia/Sydney").date(instant, format="full") == "Tuesday, 1 April 2025"


def test_datetime_from_another_offset_is_converted() -> None:
    instant = dt.datetime(2025, 6, 30, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert Localiser("en_US", "USD", "America/New_York").datetime(instant) == f"Jun 30, 2025, 2:00:00{NNBSP}PM"


@pytest.mark.parametrize(
    ("locale", "long", "short"),
    [
        ("en_GB", "24 December 2025", "24/12/2025"),
        ("da_DK", "24. december 2025", "24.12.2025"),
        ("sv_SE", "24 december 2025", "2025-12-24"),
        ("de_DE", "24. Dezember 2025", "24.12.25"),
        ("fr_FR", "24 décembre 2025", "24/12/2025"),
    ],
)
def test_plain_date_follows_the_locale(locale: str, long: str, short: str) -> None:
    l10n = Localiser(locale, "EUR", "UTC")
    assert l10n.date(dt.date(2025, 12, 24)) == long
    assert l10n.date(dt.date(2025, 12, 24), format="short") == short


@pytest.mark.parametrize("method", ["date", "datetime", "time"])
def test_naive_datetime_is_refused(method: str) -> None:
    l10n = Localiser("de_DE", "EUR", "Europe/Berlin")
    with pytest.raises(ValueError, match="naive datetime"):
        getattr(l10n, method)(dt.datetime(2025, 6, 1, 12, 0))


# --- messages ------------------------------------------------------------------------------------

ITEMS = ("%(num)d new item in your size", "%(num)d new items in your size")


@pytest.mark.parametrize(
    ("locale", "forms"),
    [
        ("en_GB", ["0 new items in your size", "1 new item in your size", "2 new items in your size"]),
        ("da_DK", ["0 nye varer i din størrelse", "1 ny vare i din størrelse", "2 nye varer i din størrelse"]),
        ("sv_SE", ["0 nya varor i din storlek", "1 ny vara i din storlek", "2 nya varor i din storlek"]),
        ("de_DE", ["0 neue Artikel in deiner Größe", "1 neuer Artikel in deiner Größe",
                   "2 neue Artikel in deiner Größe"]),
        # French treats 0 like 1.
        ("fr_FR", ["0 nouvel article à votre taille", "1 nouvel article à votre taille",
                   "2 nouveaux articles à votre taille"]),
    ],
)
def test_ngettext_follows_the_languages_plural_rule(localisers: Localisers, locale: str, forms: list[str]) -> None:
    l10n = localisers.get(locale, "EUR", "UTC")
    assert [l10n.ngettext(*ITEMS, n, num=n) for n in (0, 1, 2)] == forms


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en_US", "Hi Anna,"),
        ("da_DK", "Hej Anna,"),
        ("sv_FI", "Hej Anna!"),
        ("de_AT", "Hallo Anna,"),
        ("fr_BE", "Bonjour Anna,"),
        ("nl_NL", "Hi Anna,"),
    ],
)
def test_gettext_falls_back_along_the_chain(localisers: Localisers, locale: str, expected: str) -> None:
    assert localisers.get(locale, "EUR", "UTC").gettext("Hi %(name)s,", name="Anna") == expected


def test_gettext_without_variables_is_not_formatted(localisers: Localisers) -> None:
    # Jinja's newstyle gettext formats the result itself.
    assert localisers.get("de_DE", "EUR", "UTC").gettext("Valid until %(date)s") == "Gültig bis %(date)s"


def test_localiser_exposes_its_translations(localisers: Localisers, catalogs: Catalogs) -> None:
    l10n = localisers.get("sv_SE", "SEK", "Europe/Stockholm")
    assert l10n.translations is catalogs.translations("sv_SE")
    assert l10n.translations.gettext("Unsubscribe") == "Avregistrera"
    assert l10n.pgettext("footer", "Unsubscribe") == "Unsubscribe"  # no such context: the msgid
    assert l10n.npgettext("stock", "Only %(num)d left", "Only %(num)d left", 3, num=3) == "Only 3 left"


def test_localiser_without_catalogs_returns_messages_untranslated() -> None:
    l10n = Localiser("de_DE", "EUR", "UTC")
    assert isinstance(l10n.translations, NullTranslations)
    assert l10n.ngettext(*ITEMS, 1, num=1) == "1 new item in your size"


# --- the cache -----------------------------------------------------------------------------------


def test_localisers_are_cached(localisers: Localisers) -> None:
    assert localisers.get("da_DK", "DKK", "Europe/Copenhagen") is localisers.get("da_DK", "DKK", "Europe/Copenhagen")


def test_localisers_cache_is_lru_bounded() -> None:
    localisers = Localisers(maxsize=2)
    first = localisers.get("de_DE", "EUR", "UTC")
    second = localisers.get("fr_FR", "EUR", "UTC")
    assert localisers.get("de_DE", "EUR", "UTC") is first  # now most recent
    localisers.get("sv_SE", "SEK", "UTC")  # evicts fr_FR, the least recently used
    assert len(localisers) == 2
    assert localisers.get("de_DE", "EUR", "UTC") is first
    assert localisers.get("fr_FR", "EUR", "UTC") is not second


def test_localiser_accepts_hyphenated_locales() -> None:
    assert str(Localiser("de-AT", "EUR", "Europe/Vienna").locale) == "de_AT"


@pytest.mark.parametrize(
    ("locale", "currency", "timezone", "message"),
    [
        ("xx_YY", "EUR", "UTC", "unknown locale 'xx_YY'"),
        ("de_DE", "EUX", "UTC", "unknown ISO 4217 currency code 'EUX'"),
        ("de_DE", "eur", "UTC", "unknown ISO 4217 currency code 'eur'"),
        ("de_DE", "EUR", "Europe/Atlantis", "unknown IANA time zone 'Europe/Atlantis'"),
        ("de_DE", "EUR", "../etc/passwd", "unknown IANA time zone"),
    ],
)
def test_unknown_locale_currency_or_zone_is_a_locale_error(
    locale: str, currency: str, timezone: str, message: str
) -> None:
    with pytest.raises(LocaleError, match=message):
        Localisers().get(locale, currency, timezone)


def test_localisers_rejects_a_zero_size() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        Localisers(maxsize=0)
