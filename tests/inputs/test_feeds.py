from __future__ import annotations

import csv
import json
import os
import tempfile
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.errors import FeedError
from mailer.inputs.feeds import (
    FeedFormat,
    detect_format,
    iter_products,
    iter_records,
    parse_availability,
    parse_currency,
    parse_effective_dates,
    parse_price,
    record_text,
)
from mailer.content.money import Money
from mailer.inputs.products import Product
from mailer.report import Report

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MAILER_SHARED_DIR", REPO.parent / "shared"))
FIXTURES = REPO / "fixtures"

G = "http://base.google.com/ns/1.0"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: set MAILER_SHARED_DIR to the shared test data directory")
    return path


def load(path: Path) -> tuple[list[Product], Report]:
    report = Report()
    return list(iter_products(path, report=report)), report


def problems(report: Report) -> list[FeedError]:
    assert all(isinstance(p, FeedError) for p in report.problems)
    return [p for p in report.problems if isinstance(p, FeedError)]


def by_id(products: list[Product]) -> dict[str, Product]:
    return {p.id: p for p in products}


# --------------------------------------------------------------------------- writers


def write_rss(path: Path, items: Sequence[Mapping[str, str | list[str]]], *, plain: tuple[str, ...] = ()) -> Path:
    """An RSS 2.0 feed; fields named in ``plain`` are written without the g: prefix."""
    with path.open("w", encoding="utf-8") as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="{G}">\n<channel>\n')
        f.write("<title>Shop</title>\n")
        for item in items:
            f.write("<item>\n")
            for key, value in item.items():
                tag = key if key in plain else f"g:{key}"
                for v in value if isinstance(value, list) else [value]:
                    f.write(f"  <{tag}>{xml_text(v)}</{tag}>\n")
            f.write("</item>\n")
        f.write("</channel>\n</rss>\n")
    return path


def xml_text(value: str) -> str:
    # A literal CR would be normalised to LF by any XML parser; a reference keeps it.
    return escape(value).replace("\r", "&#13;")


