"""mailer.prepared: one prepared campaign for check, preview, queue and send."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailer.inputs.customers import iter_customers
from mailer.sending.delivery import CampaignRenderer, queue_campaign
from mailer.errors import ConfigError, LayoutError
from mailer.sending.plan import At
from mailer.report import Report
from mailer.store import open_store
from tests.conftest import FIXTURES, ROOT, prepared_sample

UTC = timezone.utc


def customers(n: int) -> list:  # type: ignore[type-arg]
    return [c for _, c in zip(range(n), iter_customers(FIXTURES / "customers.csv"))]


def test_layout_errors_name_the_projects_file_not_a_working_copy(tmp_path: Path) -> None:
    layouts = tmp_path / "layouts"
    shutil.copytree(ROOT / "layouts", layouts)
    footer = layouts / "partials" / "footer.mjml"
    footer.write_text(footer.read_text().replace("brand.address", "brand.addresss"))
    from mailer.prepared import prepare
    from mailer.tokens import Signer

    prepared = prepare(FIXTURES / "campaign.toml", feed=FIXTURES / "products.xml", layouts_dir=layouts,
                       locales_dir=ROOT / "locales", signer=Signer(b"k" * 32))  # fmt: skip
    choice = next(prepared.choices(customers(1)))
    with pytest.raises(LayoutError) as caught:
        prepared.compose(choice)
    assert str(footer.resolve()) in str(caught.value) and "mailer-campaign-" not in str(caught.value)
    prepared.close()


def test_a_send_date_still_to_come_is_the_default_instant(tmp_path: Path) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    campaign = tmp_path / "c.toml"
    text = (FIXTURES / "campaign.toml").read_text().replace("send_date = 2026-11-24T09:00:00Z",
                                                            f"send_date = {when.isoformat().replace('+00:00', 'Z')}")
    campaign.write_text(text.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"'))
    with prepared_sample(tmp_path / "state", campaign) as prepared:
        assert prepared.send_instant() == when
        message = prepared.compose(next(prepared.choices(customers(1))))
    assert email.message_from_bytes(message.data, policy=email.policy.default)["Date"].datetime == when


def test_a_send_date_gone_by_means_now(tmp_path: Path) -> None:
    with prepared_sample(tmp_path / "state") as prepared:  # the sample's send_date is in the past
        assert abs((prepared.send_instant() - datetime.now(UTC)).total_seconds()) < 60


def test_queueing_refuses_content_other_than_what_the_campaign_was_queued_with(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.sqlite3")
    when = At(datetime(2030, 1, 1, 12, tzinfo=UTC))
    with prepared_sample(tmp_path / "state") as first:
        queue_campaign(store, first, customers(2), rule=when, quiet=None)
    feed = tmp_path / "feed.xml"
    feed.write_text((FIXTURES / "products.xml").read_text().replace("<g:price>", "<g:price>1"))
    with prepared_sample(tmp_path / "state", feed=feed) as changed, pytest.raises(ConfigError, match="other content"):
        queue_campaign(store, changed, customers(3), rule=when, quiet=None)
    assert len(store.deliveries()) == 2
    store.close()


def test_a_row_naming_a_product_the_snapshot_lacks_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.sqlite3")
    with prepared_sample(tmp_path / "state", strategy="personal", purchases=FIXTURES / "purchases.csv") as prepared:
        prepared.personalise(report=Report())
        queue_campaign(store, prepared, customers(1), rule=At(datetime(2030, 1, 1, 12, tzinfo=UTC)), quiet=None)
    row = store.deliveries()[0]
    payload = dict(row.payload, slots={"picks": ["NO-SUCH-PRODUCT"]})
    forged = dataclasses.replace(row, payload=payload)
    with pytest.raises(ConfigError, match="NO-SUCH-PRODUCT"):
        CampaignRenderer(store)(forged)
    store.close()


@pytest.mark.parametrize("strategy", ["listed", "first_in_stock"])
def test_every_strategy_shows_one_variant_per_item_group(tmp_path: Path, strategy: str) -> None:
    campaign = tmp_path / "c.toml"
    campaign.write_text((FIXTURES / "campaign.toml").read_text().replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
                        + '\n[slots]\npicks = ["WD1001-S", "WD1001-M", "WD1002-8"]\n')  # fmt: skip
    report = Report()
    with prepared_sample(tmp_path / "state", campaign, strategy=strategy, report=report) as prepared:
        groups = [p.item_group_id for p in prepared.slots["picks"] if p.item_group_id]
    assert groups and len(groups) == len(set(groups))
    if strategy == "listed":
        assert [p.id for p in prepared.slots["picks"]] == ["WD1001-S", "WD1002-8"]
        assert any("another variant of item group 'WD1001'" in line for line in report.lines())
