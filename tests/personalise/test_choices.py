"""Per-customer choices through delivery: `mailer run` sends what `mailer render` previews,
and the send log keeps products from coming back in the next emails."""

from __future__ import annotations

import re

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import open_store

from ..conftest import FIXTURES
from .test_strategies import CAMPAIGN, few_customers, previews

GENERATED = FIXTURES / "generated"


def personal_campaign(tmp_path: Path, campaign_id: str, extra: str = "") -> Path:
    path = tmp_path / f"{campaign_id}.toml"
    path.write_text(
        CAMPAIGN.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
        .replace('id = "autumn-newsletter-2026"', f'id = "{campaign_id}"')
        + f'\n[selection]\nstrategy = "personal"\npurchases = "{GENERATED / "purchases.csv"}"\n'
        f'added_from = "custom_label_0"\n{extra}',
        encoding="utf-8",
    )
    return path


def run(tmp_path: Path, campaign: Path, customers: Path, capsys: pytest.CaptureFixture[str]) -> str:
    args = ["run", str(campaign), "--customers", str(customers), "--feed", str(GENERATED / "products.jsonl"),
            "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--transport", f"outbox:{tmp_path / campaign.stem}",
            "--state-dir", str(tmp_path / "state"), "--no-quiet-hours", "--class", "transactional"]  # fmt: skip
    assert main(args) == 0
    return capsys.readouterr().out


def render(tmp_path: Path, campaign: Path, customers: Path, *extra: str, exit_code: int = 0) -> Path:
    out = tmp_path / f"render-{campaign.stem}"
    args = ["render", "--feed", str(GENERATED / "products.jsonl"), "--customers", str(customers),
            "--campaign", str(campaign), "--out", str(out), "--state-dir", str(tmp_path / "state"), *extra]  # fmt: skip
    assert main(args) == exit_code
    return out


def sent_by_customer(outbox: Path, customers: Path) -> dict[str, bytes]:
    by_address = {line.split(",")[1]: line.split(",")[0] for line in customers.read_text().splitlines()[1:]}
    out = {}
    for path in outbox.glob("*.eml"):
        data = path.read_bytes()
        message = BytesParser(policy=policy.default).parsebytes(data)
        out[by_address[message["To"].addresses[0].addr_spec]] = data
    return without_date(out)


def without_date(messages: dict[str, bytes]) -> dict[str, bytes]:
    return {key: re.sub(rb"\r\nDate: [^\r]*", b"", data, count=1) for key, data in messages.items()}


def picks(preview: dict[str, list[dict[str, str]]]) -> set[str]:
    return {p["id"] for group in preview.values() for p in group}


def test_run_sends_each_customer_exactly_what_the_preview_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customers = few_customers(tmp_path, 40)
    campaign = personal_campaign(tmp_path, "autumn")
    preview_dir = render(tmp_path, campaign, customers)
    capsys.readouterr()
    assert "queued 40 message(s)" in run(tmp_path, campaign, customers, capsys)
    sent = sent_by_customer(tmp_path / "autumn", customers)
    rendered = without_date({p.name.split("-")[0]: p.read_bytes() for p in preview_dir.glob("*.eml")})
    # Byte for byte (the products, the offer, everything) but the Date: header (here
    # without_date), which is the instant each row was planned for; tests/test_cli_check.py
    # compares that too.
    assert len(sent) == 40 and sent == rendered
    chosen = previews(preview_dir)
    assert len({tuple(sorted(picks(slots))) for slots in chosen.values()}) > 30  # one-to-one, not one-to-all
    rows = open_store(tmp_path / "queue.sqlite3").deliveries("autumn")
    assert all(set(r.payload["shown"]) == picks(chosen[r.recipient]) for r in rows)


def test_products_shown_stay_out_of_the_next_emails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    customers = few_customers(tmp_path, 40)
    run(tmp_path, personal_campaign(tmp_path, "first"), customers, capsys)
    store = open_store(tmp_path / "queue.sqlite3")
    first = {r.recipient: set(r.payload["shown"]) for r in store.deliveries("first")}
    assert sum(map(len, first.values())) > 100

    # With the send log forgotten (shown_emails = 0) the same picks come back...
    forgetful = render(tmp_path, personal_campaign(tmp_path, "again", "shown_emails = 0\n"), customers,
                       "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}")  # fmt: skip
    repeats = sum(len(first[c] & picks(slots)) for c, slots in previews(forgetful).items())
    assert repeats > 100
    # ...with it, the preview and the next campaign leave them out.
    second = personal_campaign(tmp_path, "second")
    # Exit 1: a customer left with no product is not rendered (nor queued) with an empty grid.
    preview_dir = render(tmp_path, second, customers, "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", exit_code=1)
    capsys.readouterr()
    run(tmp_path, second, customers, capsys)
    rows = store.deliveries("second")
    # A customer the sample leaves with no product at all is not sent an empty grid.
    assert 38 <= len(rows) == len(previews(preview_dir))
    for row in rows:
        assert not first[row.recipient] & set(row.payload["shown"]), row.recipient
    # A 300-product sample runs short for a few narrow customers; most still get a full email.
    assert sum(len(r.payload["shown"]) == 6 for r in rows) >= 25
    assert {r.recipient: set(r.payload["shown"]) for r in rows} == {
        c: picks(slots) for c, slots in previews(preview_dir).items()
    }


