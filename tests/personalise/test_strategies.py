"""Strategies by name: campaign [selection]/[audience] tables and `mailer render` choosing products per customer."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailer.campaign import load_campaign
from mailer.cli import main
from mailer.errors import ConfigError
from mailer.inputs.feeds import iter_products
from mailer.personalise.strategies import parse_selection

from ..conftest import FIXTURES

CAMPAIGN = (FIXTURES / "campaign.toml").read_text(encoding="utf-8")


def render(tmp_path: Path, *extra: str, campaign: Path = FIXTURES / "campaign.toml",
           feed: Path = FIXTURES / "products.xml", customers: Path = FIXTURES / "customers.csv") -> Path:  # fmt: skip
    out = tmp_path / "out"
    args = ["render", "--feed", str(feed), "--customers", str(customers), "--campaign", str(campaign),
            "--out", str(out), "--state-dir", str(tmp_path / "state"), *extra]  # fmt: skip
    assert main(args) == 0
    return out


def few_customers(tmp_path: Path, n: int = 60) -> Path:
    """The first ``n`` customers of the generated sample, in British English (one layout compile each)."""
    lines = (FIXTURES / "generated" / "customers.csv").read_text(encoding="utf-8").splitlines()[: n + 1]
    rows = [lines[0]] + [",".join(line.split(",")[:3] + ["en_GB", "GBP", "Europe/London"] + line.split(",")[6:])
                         for line in lines[1:]]  # fmt: skip
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def previews(out: Path) -> dict[str, dict[str, list[dict[str, str]]]]:
    rows = [json.loads(line) for line in (out / "selection.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["customer"]: row["slots"] for row in rows}


def test_render_personal_picks_per_customer_with_reasons(tmp_path: Path) -> None:
    out = render(tmp_path, "--strategy", "personal", "--purchases", str(FIXTURES / "purchases.csv"))
    assert len(list(out.glob("*.eml"))) == 30
    chosen = previews(out)
    assert len(chosen) == 30 and all(len(slots["picks"]) == 6 for slots in chosen.values())
    assert len({tuple(p["id"] for p in slots["picks"]) for slots in chosen.values()}) > 20  # one-to-one
    sold_out = {p.id for p in iter_products(FIXTURES / "products.xml") if not p.in_stock}
    assert len(sold_out) == 10
    assert not any(p["id"] in sold_out for slots in chosen.values() for p in slots["picks"])
    assert all(p["reason"] for slots in chosen.values() for p in slots["picks"])
    again = render(tmp_path / "again", "--strategy", "personal", "--purchases", str(FIXTURES / "purchases.csv"))
    assert previews(again) == chosen  # the preview is what will be sent


def test_campaign_selection_and_audience_tables(tmp_path: Path) -> None:
    generated = FIXTURES / "generated"
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        CAMPAIGN.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
        + f'\n[selection]\nstrategy = "personal"\npurchases = "{generated / "purchases.csv"}"\n'
        'added_from = "custom_label_0"\nmax_per_brand = 1\n\n[audience]\nsegments = ["lapsed"]\n',
        encoding="utf-8",
    )
    out = render(tmp_path, campaign=campaign, feed=generated / "products.jsonl", customers=few_customers(tmp_path))
    chosen = previews(out)
    assert 0 < len(chosen) < 60 and len(list(out.glob("*.eml"))) == len(chosen)
    for slots in chosen.values():
        ids = [p["id"] for p in slots["picks"]]
        assert len({i.split("-")[0] for i in ids}) == len(ids)  # one size per style


def test_bad_selection_key_names_the_campaign_file(tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(CAMPAIGN + '\n[selection]\nstrategy = "personal"\nexploraton_share = 0.2\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"campaign.toml: selection: unknown key 'exploraton_share'"):
        load_campaign(path)


def test_unknown_audience_segment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(CAMPAIGN.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
                    + '\n[audience]\nsegments = ["lapsd"]\n', encoding="utf-8")  # fmt: skip
    args = ["render", "--feed", str(FIXTURES / "products.xml"), "--customers", str(FIXTURES / "customers.csv"),
            "--campaign", str(path), "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "s"),
            "--purchases", str(FIXTURES / "purchases.csv")]  # fmt: skip
    assert main(args) == 2


def test_purchases_path_is_relative_to_the_campaign() -> None:
    config = parse_selection({"strategy": "bestsellers", "purchases": "p.csv"}, base=Path("/shop/campaigns"))
    assert config.purchases == Path("/shop/campaigns/p.csv") and config.personalised


def test_offer_goes_only_to_customers_who_buy_on_discount(tmp_path: Path) -> None:
    generated = FIXTURES / "generated"
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        CAMPAIGN.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
        .replace('layout = "newsletter"', 'layout = "winback"')
        .replace("[offer]\n", '[offer]\ncode = "COMEBACK15"\n')
        + f'\n[selection]\nstrategy = "personal"\npurchases = "{generated / "purchases.csv"}"\noffer_to = "promotion"\n',
        encoding="utf-8",
    )
    out = render(tmp_path, campaign=campaign, feed=generated / "products.jsonl", customers=few_customers(tmp_path))
    rows = [json.loads(line) for line in (out / "selection.jsonl").read_text(encoding="utf-8").splitlines()]
    offered = {row["customer"] for row in rows if row["offer"]}
    assert 0 < len(offered) < len(rows)
    for path in out.glob("*.eml"):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        customer = path.name.split("-")[0]
        assert ("COMEBACK15" in text) == (customer in offered), customer


def test_top_tier_gets_another_layout(tmp_path: Path) -> None:
    generated = FIXTURES / "generated"
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        CAMPAIGN.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
        + f'\n[selection]\nstrategy = "personal"\npurchases = "{generated / "purchases.csv"}"\n'
        '\n[audience.layouts]\nchampions = "winback"\nloyal = "winback"\n',
        encoding="utf-8",
    )
    out = render(tmp_path, campaign=campaign, feed=generated / "products.jsonl", customers=few_customers(tmp_path))
    rows = [json.loads(line) for line in (out / "selection.jsonl").read_text(encoding="utf-8").splitlines()]
    layouts = {row["customer"]: row["layout"] for row in rows}
    assert set(layouts.values()) == {"newsletter", "winback"}
    for row in rows:
        path = next(out.glob(f"{row['customer']}-*.eml"))
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        shown = [p["id"] for p in row["slots"]["picks"] if f"/p/{p['id']}" in text]
        assert len(shown) == (3 if row["layout"] == "winback" else len(row["slots"]["picks"]))