def write_csv(path: Path, rows: Sequence[Mapping[str, str]], *, delimiter: str = ",") -> Path:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fields, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def item(id: str = "A1", **fields: str | None) -> dict[str, str]:
    """A valid item; a field given as None is left out."""
    base: dict[str, str | None] = {
        "id": id,
        "title": f"Product {id}",
        "link": f"https://www.example-shop.test/p/{id}",
        "price": "15.00 GBP",
        "availability": "in stock",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


# --------------------------------------------------------------------------- shared, real feeds


def test_google_example_rss_loads_all_six_items() -> None:
    products, report = load(shared("feeds", "google_example_rss.xml"))
    assert (len(products), report.count) == (6, 0)
    assert [p.id for p in products] == [
        "TV_123456", "DVD-0564738", "PFM654321", "CLO-29473856-1", "CLO-29473856-2", "CLO-1029384",
    ]  # fmt: skip


def test_google_example_rss_reads_price_without_decimals() -> None:
    products, _ = load(shared("feeds", "google_example_rss.xml"))
    assert by_id(products)["PFM654321"].price == Money(Decimal("99"), "USD")


def test_google_example_rss_ignores_nested_shipping_price() -> None:
    products, _ = load(shared("feeds", "google_example_rss.xml"))
    assert by_id(products)["TV_123456"].price == Money(Decimal("159.00"), "USD")


def test_google_example_rss_variants_share_item_group_id() -> None:
    products, _ = load(shared("feeds", "google_example_rss.xml"))
    variants = [p for p in products if p.item_group_id == "CLO-29473856"]
    assert [(p.size, p.availability) for p in variants] == [("8 Standard", "out_of_stock"), ("8 Tall", "in_stock")]
    assert {(p.gender, p.age_group, p.brand) for p in variants} == {("female", "adult", "M&S")}


def test_google_example_rss_sale_price_with_effective_dates() -> None:
    products, _ = load(shared("feeds", "google_example_rss.xml"))
    jersey = by_id(products)["CLO-1029384"]
    pst = timezone(timedelta(hours=-8))
    assert jersey.sale_price == Money(Decimal("25.49"), "USD")
    assert (jersey.sale_start, jersey.sale_end) == (
        datetime(2011, 9, 1, 16, 0, tzinfo=pst),
        datetime(2011, 9, 3, 16, 0, tzinfo=pst),
    )
    assert jersey.current_price(datetime(2011, 9, 2, tzinfo=timezone.utc)).amount == Decimal("25.49")
    assert jersey.current_price(datetime(2011, 9, 5, tzinfo=timezone.utc)).amount == Decimal("33.99")


def test_google_example_rss_cdata_categories_and_repeated_images() -> None:
    products, _ = load(shared("feeds", "google_example_rss.xml"))
    dvd, cream = by_id(products)["DVD-0564738"], by_id(products)["PFM654321"]
    assert dvd.title == "Merlin: Series 3 - Volume 2 - 3 DVD Box set"
    assert dvd.link == "http://www.example.com/media/dvd/?sku=384616&src=gshopping&lang=en"
    assert dvd.category == ("DVDs & Movies", "TV Series", "Fantasy Drama")
    assert dvd.google_category == ("Media", "DVDs & Videos")
    assert cream.additional_image_links == (
        "http://images.example.com/PFM654321_2.jpg",
        "http://images.example.com/PFM654321_3.jpg",
    )


def test_mixed_currency_rss_loads_four_and_reports_empty_title() -> None:
    path = shared("feeds", "mixed_currency_rss.xml")
    products, report = load(path)
    assert (len(products), report.count) == (4, 1)
    [problem] = problems(report)
    assert isinstance(problem, FeedError)
    assert (problem.path, problem.line, problem.item, problem.field, problem.reason) == (
        str(path), 67, "PROD-005", "title", "missing title",
    )  # fmt: skip


def test_mixed_currency_rss_keeps_each_items_currency() -> None:
    products, _ = load(shared("feeds", "mixed_currency_rss.xml"))
    assert [(p.id, p.price.currency) for p in products] == [
        ("PROD-001", "EUR"), ("PROD-002", "EUR"), ("PROD-003", "USD"), ("PROD-004", "EUR"),
    ]  # fmt: skip
    griddle = by_id(products)["PROD-002"]
    assert griddle.sale_price == Money(Decimal("39.99"), "EUR")
    assert griddle.on_sale(datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert by_id(products)["PROD-003"].availability == "out_of_stock"


def test_tab_separated_named_csv_is_detected_by_content() -> None:
    assert detect_format(shared("feeds", "tab_separated_named_csv.csv")) == FeedFormat("csv", "\t")


def test_tab_separated_named_csv_loads_short_rows() -> None:
    products, report = load(shared("feeds", "tab_separated_named_csv.csv"))
    assert (len(products), report.count) == (3, 0)
    first, second, third = products
    assert first.sale_price is None  # row one column short
    assert third.category == () and third.availability == "out_of_stock"  # three columns short
    assert second.brand is None and second.sale_price == Money(Decimal("39.99"), "EUR")
    assert first.additional_image_links == ("https://test-store.com/media/spirit-ii-side.jpg",)


def test_meta_catalog_loads_all_sixty_rows() -> None:
    products, report = load(shared("feeds", "meta_catalog.csv"))
    assert (len(products), report.count) == (60, 0)
    assert {p.item_group_id for p in products} == {"DB_GROUP_1"}


def test_meta_catalog_fields_and_ignored_columns() -> None:
    products, _ = load(shared("feeds", "meta_catalog.csv"))
    bowl = products[0]
    assert bowl.price == Money(Decimal("9.99"), "GBP")
    assert bowl.category == ("Bowls & Dining", "Food & Water Bowls")
    assert bowl.google_category == ("Animals", "Pet Supplies")
    assert bowl.extra["custom_label_0"] == "Made in Waterford, IE"  # quoted comma
    assert "shipping" not in bowl.extra and "ios_url" not in bowl.extra


# --------------------------------------------------------------------------- the fixture feed


def test_fixture_feed_loads_sixty_and_reports_two() -> None:
    products, report = load(FIXTURES / "products.xml")
    assert (len(products), report.count) == (60, 2)
    assert [(p.line, p.item, p.field) for p in problems(report)] == [
        (1009, "HK4099", "price"),
        (1025, "BS5099", "price"),
    ]


def test_fixture_feed_is_a_gbp_shop_with_eight_top_categories() -> None:
    products, _ = load(FIXTURES / "products.xml")
    assert {p.price.currency for p in products} == {"GBP"}
    assert len({p.category[0] for p in products}) == 8
    dress = by_id(products)["WD1001-L"]
    assert (dress.item_group_id, dress.size, dress.availability, dress.google_category) == (
        "WD1001", "L", "out_of_stock", ("2271",),
    )  # fmt: skip
    assert dress.on_sale(datetime(2026, 11, 28, tzinfo=timezone.utc))
    assert not dress.on_sale(datetime(2026, 12, 5, tzinfo=timezone.utc))
    assert dress.image_link == "https://cdn.example-shop.test/img/WD1001-L.jpg"
    assert dress.link == "https://www.example-shop.test/p/WD1001-L"


# --------------------------------------------------------------------------- detection


def test_detect_rss(tmp_path: Path) -> None:
    assert detect_format(write_rss(tmp_path / "feed.csv", [item()])) == FeedFormat("rss")


def test_detect_atom(tmp_path: Path) -> None:
    path = tmp_path / "feed.txt"
    path.write_text(f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="{G}"><title>x</title></feed>')
    assert detect_format(path).kind == "atom"


@pytest.mark.parametrize("delimiter", ["\t", ",", ";", "|"])
def test_detect_csv_delimiter(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(tmp_path / "feed.xml", [item()], delimiter=delimiter)
    assert detect_format(path) == FeedFormat("csv", delimiter)


def test_detect_jsonl(tmp_path: Path) -> None:
    assert detect_format(write_jsonl(tmp_path / "feed.csv", [item()])).kind == "jsonl"


def test_detect_utf16_tab_separated(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text("id\ttitle\tlink\tprice\nA1\tMüsli\thttps://s.test/a\t3.50 EUR\n", encoding="utf-16")
    assert detect_format(path) == FeedFormat("csv", "\t", "utf-16")
    assert [p.title for p in iter_products(path)] == ["Müsli"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "not UTF-8"),
        (b"id\0,title\0\n", "NUL bytes"),
        (b"PK\x03\x04\x14\0\x06\0", "Excel workbook"),
        (b"\x1f\x8b\x08\0", "gzip"),
        (b"caf\xe9,bar\n", "not UTF-8"),
        (b"<html><body>hello</body></html>", "root element is <html>"),
        (b"<rss><channel><item>", "malformed XML"),
        (b'[{"id": "A1"}]', "JSON array"),
        (b"just some notes\nabout nothing\n", "header lacks"),
        (b"id,name,email\n1,Ann,a@b.test\n", "header lacks 'title', 'price', 'link'"),
    ],
)
def test_not_a_feed_raises_naming_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(content)
    with pytest.raises(FeedError, match=reason) as info:
        list(iter_products(path))
    assert info.value.path == str(path)


def test_missing_file_raises_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="cannot read") as info:
        detect_format(tmp_path / "nope.xml")
    assert info.value.path == str(tmp_path / "nope.xml")


def test_directory_raises_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="cannot read"):
        list(iter_products(tmp_path))


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("15.00 USD", "15.00", "USD"),
        ("99 USD", "99", "USD"),
        ("USD 15.00", "15.00", "USD"),
        ("1,299.00 USD", "1299.00", "USD"),
        ("1,299 USD", "1299", "USD"),
        ("  0 gbp ", "0", "GBP"),
        ("12345678.5 JPY", "12345678.5", "JPY"),
        ("CHF 49,90", "49.90", "CHF"),
        ("15,00 EUR", "15.00", "EUR"),
        ("1.299,00 EUR", "1299.00", "EUR"),
        ("CHF 1'299.90", "1299.90", "CHF"),
        ("49,90\u00a0CHF", "49.90", "CHF"),
    ],
)
def test_parse_price(text: str, amount: str, currency: str) -> None:
    assert parse_price(text) == Money(Decimal(amount), currency)


