from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import InputError, RatesError
from mailer.content.money import Money, Rates, minor_unit

FIXTURE = Path(__file__).parent.parent.parent / "fixtures" / "rates.csv"
HEADER = "base,currency,rate,as_of"


@pytest.fixture(scope="module")
def rates() -> Rates:
    return Rates.from_csv(FIXTURE)


def parse(*rows: str, header: str = HEADER) -> Rates:
    return Rates.parse([header, *rows], path="rates.csv")


def test_fixture_has_base_date_and_the_currencies_campaigns_use(rates: Rates) -> None:
    assert rates.base == "EUR"
    assert rates.as_of == date(2025, 6, 2)
    assert rates.path == str(FIXTURE)
    wanted = set("GBP USD EUR DKK SEK NOK CHF JPY PLN CZK HUF CAD AUD NZD SGD HKD CNY INR "
                 "BRL MXN ZAR KRW TRY ISK RON AED KWD".split())
    assert wanted <= set(rates.rates)
    assert all(isinstance(rate, Decimal) for rate in rates.rates.values())


def test_minor_unit_follows_cldr() -> None:
    assert minor_unit("EUR") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal("1")
    assert minor_unit("KRW") == Decimal("1")
    assert minor_unit("ISK") == Decimal("1")
    assert minor_unit("KWD") == Decimal("0.001")
    assert minor_unit("BHD") == Decimal("0.001")


# --- reading the table --------------------------------------------------------------------------


def test_base_rate_is_implicit() -> None:
    assert parse("EUR,USD,1.1372,2025-06-02").rate("EUR") == Decimal(1)


def test_blank_lines_are_skipped() -> None:
    assert set(parse("", "EUR,USD,1.1372,2025-06-02", " , , , ").rates) == {"EUR", "USD"}


@pytest.mark.parametrize(
    ("rows", "line", "field", "reason"),
    [
        (["EUR,USD,1.1372"], 2, None, "expected 4 fields"),
        (["EUR,USD,abc,2025-06-02"], 2, "rate", "positive decimal rate, found 'abc'"),
        (["EUR,USD,0,2025-06-02"], 2, "rate", "positive decimal rate"),
        (["EUR,USD,-1.2,2025-06-02"], 2, "rate", "positive decimal rate"),
        (["EUR,USD,NaN,2025-06-02"], 2, "rate", "positive decimal rate"),
        (["EUR,USD,Infinity,2025-06-02"], 2, "rate", "positive decimal rate"),
        (["EUR,USX,1.1,2025-06-02"], 2, "currency", "unknown ISO 4217 currency code 'USX'"),
        (["EUR,usd,1.1,2025-06-02"], 2, "currency", "unknown ISO 4217 currency code 'usd'"),
        (["EUX,USD,1.1,2025-06-02"], 2, "base", "unknown ISO 4217 currency code 'EUX'"),
        (["EUR,USD,1.1,02/06/2025"], 2, "as_of", "expected an ISO date"),
        (["EUR,USD,1.1,2025-06-02", "USD,GBP,0.7,2025-06-02"], 3, "base", "every row must have base EUR"),
        (["EUR,USD,1.1,2025-06-02", "EUR,GBP,0.8,2025-06-03"], 3, "as_of", "every row must be as of 2025-06-02"),
        (["EUR,USD,1.1,2025-06-02", "EUR,USD,1.2,2025-06-02"], 3, "currency", "a second rate for USD"),
        (["EUR,EUR,1.1,2025-06-02"], 2, "rate", "the base EUR must have rate 1"),
    ],
)
def test_bad_row_raises_naming_file_line_and_field(
    rows: list[str], line: int, field: str | None, reason: str
) -> None:
    with pytest.raises(RatesError) as caught:
        parse(*rows)
    err = caught.value
    assert (err.path, err.line, err.field) == ("rates.csv", line, field)
    assert reason in err.reason
    assert str(err).startswith(f"rates.csv, line {line}")


def test_wrong_header_is_reported_on_line_one() -> None:
    with pytest.raises(RatesError, match=r"rates.csv, line 1: expected the header"):
        parse("EUR,USD,1.1,2025-06-02", header="currency,rate")


def test_empty_table_is_an_error() -> None:
    with pytest.raises(RatesError, match="no rows"):
        parse()


def test_from_csv_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(f"{HEADER}\nEUR,USD,1.1,2025-06-02\nEUR,GBP,oops,2025-06-02\n", encoding="utf-8")
    with pytest.raises(RatesError) as caught:
        Rates.from_csv(path)
    assert caught.value.path == str(path)
    assert caught.value.line == 3


def test_rates_error_is_an_input_error_and_value_error() -> None:
    assert issubclass(RatesError, InputError)
    assert issubclass(RatesError, ValueError)


