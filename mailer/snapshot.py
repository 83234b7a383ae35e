"""What a queued campaign sends, frozen when it is queued.

A :class:`Snapshot` holds the campaign file's text, the layout sources, the
compiled catalogs, the rates and the products (fields and prices) the
campaign's messages can show. ``mailer run`` captures one when it first
queues a campaign and keeps it in the store beside the rows; every worker,
on any machine, renders from it. So an hourly feed rewrite, an edited
campaign file or a changed layout does not change mail that is already
queued, and what ``mailer render`` showed before queueing is what is sent.

Each file is kept once per campaign, whatever the number of rows; the rows
themselves keep only what differs per customer (product ids, layout variant,
offer, segment, the instant the message is for).

>>> snap = Snapshot(campaign_text='id = "c"', campaign_path="c.toml", layouts={"a.mjml": b"<mjml/>"})
>>> Snapshot.from_text(snap.to_text()) == snap
True
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailer.errors import ConfigError
from mailer.inputs.products import Product, product_from_json, product_to_json

__all__ = ["Snapshot", "capture_files"]

FORMAT = 2
"""The stored format; a row queued by an older format is refused with a clear message."""

MAX_FILE = 5 << 20
"""The largest file of a layouts folder kept (images belong on a CDN, not in layouts)."""

_PREFIX = "snapshot:"


@dataclass(frozen=True)
class Snapshot:
    """A campaign's content as it was when it was queued.

    ``layouts`` maps paths relative to the layouts directory to their bytes
    (every file a layout could read), ``locales`` paths relative to the
    locales directory to compiled catalogs; ``layouts_root`` and
    ``locales_root`` are where they were read from (errors name those);
    ``products`` are the products rows may name (as :func:`product_to_json`
    writes them), ``slots`` the product ids every customer gets when the
    campaign does not choose per customer. ``overrides`` replaces campaign
    keys set on the command line (``id``, ``layout``); ``strategy`` is the
    selection strategy the campaign was prepared with.
    """

    campaign_text: str
    campaign_path: str
    layouts: Mapping[str, bytes] = field(default_factory=dict)
    locales: Mapping[str, bytes] = field(default_factory=dict)
    layouts_root: str = "layouts"
    locales_root: str = "locales"
    rates: str | None = None
    products: tuple[Mapping[str, Any], ...] = ()
    slots: Mapping[str, list[str]] = field(default_factory=dict)
    overrides: Mapping[str, str] = field(default_factory=dict)
    strategy: str | None = None
    return_path: str | None = None
    key_file: str | None = None
    """Where the link-signing key is kept (``$MAILER_SECRET`` wins over it)."""

    @property
    def digest(self) -> str:
        """A content hash: equal snapshots have equal digests."""
        return hashlib.sha256(self._json().encode()).hexdigest()

    def with_products(self, products: Iterable[Product], slots: Mapping[str, list[str]]) -> Snapshot:
        """This snapshot keeping ``products`` and the campaign-wide ``slots``."""
        from dataclasses import replace

        return replace(self, products=tuple(product_to_json(p) for p in products), slots=dict(slots))

    def catalogue(self) -> dict[str, Product]:
        """The kept products by id."""
        out = {}
        for data in self.products:
            product = product_from_json(data)
            out[product.id] = product
        return out

    def _json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "campaign_text": self.campaign_text,
                "campaign_path": self.campaign_path,
                "layouts": {k: base64.b64encode(v).decode() for k, v in sorted(self.layouts.items())},
                "locales": {k: base64.b64encode(v).decode() for k, v in sorted(self.locales.items())},
                "layouts_root": self.layouts_root,
                "locales_root": self.locales_root,
                "rates": self.rates,
                "products": list(self.products),
                "slots": dict(self.slots),
                "overrides": dict(self.overrides),
                "strategy": self.strategy,
                "return_path": self.return_path,
                "key_file": self.key_file,
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    def to_text(self) -> str:
        """Compressed text for the store (a catalogue of 10,000 products is about 1 MB)."""
        return _PREFIX + base64.b64encode(zlib.compress(self._json().encode(), 6)).decode()

    @classmethod
    def from_text(cls, text: str) -> Snapshot:
        """The snapshot :meth:`to_text` wrote."""
        if not text.startswith(_PREFIX):
            raise ConfigError(
                "this campaign was queued by an older version of mailer, which kept no snapshot of its content: "
                "`mailer campaign cancel ID` stops its unsent messages; queue it again under a new id"
            )
        data = json.loads(zlib.decompress(base64.b64decode(text[len(_PREFIX) :])))
        if data.pop("format", None) != FORMAT:
            raise ConfigError("the campaign's stored snapshot has an unknown format; queue it again")
        data["layouts"] = {k: base64.b64decode(v) for k, v in data["layouts"].items()}
        data["locales"] = {k: base64.b64decode(v) for k, v in data["locales"].items()}
        data["products"] = tuple(data["products"])
        return cls(**data)

    def materialise(self, directory: str | Path) -> tuple[Path, Path]:
        """Write the layout and catalog files under ``directory``; returns the
        layouts and locales directories to compile from."""
        root = Path(directory)
        layouts, locales = root / "layouts", root / "locales"
        layouts.mkdir(parents=True, exist_ok=True)
        locales.mkdir(parents=True, exist_ok=True)
        for relative, data in self.layouts.items():
            _write(layouts, relative, data)
        for relative, data in self.locales.items():
            _write(locales, relative, data)
        return layouts, locales


def _write(base: Path, relative: str, data: bytes) -> None:
    target = (base / relative).resolve()
    if base.resolve() not in target.parents:
        raise ConfigError(f"snapshot file {relative!r} lies outside its directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def capture_files(layouts_dir: str | Path, locales_dir: str | Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Every file of a project's layouts folder (partials, slot declarations,
    anything a layout includes; symbolic links followed) and its compiled
    catalogs, for a :class:`Snapshot`."""
    layouts_root, locales_root = Path(layouts_dir), Path(locales_dir)
    layouts: dict[str, bytes] = {}
    for path in _files(layouts_root):
        size = path.stat().st_size
        if size > MAX_FILE:
            raise ConfigError(f"{path}: {size >> 20} MB is too large for a layouts folder (at most {MAX_FILE >> 20} MB)")
        layouts[path.relative_to(layouts_root).as_posix()] = path.read_bytes()
    locales = {
        path.relative_to(locales_root).as_posix(): path.read_bytes()
        for path in _files(locales_root)
        if path.suffix == ".mo"
    }
    return layouts, locales


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found.extend(Path(folder) / name for name in sorted(names) if not name.startswith("."))
    return found