def test_parse_price_currency_column_is_a_fallback() -> None:
    assert parse_price("15.00", currency="sek") == Money(Decimal("15.00"), "SEK")
    assert parse_price("15.00 DKK", currency="SEK").currency == "DKK"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("TBC", "unparseable"),
        ("1,29,00 EUR", "unparseable"),
        ("15,00,00 EUR", "unparseable"),
        ("-5.00 USD", "unparseable"),
        ("1.2.3 USD", "unparseable"),
        ("$15.00", "unparseable"),
        ("15.00", "no currency"),
        ("15.00 XYZ", "unknown currency 'XYZ'"),
        ("EUR 15.00 USD", "two currencies"),
        ("NaN USD", "unparseable"),
        ("١٥ USD", "unparseable"),
    ],
)
def test_parse_price_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_price(text)


def test_parse_currency_uses_iso_4217() -> None:
    assert parse_currency(" chf ") == "CHF"
    with pytest.raises(ValueError):
        parse_currency("BTC")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in stock", "in_stock"),
        ("in_stock", "in_stock"),
        ("IN STOCK", "in_stock"),
        ("out of stock", "out_of_stock"),
        ("Out_Of_Stock", "out_of_stock"),
        ("preorder", "preorder"),
        ("backorder", "backorder"),
        ("available for order", "in_stock"),
        ("Discontinued", "out_of_stock"),
    ],
)
def test_parse_availability(text: str, expected: str) -> None:
    assert parse_availability(text) == expected


