"""Queueing a campaign and rendering its rows again."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailer.campaign import load_campaign
from mailer.sending.caps import Sent
from mailer.inputs.customers import Customer, iter_customers
from mailer.sending.delivery import CampaignRenderer, queue_campaign
from mailer.errors import ConfigError
from mailer.content.mime import message_id
from mailer.sending.plan import At, QuietHours
from mailer.report import Report
from mailer.store import Store, open_store
from tests.conftest import FIXTURES, prepared_sample

UTC = timezone.utc
CAMPAIGN = load_campaign(FIXTURES / "campaign.toml")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "q.sqlite3")
    yield s
    s.close()


def customers(n: int) -> list[Customer]:
    return [c for _, c in zip(range(n), iter_customers(FIXTURES / "customers.csv"))]


def sample(tmp_path: Path):  # type: ignore[no-untyped-def]
    return prepared_sample(tmp_path / "state")


def test_rows_carry_plan_expiry_class_and_message_id(store: Store, tmp_path: Path) -> None:
    when = datetime(2030, 1, 1, 12, tzinfo=UTC)
    queue_campaign(store, sample(tmp_path), customers(3), rule=At(when), quiet=None,
                   message_class="lifecycle", expiry=3600)
    rows = store.deliveries()
    assert [r.recipient for r in rows] == ["C0001", "C0002", "C0003"]
    row = rows[0]
    assert (row.not_before, row.expires_at, row.message_class) == (when.timestamp(), when.timestamp() + 3600, "lifecycle")
    assert row.message_id == message_id(CAMPAIGN.id, "C0001", "example-shop.test")


def test_quiet_hours_apply_in_each_recipients_zone(store: Store, tmp_path: Path) -> None:
    when = datetime(2030, 1, 1, 22, tzinfo=UTC)
    queue_campaign(store, sample(tmp_path), customers(1), rule=At(when), quiet=QuietHours())
    assert store.deliveries()[0].not_before == datetime(2030, 1, 2, 8, tzinfo=UTC).timestamp()  # London


def test_capped_recipients_are_dropped_and_reported(store: Store, tmp_path: Path) -> None:
    when = datetime(2030, 1, 1, 12, tzinfo=UTC)
    store.enqueue([])  # nothing
    history = {"C0001": [Sent(when.timestamp() - 60, "promotional")]}
    original = store.send_log
    store.send_log = lambda r: history.get(r, original(r))  # type: ignore[method-assign]
    report = Report()
    queued = queue_campaign(store, sample(tmp_path), customers(2), rule=At(when), quiet=None,
                                    on_cap="drop", report=report)
    assert (queued.added, queued.capped, queued.left_out) == (1, 1, 0)
    assert "C0001: not queued: frequency cap" in report.lines()[0]


def test_rendered_row_matches_a_direct_compose(store: Store, tmp_path: Path) -> None:
    queue_campaign(store, sample(tmp_path), customers(1), rule=At(datetime(2030, 1, 1, tzinfo=UTC)), quiet=None)
    row = store.deliveries()[0]
    envelope = CampaignRenderer(store)(row)
    assert envelope.recipients == (row.address,) and envelope.sender == "news@example-shop.test"
    assert envelope.message_id == row.message_id
    assert b"Message-ID: " + row.message_id.encode() in envelope.data  # type: ignore[union-attr]


def test_unknown_campaign_cannot_render(store: Store) -> None:
    from mailer.store import NewDelivery

    store.enqueue([NewDelivery("ghost", "C1", "a@b.test", not_before=0.0, payload={"customer": {}})], now=0)
    with pytest.raises(ConfigError, match="does not say how to render"):
        CampaignRenderer(store)(store.deliveries()[0])


def test_the_volume_dial_applies_when_planning_and_is_kept_for_workers(store: Store, tmp_path: Path) -> None:
    import dataclasses

    when = datetime(2030, 1, 1, 12, tzinfo=UTC)
    people = customers(3)
    people[0] = dataclasses.replace(people[0], volume="only-important")  # from the customers file
    store.set_volume(people[1].id, "only-important")  # set earlier, e.g. from the preferences page
    report = Report()
    queued = queue_campaign(store, sample(tmp_path), people, rule=At(when), quiet=None, on_cap="drop", report=report)
    assert (queued.added, queued.capped) == (1, 2)  # capped, not failed
    assert [r.recipient for r in store.deliveries()] == [people[2].id]
    assert store.volume(people[0].id) == "only-important"
    assert sum("only important" in line for line in report.lines()) == 2


# DKIM: a campaign whose [delivery] names a key has every message signed


def dkim_campaign(tmp_path: Path, *, key: bool = True) -> Path:
    """The sample campaign with DKIM settings, its key (Ed25519) in ``dkim/`` beside it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    text = (FIXTURES / "campaign.toml").read_text(encoding="utf-8")
    text = text.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
    text = text.replace("[delivery]\n", '[delivery]\ndkim_selector = "mail2026"\ndkim_key = "dkim/mail2026.pem"\n')
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    if key:
        (tmp_path / "dkim").mkdir()
        (tmp_path / "dkim" / "mail2026.pem").write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return path


