from __future__ import annotations

import csv
import json
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.inputs.customers import iter_customers
from mailer.errors import CustomerError
from mailer.inputs.feeds import iter_products
from mailer.inputs.history import (
    Engagement,
    Purchase,
    iter_engagements,
    iter_purchases,
    parse_flag,
    parse_instant,
    parse_quantity,
)
from mailer.content.money import Money
from mailer.report import Report

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
UTC = timezone.utc


def write_csv(path: Path, rows: Sequence[Mapping[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def problems(report: Report) -> list[CustomerError]:
    found = [p for p in report.problems if isinstance(p, CustomerError)]
    assert len(found) == report.count
    return found


def purchase(**fields: str) -> dict[str, str]:
    row = {
        "customer_id": "c1",
        "product_id": "P1",
        "purchased_at": "2026-03-01T10:00:00Z",
        "quantity": "1",
        "unit_price": "15.00 GBP",
        "category": "",
        "brand": "",
    }
    row.update(fields)
    return row


def engagement(**fields: str) -> dict[str, str]:
    row = {
        "customer_id": "c1",
        "timezone": "Europe/Berlin",
        "sent_at": "2026-05-05T09:00:00Z",
        "opened_at": "",
        "clicked_at": "",
        "machine_open": "",
    }
    row.update(fields)
    return row


# --------------------------------------------------------------------------- fixtures


def test_purchases_fixture_loads_every_row() -> None:
    report = Report()
    purchases = list(iter_purchases(FIXTURES / "purchases.csv", report=report))
    assert (len(purchases), report.count) == (358, 0)


def test_purchases_fixture_references_fixture_products_and_customers() -> None:
    purchases = list(iter_purchases(FIXTURES / "purchases.csv"))
    products = {p.id: p for p in iter_products(FIXTURES / "products.xml")}
    customers = {c.id: c for c in iter_customers(FIXTURES / "customers.csv")}
    assert {p.product_id for p in purchases} <= products.keys()
    assert {p.customer_id for p in purchases} <= customers.keys()
    for p in purchases:
        assert p.category == products[p.product_id].category
        assert p.unit_price is not None and p.unit_price.currency == customers[p.customer_id].currency
    span = max(p.purchased_at for p in purchases) - min(p.purchased_at for p in purchases)
    assert timedelta(days=600) < span < timedelta(days=731)


def test_engagements_fixture_loads_every_row() -> None:
    report = Report()
    engagements = list(iter_engagements(FIXTURES / "engagements.csv", report=report))
    assert (len(engagements), report.count) == (515, 0)


def test_engagements_fixture_sends_at_nine_and_eighteen_utc() -> None:
    engagements = list(iter_engagements(FIXTURES / "engagements.csv"))
    sent = [e.sent_at for e in engagements if e.sent_at is not None]
    assert {(s.astimezone(UTC).hour, s.minute) for s in sent} == {(9, 0), (18, 0)}
    assert len(sent) == len(engagements) - 3  # three sends were never recorded
    flags = Counter(e.machine_open for e in engagements)
    assert flags[True] > 0 and flags[False] > 0 and flags[None] > 0
    assert sum(e.clicked_at is not None for e in engagements) > 0


# --------------------------------------------------------------------------- purchases


def test_purchase_fields(tmp_path: Path) -> None:
    row = purchase(quantity="2", unit_price="1,299.00 DKK", category="Home > Kitchen", brand=" Casa Lume ")
    [p] = iter_purchases(write_csv(tmp_path / "p.csv", [row]))
    assert p == Purchase(
        "c1",
        "P1",
        datetime(2026, 3, 1, 10, tzinfo=UTC),
        2,
        Money(Decimal("1299.00"), "DKK"),
        ("Home", "Kitchen"),
        "Casa Lume",
    )


def test_purchase_optional_columns_may_be_absent(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("customer_id,product_id,purchased_at\nc1,P1,2026-03-01T10:00+01:00\n")
    [p] = iter_purchases(path)
    assert (p.quantity, p.unit_price, p.category, p.brand) == (1, None, (), None)


def test_purchase_jsonl_number_price_with_currency_column(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({**purchase(), "quantity": 3, "unit_price": 1890, "currency": "JPY"}) + "\n")
    [p] = iter_purchases(path)
    assert (p.quantity, p.unit_price) == (3, Money(Decimal("1890"), "JPY"))


BAD_PURCHASES = [
    ("purchased_at", {"purchased_at": "2026-03-01T10:00:00"}, "no UTC offset"),
    ("purchased_at", {"purchased_at": "yesterday"}, "not an ISO 8601"),
    ("purchased_at", {"purchased_at": ""}, "missing purchased_at"),
    ("quantity", {"quantity": "0"}, "at least 1"),
    ("quantity", {"quantity": "-1"}, "at least 1"),
    ("quantity", {"quantity": "1.5"}, "at least 1"),
    ("quantity", {"quantity": "9" * 5000}, "at least 1"),
    ("unit_price", {"unit_price": "15.00"}, "no currency"),
    ("unit_price", {"unit_price": "15.00 ZZZ"}, "unknown currency"),
    ("product_id", {"product_id": ""}, "missing product_id"),
]


@pytest.mark.parametrize(("field", "change", "reason"), BAD_PURCHASES, ids=[b[2] for b in BAD_PURCHASES])
def test_bad_purchase_is_reported_and_skipped(
    tmp_path: Path, field: str, change: dict[str, str], reason: str
) -> None:
    rows = [purchase(product_id="P0"), purchase(**change), purchase(product_id="P2")]
    report = Report()
    path = write_csv(tmp_path / "p.csv", rows)
    assert [p.product_id for p in iter_purchases(path, report=report)] == ["P0", "P2"]
    [problem] = problems(report)
    assert (problem.path, problem.line, problem.item, problem.field) == (str(path), 3, "c1", field)
    assert reason in problem.reason


def test_purchases_file_without_required_columns_raises(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("customer_id,sku\nc1,P1\n")
    with pytest.raises(CustomerError, match="lacks 'product_id', 'purchased_at'"):
        list(iter_purchases(path))


# --------------------------------------------------------------------------- engagements


def test_engagement_fields(tmp_path: Path) -> None:
    row = engagement(
        opened_at="2026-05-05T20:14:00+02:00", clicked_at="2026-05-05T20:20:00+02:00", machine_open="FALSE"
    )
    [e] = iter_engagements(write_csv(tmp_path / "e.csv", [{**row, "campaign_id": "CMP-1"}]))
    cest = timezone(timedelta(hours=2))
    assert e == Engagement(
        "c1",
        "Europe/Berlin",
        datetime(2026, 5, 5, 9, tzinfo=UTC),
        datetime(2026, 5, 5, 20, 14, tzinfo=cest),
        datetime(2026, 5, 5, 20, 20, tzinfo=cest),
        False,
    )
    assert e.opened


def test_engagement_unknown_send_time_and_no_timezone(tmp_path: Path) -> None:
    row = engagement(timezone="", sent_at="", opened_at="2026-05-05T10:00Z")
    [e] = iter_engagements(write_csv(tmp_path / "e.csv", [row]))
    assert (e.timezone, e.sent_at, e.machine_open) == (None, None, None)


def test_engagement_tolerates_a_minute_of_clock_skew(tmp_path: Path) -> None:
    row = engagement(opened_at="2026-05-05T08:59:30Z")
    assert len(list(iter_engagements(write_csv(tmp_path / "e.csv", [row])))) == 1


def test_engagement_only_customer_id_column_is_required(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("customer_id,sent_at\nc1,2026-05-05T09:00Z\n")
    assert [e.sent_at for e in iter_engagements(path)] == [datetime(2026, 5, 5, 9, tzinfo=UTC)]


BAD_ENGAGEMENTS = [
    ("opened_at", {"opened_at": "2026-05-05T08:00:00Z"}, "opened_at is before sent_at"),
    ("clicked_at", {"clicked_at": "2026-05-04T09:00:00Z"}, "clicked_at is before sent_at"),
    ("sent_at", {"sent_at": ""}, "no sent_at, opened_at or clicked_at"),
    ("sent_at", {"sent_at": "2026-05-05 09:00"}, "no UTC offset"),
    ("timezone", {"timezone": "../../etc/passwd"}, "unknown time zone"),
    ("machine_open", {"machine_open": "maybe"}, "expected true or false"),
    ("customer_id", {"customer_id": ""}, "missing customer_id"),
]


@pytest.mark.parametrize(("field", "change", "reason"), BAD_ENGAGEMENTS, ids=[b[2] for b in BAD_ENGAGEMENTS])
def test_bad_engagement_is_reported_and_skipped(
    tmp_path: Path, field: str, change: dict[str, str], reason: str
) -> None:
    rows = [engagement(customer_id="c0"), engagement(**change), engagement(customer_id="c2")]
    report = Report()
    path = write_csv(tmp_path / "e.csv", rows)
    assert [e.customer_id for e in iter_engagements(path, report=report)] == ["c0", "c2"]
    [problem] = problems(report)
    assert (problem.path, problem.line, problem.field) == (str(path), 3, field)
    assert reason in problem.reason


def test_engagements_jsonl_booleans(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    rows = [
        {"customer_id": "c1", "sent_at": "2026-05-05T09:00Z", "opened_at": "2026-05-05T09:02Z", "machine_open": True},
        {"customer_id": "c2", "sent_at": "2026-05-05T09:00Z", "opened_at": None, "machine_open": None},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [e.machine_open for e in iter_engagements(path)] == [True, None]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "text", ["2026-05-05T09:00:00Z", "2026-05-05T11:00:00+02:00", "2026-05-05T11:00+0200", "2026-05-05 09:00Z"]
)
def test_parse_instant_accepts_offsets(text: str) -> None:
    assert parse_instant(text) == datetime(2026, 5, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("T", True), ("1", True), ("No", False), ("0", False)])
def test_parse_flag(text: str, value: bool) -> None:
    assert parse_flag(text) is value


def test_parse_quantity_rejects_non_ascii_digits() -> None:
    with pytest.raises(ValueError):
        parse_quantity("٣")


@given(
    sent=st.datetimes(timezones=st.just(UTC)),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
)
def test_instants_round_trip(sent: datetime, delay: timedelta) -> None:
    opened = sent + delay if sent.year < 9999 else sent
    assert parse_instant(opened.isoformat()) == opened


@given(fields=st.dictionaries(st.sampled_from(list(engagement())), st.text(max_size=30)))
@settings(max_examples=200, deadline=None)
def test_any_engagement_row_loads_or_is_reported(fields: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write_csv(Path(directory) / "e.csv", [engagement(**fields)])
        report = Report()
        loaded = list(iter_engagements(path, report=report))
        assert len(loaded) + report.count == 1
        assert all(isinstance(p, CustomerError) for p in report.problems)


def test_two_megabyte_value_in_a_purchase_row_is_reported_and_skipped(tmp_path: Path) -> None:
    rows = [purchase(product_id="P0"), purchase(product_id="P1", brand="b" * 2_000_000), purchase(product_id="P2")]
    report = Report()
    assert [p.product_id for p in iter_purchases(write_csv(tmp_path / "p.csv", rows), report=report)] == ["P0", "P2"]
    assert [(p.line, p.reason) for p in problems(report)] == [(3, "line longer than 1048576 characters")]


def test_two_megabyte_value_in_an_engagement_row_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "customer_id,sent_at,campaign\n"
        "c0,2026-05-04T09:00Z,a\n"
        f'c1,2026-05-04T09:00Z,"{"q" * 2_000_000}"\n'
        "c2,2026-05-04T09:00Z,b\n",
        encoding="utf-8",
    )
    report = Report()
    assert [e.customer_id for e in iter_engagements(path, report=report)] == ["c0", "c2"]
    assert [(p.line, p.reason) for p in problems(report)] == [(3, "line longer than 1048576 characters")]


def test_latin1_purchases_read_with_a_declared_encoding(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("customer_id,product_id,purchased_at,brand\nc1,P1,2026-03-01T10:00Z,Hermès\n".encode("latin-1"))
    assert [p.brand for p in iter_purchases(path, encoding="latin-1")] == ["Hermès"]