def test_parse_availability_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown availability 'maybe'"):
        parse_availability("maybe")


def test_parse_effective_dates_accepts_basic_and_extended_offsets() -> None:
    start, end = parse_effective_dates("2011-03-01T13:00-0800/2011-03-11T15:30-08:00")
    assert start == datetime(2011, 3, 1, 21, 0, tzinfo=timezone.utc)
    assert end == datetime(2011, 3, 11, 23, 30, tzinfo=timezone.utc)


def test_parse_effective_dates_open_end() -> None:
    assert parse_effective_dates("2024-01-01T00:00Z/") == (datetime(2024, 1, 1, tzinfo=timezone.utc), None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2011-03-01T13:00-0800", "start/end"),
        ("2011-03-01T13:00/2011-03-11T15:30", "no UTC offset"),
        ("soon/later", "not an ISO 8601"),
        ("2011-03-11T13:00Z/2011-03-01T13:00Z", "ends before it starts"),
    ],
)
def test_parse_effective_dates_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_effective_dates(text)


def test_record_text_rejects_undecodable_bytes() -> None:
    with pytest.raises(ValueError, match="not valid UTF-8"):
        record_text({"title": "caf\udce9"}, "title")


# --------------------------------------------------------------------------- report and skip


BAD_ITEMS = [
    ("title", {"title": None}, "missing title"),
    ("price", {"price": None}, "missing price"),
    ("price", {"price": "TBC"}, "unparseable price 'TBC'"),
    ("price", {"price": "15.00 ABC"}, "unknown currency 'ABC'"),
    ("link", {"link": None}, "missing link"),
    ("link", {"link": "javascript:alert(1)"}, "expected an http(s) URL"),
    ("availability", {"availability": "soon"}, "unknown availability 'soon'"),
    ("sale_price", {"sale_price": "10.00 USD"}, "differs from price currency GBP"),
    ("sale_price_effective_date", {"sale_price": "10 GBP", "sale_price_effective_date": "x"}, "start/end"),
    ("image_link", {"image_link": "ftp://cdn.test/a.jpg"}, "expected an http(s) URL"),
]


@pytest.mark.parametrize(("field", "change", "reason"), BAD_ITEMS, ids=[b[2] for b in BAD_ITEMS])
@pytest.mark.parametrize("kind", ["rss", "csv", "jsonl"])
def test_bad_item_is_reported_and_skipped(
    tmp_path: Path, kind: str, field: str, change: dict[str, str | None], reason: str
) -> None:
    items = [item("A1"), item("A2", **change), item("A3")]
    path = {
        "rss": lambda: write_rss(tmp_path / "f", items),
        "csv": lambda: write_csv(tmp_path / "f", [{**dict.fromkeys(items[0], ""), **i} for i in items]),
        "jsonl": lambda: write_jsonl(tmp_path / "f", items),
    }[kind]()
    products, report = load(path)
    assert [p.id for p in products] == ["A1", "A3"]
    [problem] = problems(report)
    assert isinstance(problem, FeedError)
    assert (problem.path, problem.item, problem.field) == (str(path), "A2", field)
    assert reason in problem.reason
    assert problem.line == {"rss": 12, "csv": 3, "jsonl": 2}[kind]


def test_missing_id_is_reported_without_item(tmp_path: Path) -> None:
    products, report = load(write_jsonl(tmp_path / "f", [item("A1"), {"title": "No id", "price": "1 GBP"}]))
    assert [p.id for p in products] == ["A1"]
    assert (problems(report)[0].line, problems(report)[0].item, problems(report)[0].field) == (2, None, "id")


