"""mailer.snapshot: a campaign's content frozen when it is queued."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailer.errors import ConfigError
from mailer.snapshot import Snapshot, capture_files
from tests.conftest import LOCALES_DIR, ROOT


def test_every_layout_file_is_kept_whatever_its_suffix_and_through_links(tmp_path: Path) -> None:
    layouts = tmp_path / "layouts"
    (layouts / "partials").mkdir(parents=True)
    (layouts / "news.mjml").write_text("<mjml></mjml>")
    (layouts / "partials" / "extra.htm").write_text("<p>hi</p>")
    (layouts / "partials" / "logo.bin").write_bytes(b"\xff\x00")  # not text: kept as bytes
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "footer.mjml").write_text("<mj-text>bye</mj-text>")
    os.symlink(shared, layouts / "shared")
    (layouts / ".git").mkdir()
    (layouts / ".git" / "HEAD").write_text("ref")
    kept, catalogs = capture_files(layouts, LOCALES_DIR)
    assert set(kept) == {"news.mjml", "partials/extra.htm", "partials/logo.bin", "shared/footer.mjml"}
    assert kept["partials/logo.bin"] == b"\xff\x00"
    assert "da/LC_MESSAGES/messages.mo" in catalogs and not any(name.endswith(".po") for name in catalogs)


def test_a_snapshot_round_trips_through_its_stored_text() -> None:
    layouts, locales = capture_files(ROOT / "layouts", LOCALES_DIR)
    snap = Snapshot(campaign_text='id = "c"', campaign_path="/shop/c.toml", layouts=layouts, locales=locales,
                    products=({"id": "A1", "title": "Scarf", "price": ["12.50", "EUR"], "link": "https://s.test/a"},),
                    slots={"picks": ["A1"]}, overrides={"id": "c-2026"}, rates="base,currency,rate,as_of\n")  # fmt: skip
    again = Snapshot.from_text(snap.to_text())
    assert again == snap and again.digest == snap.digest
    assert again.catalogue()["A1"].price.amount.as_tuple().exponent == -2


def test_materialising_refuses_paths_outside_its_folder(tmp_path: Path) -> None:
    snap = Snapshot(campaign_text="", campaign_path="c.toml", layouts={"../escape.mjml": b"x"})
    with pytest.raises(ConfigError, match="outside its directory"):
        snap.materialise(tmp_path / "work")
    assert not (tmp_path / "escape.mjml").exists()


def test_a_campaign_queued_without_a_snapshot_gets_advice() -> None:
    with pytest.raises(ConfigError, match="mailer campaign cancel"):
        Snapshot.from_text('{"campaign": "old.toml"}')