def test_constructor_rejects_float_rates() -> None:
    with pytest.raises(RatesError, match="positive Decimal"):
        Rates(base="EUR", as_of=date(2025, 6, 2), rates={"USD": 1.1})  # type: ignore[dict-item]


def test_table_is_read_only() -> None:
    rates = parse("EUR,USD,1.1372,2025-06-02")
    with pytest.raises(TypeError):
        rates.rates["USD"] = Decimal(2)  # type: ignore[index]


# --- converting ---------------------------------------------------------------------------------


def test_same_currency_is_returned_unrounded(rates: Rates) -> None:
    price = Money(Decimal("9.999"), "EUR")
    assert rates.convert(price, "EUR") is price


def test_same_currency_needs_no_rate() -> None:
    rates = Rates(base="EUR", as_of=date(2025, 6, 2))
    price = Money(Decimal("12.345"), "CHF")
    assert rates.convert(price, "CHF") is price


@pytest.mark.parametrize(
    ("price", "currency", "expected"),
    [
        (Money(Decimal("100"), "EUR"), "USD", Money(Decimal("113.72"), "USD")),
        (Money(Decimal("12.50"), "EUR"), "GBP", Money(Decimal("10.53"), "GBP")),  # 10.52625
        (Money(Decimal("100"), "EUR"), "JPY", Money(Decimal("16345"), "JPY")),
        (Money(Decimal("9.99"), "EUR"), "KRW", Money(Decimal("15697"), "KRW")),  # 15696.7875
        (Money(Decimal("10"), "EUR"), "KWD", Money(Decimal("3.487"), "KWD")),
        (Money(Decimal("113.72"), "USD"), "EUR", Money(Decimal("100.00"), "EUR")),
        # Cross rates go through the base: 10 × 0.8421 ÷ 1.1372 = 7.4050...
        (Money(Decimal("10"), "USD"), "GBP", Money(Decimal("7.41"), "GBP")),
        (Money(Decimal("1000"), "JPY"), "DKK", Money(Decimal("45.63"), "DKK")),  # 45.6340...
    ],
)
def test_convert_goes_through_the_base(rates: Rates, price: Money, currency: str, expected: Money) -> None:
    converted = rates.convert(price, currency)
    assert converted == expected
    assert converted.amount.as_tuple().exponent == expected.amount.as_tuple().exponent


def test_convert_rounds_half_up_not_half_even() -> None:
    rates = Rates(base="EUR", as_of=date(2025, 6, 2), rates={"USD": Decimal("1.5")})
    assert rates.convert(Money(Decimal("0.03"), "EUR"), "USD").amount == Decimal("0.05")  # 0.045
    assert rates.convert(Money(Decimal("-0.03"), "EUR"), "USD").amount == Decimal("-0.05")


def test_convert_rounds_once_at_full_precision() -> None:
    # Rounding the intermediate EUR amount to cents first would give 0.67 USD.
    rates = Rates(base="EUR", as_of=date(2025, 6, 2), rates={"USD": Decimal("1"), "GBP": Decimal("3")})
    assert rates.convert(Money(Decimal("2"), "GBP"), "USD").amount == Decimal("0.67")
    rates = Rates(base="EUR", as_of=date(2025, 6, 2), rates={"USD": Decimal("1.001"), "GBP": Decimal("3")})
    # 1.004 GBP → 0.334666.. EUR → 0.33500.. USD; cent-rounding EUR first gives 0.33.
    assert rates.convert(Money(Decimal("1.004"), "GBP"), "USD").amount == Decimal("0.34")


def test_convert_ignores_the_callers_decimal_context(rates: Rates) -> None:
    price = Money(Decimal("1234567.89"), "EUR")
    expected = rates.convert(price, "KRW")
    with localcontext() as ctx:
        ctx.prec = 3
        assert rates.convert(price, "KRW") == expected


@pytest.mark.parametrize("missing", ["from", "to"])
def test_missing_rate_names_the_currency(rates: Rates, missing: str) -> None:
    price = Money(Decimal("10"), "XAF" if missing == "from" else "EUR")
    with pytest.raises(RatesError) as caught:
        rates.convert(price, "XOF" if missing == "to" else "EUR")
    currency = "XAF" if missing == "from" else "XOF"
    assert caught.value.item == currency
    assert f"no rate for {currency}" in str(caught.value)
    assert caught.value.path == str(FIXTURE)


@given(cents=st.integers(min_value=-10**12, max_value=10**12), currency=st.sampled_from(["USD", "JPY", "KWD", "GBP"]))
def test_converting_from_the_base_is_one_half_up_rounding(cents: int, currency: str) -> None:
    rates = Rates.from_csv(FIXTURE)
    amount = Decimal(cents).scaleb(-2)
    converted = rates.convert(Money(amount, "EUR"), currency)
    assert converted.currency == currency
    assert converted.amount == (amount * rates.rate(currency)).quantize(minor_unit(currency), ROUND_HALF_UP)