def test_report_is_optional(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f", [item("A1"), item("A2", price="TBC")])
    assert [p.id for p in iter_products(path)] == ["A1"]


def test_csv_multiline_field_reports_the_rows_first_line(tmp_path: Path) -> None:
    rows = [item("A1", description="two\nlines"), item("A2", price="TBC")]
    _, report = load(write_csv(tmp_path / "f", rows))
    assert problems(report)[0].line == 4


def test_csv_row_wider_than_header_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,title,link,price\nA1,Mug,https://s.test/1,5 GBP\nA2,Mug, large,https://s.test/2,5 GBP\n")
    products, report = load(path)
    assert [p.id for p in products] == ["A1"]
    assert (problems(report)[0].line, problems(report)[0].item) == (3, "A2")
    assert "5 fields but the header has 4" in problems(report)[0].reason


def test_csv_trailing_empty_fields_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,title,link,price\nA1,Mug,https://s.test/1,5 GBP,,\n")
    assert [p.id for p in iter_products(path)] == ["A1"]


def test_csv_oversized_field_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    rows = [item("A1"), item("A2", description="x" * 200_000), item("A3")]
    products, report = load(write_csv(tmp_path / "f", rows))
    assert [p.id for p in products] == ["A1", "A3"]
    assert "field larger than field limit" in problems(report)[0].reason


def test_csv_undecodable_row_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(
        b"id,title,link,price\nA1,Mug,https://s.test/1,5 GBP\nA2,Caf\xe9,https://s.test/2,5 GBP\n"
    )
    products, report = load(path)
    assert [p.id for p in products] == ["A1"]
    [row] = [p for p in problems(report) if p.line is not None]
    assert (row.line, row.field) == (3, "title")


def test_csv_nul_inside_a_row_does_not_sink_the_file(tmp_path: Path) -> None:
    products, report = load(write_csv(tmp_path / "f", [item("A1", title="Mug\0"), item("A2")]))
    assert [p.title for p in products] == ["Mug\0", "Product A2"] and not report


def test_csv_headers_with_g_prefix_bom_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "\ufeff g:id ,G:Title,g:link,g:price, Image Link ,g:additional_image_link\n"
        'A1,Mug,https://s.test/1,5 GBP,https://cdn.test/1.jpg,"https://cdn.test/2.jpg, https://cdn.test/3.jpg"\n',
        encoding="utf-8",
    )
    [product] = iter_products(path)
    assert (product.id, product.title, product.image_link) == ("A1", "Mug", "https://cdn.test/1.jpg")
    assert product.additional_image_links == ("https://cdn.test/2.jpg", "https://cdn.test/3.jpg")


def test_plain_csv_with_currency_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f", [item("A1", price="1,299.00", currency="DKK", sale_price="999")])
    [product] = iter_products(path)
    assert (product.price, product.sale_price) == (Money(Decimal("1299.00"), "DKK"), Money(Decimal("999"), "DKK"))