def test_customers_outside_the_audience_are_not_queued(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    customers = few_customers(tmp_path, 60)
    campaign = personal_campaign(tmp_path, "lapsed", '\n[audience]\nsegments = ["lapsed"]\n')
    out = run(tmp_path, campaign, customers, capsys)
    rows = open_store(tmp_path / "queue.sqlite3").deliveries("lapsed")
    assert 0 < len(rows) < 60 and f"{60 - len(rows)} outside the audience" in out
    assert {r.payload["segment"] for r in rows} == {"lapsed"}
    rendered = render(tmp_path, campaign, customers)
    assert set(previews(rendered)) == {r.recipient for r in rows}
    assert json.loads((rendered / "report.json").read_text())  # the report is written either way


def test_segment_layouts_and_offers_are_sent_as_previewed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    customers = few_customers(tmp_path, 40)
    campaign = tmp_path / "winback.toml"
    campaign.write_text(
        personal_campaign(tmp_path, "mixed", 'offer_to = "promotion"\n\n[audience.layouts]\nchampions = "winback"\n'
                          'loyal = "winback"\n').read_text(encoding="utf-8")
        .replace("[offer]\n", '[offer]\ncode = "COMEBACK15"\n'),
        encoding="utf-8",
    )  # fmt: skip
    preview_dir = render(tmp_path, campaign, customers)
    capsys.readouterr()
    run(tmp_path, campaign, customers, capsys)
    rows = {r.recipient: r for r in open_store(tmp_path / "queue.sqlite3").deliveries("mixed")}
    assert {r.payload.get("layout", "newsletter") for r in rows.values()} == {"newsletter", "winback"}
    assert {r.payload.get("offer", True) for r in rows.values()} == {True, False}
    sent = sent_by_customer(tmp_path / "winback", customers)
    rendered = without_date({p.name.split("-")[0]: p.read_bytes() for p in preview_dir.glob("*.eml")})
    assert sent == rendered and len(sent) == len(rows)
    # What the send log will remember is what each email shows: 3 cards in win-back, 6 in the newsletter.
    for recipient, row in rows.items():
        shows = 3 if row.payload.get("layout") == "winback" else 6  # fewer when selection runs short
        assert 0 < len(row.payload["shown"]) <= shows, recipient
        text = BytesParser(policy=policy.default).parsebytes(sent[recipient]).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert all(f"/p/{product}" in text for product in row.payload["shown"]), recipient
    assert max(len(r.payload["shown"]) for r in rows.values() if r.payload.get("layout") == "winback") == 3
    assert {r["customer"]: sum(map(len, r["slots"].values())) for r in map(json.loads, (
        preview_dir / "selection.jsonl").read_text().splitlines())} == {c: len(r.payload["shown"]) for c, r in rows.items()}


def test_campaign_wide_products_are_sent_as_previewed_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """first_in_stock for everyone, an audience, and a [slots] list the strategy overrides."""
    customers = few_customers(tmp_path, 30)
    campaign = tmp_path / "listed.toml"
    campaign.write_text(
        CAMPAIGN.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
        .replace('id = "autumn-newsletter-2026"', 'id = "listed"')
        + f'\n[slots]\npicks = ["S000005", "S000001"]\n\n[selection]\nstrategy = "first_in_stock"\n'
        f'purchases = "{GENERATED / "purchases.csv"}"\n\n[audience]\nsegments = ["loyal", "champions", "regular"]\n',
        encoding="utf-8",
    )
    preview_dir = render(tmp_path, campaign, customers)
    capsys.readouterr()
    run(tmp_path, campaign, customers, capsys)
    sent = sent_by_customer(tmp_path / "listed", customers)
    rendered = without_date({p.name.split("-")[0]: p.read_bytes() for p in preview_dir.glob("*.eml")})
    assert sent and sent == rendered