def test_dkim_signed_messages_reach_the_outbox_and_verify(store: Store, tmp_path: Path) -> None:
    import asyncio

    import dkim

    from mailer.content.dkim import DkimSigner
    from mailer.sending.worker import Worker, WorkerOptions
    from mailer.snapshot import Snapshot
    from mailer.transports.outbox import OutboxTransport

    campaign = dkim_campaign(tmp_path)
    queued = queue_campaign(store, prepared_sample(tmp_path / "state", campaign), customers(6),
                            rule=At(datetime.now(UTC)), quiet=None)  # fmt: skip
    assert queued.added == 6
    renderer = CampaignRenderer(store)
    worker = Worker(store, OutboxTransport(tmp_path / "outbox", fsync=False), renderer,
                    options=WorkerOptions(concurrency=2, lease_seconds=30, poll_interval=0.05))  # fmt: skip
    asyncio.run(worker.run("until-idle"))
    renderer.close()
    assert store.counts() == {"sent": 6}
    # The record a shop publishes: d= is the From domain, as nothing else is said.
    signer = DkimSigner(tmp_path / "dkim/mail2026.pem", domain="example-shop.test", selector="mail2026")
    record = signer.dns_record().encode()

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"mail2026._domainkey.example-shop.test." else None

    sent = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(sent) == 6
    for eml in sent:
        data = eml.read_bytes()
        assert data.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example-shop.test;")
        assert dkim.verify(data, dnsfunc=dns), eml.name
    # The store keeps where the key is, never the key.
    snapshot = Snapshot.from_text(store.get_campaign(CAMPAIGN.id) or "")
    assert 'dkim_key = "dkim/mail2026.pem"' in snapshot.campaign_text
    key_body = b"".join((tmp_path / "dkim/mail2026.pem").read_bytes().splitlines()[1:-1]).decode()
    assert key_body not in repr(snapshot)


def test_a_campaign_without_dkim_settings_is_sent_unsigned(store: Store, tmp_path: Path) -> None:
    queue_campaign(store, sample(tmp_path), customers(1), rule=At(datetime(2030, 1, 1, tzinfo=UTC)), quiet=None)
    envelope = CampaignRenderer(store)(store.deliveries()[0])
    assert not envelope.data.startswith(b"DKIM-Signature:")  # type: ignore[union-attr]


def test_a_dkim_key_that_does_not_load_is_refused_when_queueing(store: Store, tmp_path: Path) -> None:
    campaign = dkim_campaign(tmp_path, key=False)
    with pytest.raises(ConfigError, match=rf"campaign '{CAMPAIGN.id}': {tmp_path}/dkim/mail2026.pem: cannot read"):
        queue_campaign(store, prepared_sample(tmp_path / "state", campaign), customers(2),
                       rule=At(datetime(2030, 1, 1, tzinfo=UTC)), quiet=None)  # fmt: skip
    assert store.deliveries() == [] and store.get_campaign(CAMPAIGN.id) is None


def test_a_dkim_key_gone_before_sending_fails_every_row_naming_the_file(store: Store, tmp_path: Path) -> None:
    campaign = dkim_campaign(tmp_path)
    queue_campaign(store, prepared_sample(tmp_path / "state", campaign), customers(2),
                   rule=At(datetime(2030, 1, 1, tzinfo=UTC)), quiet=None)  # fmt: skip
    (tmp_path / "dkim/mail2026.pem").write_text("garbage\n")
    renderer = CampaignRenderer(store)
    for row in store.deliveries():
        with pytest.raises(ConfigError, match=r"dkim/mail2026.pem: not a PEM private key"):
            renderer(row)
    with pytest.raises(ConfigError, match=r"dkim/mail2026.pem: not a PEM private key"):
        renderer.prepared(CAMPAIGN.id)  # refused once for all its rows, not prepared again per row