def test_jsonl_numbers_keep_their_decimals(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(
        '{"id": 7, "title": "Mug", "link": "https://s.test/7", "price": 15.00, "currency": "USD",'
        ' "additional_image_link": ["https://s.test/7b.jpg", "https://s.test/7c.jpg"],'
        ' "shipping": {"country": "US"}}\n'
    )
    [product] = iter_products(path)
    assert (product.id, product.price) == ("7", Money(Decimal("15.00"), "USD"))
    assert product.additional_image_links == ("https://s.test/7b.jpg", "https://s.test/7c.jpg")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["A2"]', "expected a JSON object"),
        ('{"id": "A2", "price": NaN}', "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_jsonl_bad_line_is_reported_and_skipped(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "f.jsonl"
    good = json.dumps(item("A1"))
    path.write_text(f"{good}\n{line}\n{json.dumps(item('A3'))}\n")
    products, report = load(path)
    assert [p.id for p in products] == ["A1", "A3"]
    assert (problems(report)[0].line, reason in problems(report)[0].reason) == (2, True)


def test_jsonl_overlong_line_is_reported_and_skipped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f", [item("A1"), item("A2", description="x" * 2_000_000), item("A3")])
    products, report = load(path)
    assert [p.id for p in products] == ["A1", "A3"]
    assert problems(report)[0].line == 2 and "longer than" in problems(report)[0].reason


def test_google_category_numeric_id_and_product_type_path(tmp_path: Path) -> None:
    path = write_rss(
        tmp_path / "f",
        [item(google_product_category="2271", product_type=" Women >  Dresses > Maxi ", gender="Female")],
    )
    [product] = iter_products(path)
    assert product.google_category == ("2271",)
    assert product.category == ("Women", "Dresses", "Maxi")
    assert product.gender == "female"


def test_rss_plain_title_link_description(tmp_path: Path) -> None:
    path = write_rss(tmp_path / "f", [item(description="A mug")], plain=("title", "link", "description"))
    [product] = iter_products(path)
    assert (product.title, product.link, product.description) == (
        "Product A1", "https://www.example-shop.test/p/A1", "A mug",
    )  # fmt: skip


def test_g_fields_win_over_plain_ones(tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    path.write_text(
        f'<rss xmlns:g="{G}"><channel><item><title>Plain</title><g:title>Google</g:title>'
        "<g:id>1</g:id><link>https://s.test/1</link><g:price>1 GBP</g:price></item></channel></rss>"
    )
    assert [p.title for p in iter_products(path)] == ["Google"]


def test_atom_feed(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(
        f"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="{G}">
  <title>Example - Online Store</title>
  <link rel="self" href="http://www.example.com"/>
  <entry>
    <g:id>TV_123456</g:id>
    <title>LG 22LB4510</title>
    <link rel="alternate" href="http://www.example.com/tv.html"/>
    <summary>A television</summary>
    <g:price>159.00 USD</g:price>
    <g:availability>preorder</g:availability>
  </entry>
  <entry>
    <g:id>TV_2</g:id>
    <g:title>No price</g:title>
    <g:link>http://www.example.com/tv2.html</g:link>
  </entry>
</feed>
"""
    )
    products, report = load(path)
    [tv] = products
    assert (tv.id, tv.title, tv.link, tv.description, tv.availability) == (
        "TV_123456", "LG 22LB4510", "http://www.example.com/tv.html", "A television", "preorder",
    )  # fmt: skip
    assert (problems(report)[0].line, problems(report)[0].item, problems(report)[0].field) == (13, "TV_2", "price")


def test_xml_declared_encoding_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    path.write_bytes(
        f'<?xml version="1.0" encoding="ISO-8859-1"?><rss xmlns:g="{G}"><channel><item>'
        "<g:id>1</g:id><g:title>Caf\xe9</g:title><g:link>https://s.test/1</g:link>"
        "<g:price>1 EUR</g:price></item></channel></rss>".encode("latin-1")
    )
    assert [p.title for p in iter_products(path)] == ["Café"]


def test_truncated_xml_yields_items_before_the_break_then_raises(tmp_path: Path) -> None:
    path = write_rss(tmp_path / "f.xml", [item("A1"), item("A2")])
    text = path.read_text()
    path.write_text(text[: text.index("<g:id>A2")] + "<g:id>A2</g:title>")
    products = []
    with pytest.raises(FeedError, match="malformed XML") as info:
        for p in iter_products(path):
            products.append(p)
    assert [p.id for p in products] == ["A1"]
    assert info.value.line == 13


def test_oversized_xml_field_is_reported(tmp_path: Path) -> None:
    path = write_rss(tmp_path / "f.xml", [item("A1"), item("A2", description="x" * 200_000), item("A3")])
    products, report = load(path)
    assert [p.id for p in products] == ["A1", "A3"]
    assert problems(report)[0].item == "A2" and "longer than" in problems(report)[0].reason


# --------------------------------------------------------------------------- hostile XML


BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss xmlns:g="{G}"><channel><item><g:id>1</g:id><g:title>&lol9;</g:title></item></channel></rss>
"""


def test_entity_expansion_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(FeedError, match="entity declarations are not allowed") as info:
        list(iter_products(path))
    assert info.value.path == str(path)


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        f'<rss xmlns:g="{G}"><channel><item><g:id>1</g:id><g:title>&xxe;</g:title>'
        "<g:link>https://s.test/1</g:link><g:price>1 GBP</g:price></item></channel></rss>\n"
    )
    with pytest.raises(FeedError, match="entity declarations are not allowed"):
        list(iter_products(path))


def test_undeclared_entity_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    path.write_text(f'<rss xmlns:g="{G}"><channel><item><g:title>&nbsp;</g:title></item></channel></rss>')
    with pytest.raises(FeedError, match="malformed XML"):
        list(iter_products(path))


# --------------------------------------------------------------------------- streaming


def _big_rss(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="{G}"><channel>\n')
        for i in range(count):
            f.write(
                f"<item><g:id>SKU-{i}</g:id><g:title>Linen shirt {i}</g:title>"
                f"<g:description>A relaxed linen shirt in washed Irish linen, cut for an easy fit; "
                f"number {i} of a long catalogue.</g:description>"
                f"<g:link>https://www.example-shop.test/p/SKU-{i}</g:link>"
                f"<g:price>{i % 100}.99 GBP</g:price>"
                f"<g:shipping><g:country>GB</g:country><g:price>3.95 GBP</g:price></g:shipping>"
                "</item>\n"
            )
        f.write("</channel></rss>\n")
    return path


def _peak_while_streaming(products: Iterator[Product]) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in products)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_100k_item_rss_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = _big_rss(tmp_path / "big.xml", 100_000)
    assert path.stat().st_size > 30_000_000
    count, peak = _peak_while_streaming(iter_products(path))
    assert count == 100_000
    assert peak < 10_000_000, f"peak {peak / 1e6:.1f} MB"


def test_100k_row_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["id", "title", "link", "price"])
        for i in range(100_000):
            writer.writerow([f"SKU-{i}", f"Stoneware mug {i}", f"https://s.test/{i}", f"{i % 50}.50 EUR"])
    count, peak = _peak_while_streaming(iter_products(path))
    assert count == 100_000
    assert peak < 10_000_000, f"peak {peak / 1e6:.1f} MB"


# --------------------------------------------------------------------------- hostile text


def _feed_with_text(directory: Path, kind: str, text: str) -> Path:
    row = item("N1", title=text, brand=text, description=text)
    if kind == "csv":
        return write_csv(directory / "feed", [row])
    if kind == "jsonl":
        return write_jsonl(directory / "feed", [row])
    return write_rss(directory / "feed", [row])


def _loads_intact_or_reports(directory: Path, kind: str, text: str) -> None:
    path = _feed_with_text(directory, kind, text)
    report = Report()
    try:
        products = list(iter_products(path, report=report))
    except FeedError:
        return  # e.g. control characters XML 1.0 cannot carry: the feed is malformed
    if not text.strip():
        assert not products and problems(report)[0].field == "title"
        return
    if products:
        [product] = products
        assert (product.title, product.brand, product.description) == (text.strip(),) * 3
    else:
        assert all(isinstance(p, FeedError) for p in report.problems)


def blns() -> list[str]:
    path = SHARED / "hostile" / "blns.json"
    if not path.exists():
        return []
    strings: list[str] = json.loads(path.read_text(encoding="utf-8"))
    return strings


@pytest.mark.parametrize("kind", ["csv", "jsonl", "rss"])
def test_naughty_strings_load_intact_or_are_reported(tmp_path: Path, kind: str) -> None:
    strings = blns()
    if not strings:
        pytest.skip(f"{SHARED / 'hostile' / 'blns.json'} not found: set MAILER_SHARED_DIR")
    for i, text in enumerate(strings):
        directory = tmp_path / str(i)
        directory.mkdir()
        _loads_intact_or_reports(directory, kind, text)


@pytest.mark.parametrize("kind", ["csv", "jsonl", "rss"])
@given(text=st.text(max_size=200))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_loads_intact_or_is_reported(kind: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _loads_intact_or_reports(Path(directory), kind, text)


@given(price=st.text(max_size=30), currency=st.text(max_size=5))
def test_any_price_text_parses_or_raises_value_error(price: str, currency: str) -> None:
    try:
        money = parse_price(price, currency=currency or None)
    except ValueError:
        return
    assert money.amount >= 0 and len(money.currency) == 3


@given(
    amount=st.decimals(min_value=0, max_value=10**9, places=2),
    code=st.sampled_from(["GBP", "USD", "EUR", "JPY", "SEK"]),
    before=st.booleans(),
)
def test_price_round_trips(amount: Decimal, code: str, before: bool) -> None:
    text = f"{code} {amount}" if before else f"{amount} {code}"
    assert parse_price(text) == Money(amount, code)


@given(data=st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_never_raise_anything_but_feed_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "feed"
        path.write_bytes(data)
        try:
            list(iter_products(path, report=Report()))
        except FeedError:
            pass


@given(
    header=st.lists(st.sampled_from(["id", "title", "link", "price", "g:brand", "currency", "x"]), max_size=8),
    rows=st.lists(st.lists(st.text(max_size=20), max_size=8), max_size=5),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
@settings(max_examples=150, deadline=None)
def test_arbitrary_csv_never_raises_anything_but_feed_error(
    header: list[str], rows: list[list[str]], delimiter: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "feed.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter=delimiter)
            writer.writerow(header)
            writer.writerows(rows)
        try:
            list(iter_products(path, report=Report()))
        except FeedError:
            pass


def test_iter_records_reports_required_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f", [{"id": "1"}])
    with pytest.raises(FeedError, match="lacks 'email'"):
        list(iter_records(path, required=("id", "email")))


# --------------------------------------------------------------------------- rows that lose nothing


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_two_megabyte_value_in_a_text_feed_is_reported_and_skipped(tmp_path: Path, delimiter: str) -> None:
    rows = [item("A1"), item("A2", description="d" * 2_000_000), item("A3")]
    products, report = load(write_csv(tmp_path / "feed.txt", rows, delimiter=delimiter))
    assert [p.id for p in products] == ["A1", "A3"]
    assert [(p.line, p.reason) for p in problems(report)] == [(3, "line longer than 1048576 characters")]


def test_meta_image_url_columns_are_the_image_links(tmp_path: Path) -> None:
    from tests.conftest import shared_path

    original = shared_path("feeds/meta_catalog.csv")
    header, rest = original.read_text(encoding="utf-8").split("\n", 1)
    assert ",image_link," in header
    path = tmp_path / "meta.csv"
    path.write_text(header.replace(",image_link,", ",image[0].url,") + "\n" + rest, encoding="utf-8")
    expected = {p.id: p.image_link for p in load(original)[0]}
    products, report = load(path)
    assert report.count == load(original)[1].count
    assert {p.id: p.image_link for p in products} == expected
    assert all(expected.values())


def test_meta_further_images_are_additional_links(tmp_path: Path) -> None:
    rows = [item("A1", **{"image[0].url": "https://cdn.test/a.jpg", "image[0].tag[0]": "front",
                          "image[2].url": "https://cdn.test/c.jpg", "image[1].url": "https://cdn.test/b.jpg"})]
    [product] = load(write_csv(tmp_path / "meta.csv", rows))[0]
    assert product.image_link == "https://cdn.test/a.jpg"
    assert product.additional_image_links == ("https://cdn.test/b.jpg", "https://cdn.test/c.jpg")


def test_decimal_comma_price_with_the_code_first(tmp_path: Path) -> None:
    [product] = load(write_csv(tmp_path / "feed.csv", [item(price="CHF 49,90")]))[0]
    assert product.price == Money(Decimal("49.90"), "CHF")


def test_gtin_damaged_by_a_spreadsheet_is_reported_on_its_row(tmp_path: Path) -> None:
    rows = [item("A1", gtin="4012345678901"), item("A2", gtin="4.0112E+12")]
    products, report = load(write_csv(tmp_path / "feed.csv", rows))
    assert [(p.id, p.extra["gtin"]) for p in products] == [("A1", "4012345678901")]
    [problem] = problems(report)
    assert (problem.line, problem.item, problem.field) == (3, "A2", "gtin")
    assert "scientific notation" in problem.reason


@pytest.mark.parametrize(
    ("gtin", "reason"),
    [("4012345678902", "check digit"), ("40123", "not 8, 12, 13 or 14 digits"), ("4,0112E+12", "spreadsheet")],
)
def test_bad_gtins_are_refused(gtin: str, reason: str) -> None:
    from mailer.inputs.feeds import parse_gtin

    with pytest.raises(ValueError, match=reason):
        parse_gtin(gtin)


def test_shared_feeds_keep_their_gtins() -> None:
    from tests.conftest import shared_path

    products, report = load(shared_path("feeds/google_example_rss.xml"))
    assert report.count == 0
    assert {p.extra.get("gtin") for p in products} >= {"71919219405200", "3348901056069"}


def test_feed_whose_items_all_fail_says_why() -> None:
    from mailer.inputs.feeds import no_products_reason

    rows = [item(f"A{i}", price="TBC") for i in range(5)] + [item("B1", link="nope")]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "feed.csv", rows)
        products, report = load(path)
        reason = no_products_reason(report, path=path)
    assert products == []
    assert reason == (
        "no product could be read from the feed: 5 × field 'price': unparseable price '…' (expected e.g. '…'); "
        "1 × field 'link': expected an http(s) URL, found '…'"
    )
