"""Shared test helpers: where things are, and a full per-recipient context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from mailer.content.catalogs import Catalogs
from mailer.content.localise import Localisers
from mailer.content.money import Rates

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
LOCALES_DIR = ROOT / "locales"
SHARED = Path(os.environ.get("MAILER_SHARED_DIR", ROOT.parent / "shared"))


def shared_path(relative: str) -> Path:
    """A file of the shared test material, or skip (users' clones lack it)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test material {path} is absent (set MAILER_SHARED_DIR to its directory)")
    return path


def localisers() -> Localisers:
    return Localisers(rates=Rates.from_csv(FIXTURES / "rates.csv"), catalogs=Catalogs(LOCALES_DIR))


def product_view(index: int = 0, **overrides: Any) -> dict[str, Any]:
    view = {
        "key": index,
        "id": f"p{index}",
        "title": f"Wool scarf {index}",
        "brand": "Acme",
        "link": f"https://shop.test/p/{index}",
        "image": f"https://cdn.shop.test/{index}.jpg",
        "price": "£10.00",
        "was_price": "",
        "color": "",
        "size": "",
    }
    view.update(overrides)
    return view


def layout_context(locale: str = "en_GB", currency: str = "GBP", *, escape: bool = True) -> dict[str, Any]:
    """Everything the shipped layouts use, as :class:`mailer.content.compose.Composer` builds it."""
    wrap = markupsafe.escape if escape else str
    return {
        "l10n": localisers().get(locale, currency, "Europe/London"),
        "subject": wrap("Subject"),
        "preheader": wrap("Preheader"),
        "recipient": {"id": "c1", "name": "Zoë Smith", "first_name": "Zoë", "language": locale[:2], "locale": locale},
        "links": {
            "unsubscribe": "https://shop.test/u/TOKEN",
            "preferences": "https://shop.test/p/TOKEN",
            "view_online": "https://shop.test/v/TOKEN",
        },
        "brand": {"shop": "Shop & Co", "logo": "https://cdn.shop.test/logo.png", "home": "https://shop.test/", "address": "1 Road"},
        "content": {
            "hero_image": "https://cdn.shop.test/hero.jpg",
            "hero_heading": "Autumn",
            "hero_link": "https://shop.test/autumn",
            "hero_text": "Warm things.",
            "new_in_link": "https://shop.test/new",
            "shop_link": "https://shop.test/",
        },
        "offer": {"code": "COMEBACK15", "expires": None},
        "slots": {"picks": [product_view(i) for i in range(6)]},
        "fragment_cache": {},
    }


def prepared_sample(state_dir: Path, campaign: Path | None = None, **options: Any) -> Any:
    """The sample campaign (or ``campaign``) prepared from the repository's
    layouts, catalogs and feed, its link key kept in ``state_dir``."""
    from mailer.prepared import prepare
    from mailer.tokens import Signer, load_signing_key

    options.setdefault("feed", FIXTURES / "products.xml")
    return prepare(
        campaign or FIXTURES / "campaign.toml",
        layouts_dir=ROOT / "layouts",
        locales_dir=LOCALES_DIR,
        signer=Signer(load_signing_key(state_dir=state_dir)),
        key_file=state_dir / "secret",
        **options,
    )


def copy_project(target: Path) -> Path:
    """A copy of the repository's project (layouts, catalogs, fixtures,
    mailer.toml) in ``target``, for tests that edit its files."""
    import shutil

    for name in ("layouts", "locales", "fixtures"):
        shutil.copytree(ROOT / name, target / name)
    shutil.copy(ROOT / "mailer.toml", target / "mailer.toml")
    return target
