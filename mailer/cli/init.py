"""``mailer init [DIR]``: make DIR a mailer project, ready to edit.

Writes ``mailer.toml`` (every setting, commented, with its default), copies of
the shipped ``layouts/`` and ``locales/`` (yours to edit), an example campaign
in ``campaigns/`` with its currency rates, and a ``.gitignore`` that keeps the
state folder (queue, outbox, signing key) out of version control. It never
overwrites a file: an existing ``mailer.toml`` stops it (exit 2), other
existing files are kept and listed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from pathlib import Path

from mailer.project import CONFIG_NAME, SETTINGS, SHIPPED_LAYOUTS, SHIPPED_LOCALES

EXAMPLE_CAMPAIGN = "newsletter"

CONFIG_HEADER = """\
# mailer project settings. This folder is a mailer project: commands run here
# or in any folder below it use these settings (or pass --project DIR, or set
# $MAILER_PROJECT). Every key is optional; each line below shows its default.
# Paths are relative to this file. An environment variable overrides a key and
# a command-line option overrides both; relative paths given in either are
# relative to the current folder.
"""

CAMPAIGN = """\
# An example campaign: the product newsletter. Change the brand, links and
# copy to your shop's, then preview it:
#   mailer render --campaign campaigns/newsletter.toml --feed FEED --customers CUSTOMERS --out out
id = "example-newsletter"
layout = "newsletter"                     # layouts/newsletter.mjml
from = "Example Shop <news@example-shop.test>"
reply_to = "Customer Care <care@example-shop.test>"
rates = "rates.csv"                       # relative to this file

[delivery]
# How `mailer run` sends it (command-line options override): a promotion,
# deferred when a frequency cap stops it, dropped if not sent within a day.
class = "promotional"
on_cap = "defer"
expiry_hours = 24
quiet_hours = "21:00-08:00"

[subject]
en = "New in for you{% if recipient.first_name %}, {{ recipient.first_name }}{% endif %}"
da = "Nyt til dig{% if recipient.first_name %}, {{ recipient.first_name }}{% endif %}"
sv = "Nytt för dig{% if recipient.first_name %}, {{ recipient.first_name }}{% endif %}"
de = "Neu für dich{% if recipient.first_name %}, {{ recipient.first_name }}{% endif %}"
fr = "Les nouveautés pour vous{% if recipient.first_name %}, {{ recipient.first_name }}{% endif %}"

[preheader]
en = "Warm layers, soft knits and six picks chosen for you."
da = "Varme lag, bløde strik og seks udvalgte favoritter til dig."
sv = "Varma lager, mjuka stickat och sex favoriter utvalda för dig."
de = "Warme Lagen, weicher Strick und sechs Favoriten für dich."
fr = "Des couches chaudes, des mailles douces et six coups de cœur pour vous."

[links]
# https only; {token} identifies the recipient, {campaign} this campaign.
unsubscribe = "https://www.example-shop.test/email/unsubscribe/{token}"
unsubscribe_mailto = "unsubscribe@example-shop.test"
preferences = "https://www.example-shop.test/email/preferences/{token}"
view_online = "https://www.example-shop.test/email/view/{campaign}/{token}"

[brand]
shop = "Example Shop"
logo = "https://cdn.example-shop.test/brand/logo.png"
home = "https://www.example-shop.test/"
address = "1 Market Street, London EC1A 1AA, United Kingdom"

[content]
hero_image = "https://cdn.example-shop.test/campaigns/autumn/hero.jpg"
hero_link = "https://www.example-shop.test/autumn"
new_in_link = "https://www.example-shop.test/new-in"
shop_link = "https://www.example-shop.test/"

[content.hero_heading]
en = "Autumn, layered"
da = "Efterår i lag"
sv = "Höst i lager"
de = "Herbst in Lagen"
fr = "L'automne en couches"

[content.hero_text]
en = "Soft knits, warm coats and the pieces our stylists reach for first."
da = "Bløde strik, varme frakker og de styles, vores stylister griber først."
sv = "Mjuka stickat, varma kappor och plaggen våra stylister väljer först."
de = "Weicher Strick, warme Mäntel und die Teile, zu denen unsere Stylisten zuerst greifen."
fr = "Mailles douces, manteaux chauds et les pièces que nos stylistes choisissent en premier."

# [slots] lists the products of each slot group; without it the first
# in-stock products of the feed fill them:
# [slots]
# picks = ["SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5", "SKU-6"]
"""

RATES = """\
base,currency,rate,as_of
EUR,EUR,1,2025-06-02
EUR,USD,1.1372,2025-06-02
EUR,GBP,0.8421,2025-06-02
EUR,CHF,0.9367,2025-06-02
EUR,DKK,7.4589,2025-06-02
EUR,SEK,10.9130,2025-06-02
EUR,NOK,11.5380,2025-06-02
EUR,PLN,4.2718,2025-06-02
EUR,CZK,24.882,2025-06-02
EUR,JPY,163.45,2025-06-02
EUR,CAD,1.5612,2025-06-02
EUR,AUD,1.7620,2025-06-02
"""

GITIGNORE_ENTRY = "/.mailer/"
GITIGNORE = f"""\
# mailer's state: the queue database, the outbox and the link-signing key
# (keep the key secret: it signs every unsubscribe link).
{GITIGNORE_ENTRY}
"""


def config_text() -> str:
    """The scaffolded ``mailer.toml``: every setting commented out at its default.

    >>> print(config_text().split("\\n\\n")[1])
    # Where the queue database, the outbox and the link-signing key are kept by
    # default.
    # Overridden by --state-dir and $MAILER_STATE_DIR.
    # state_dir = ".mailer"
    """
    blocks = [CONFIG_HEADER]
    for setting in SETTINGS:
        lines = textwrap.wrap(setting.meaning[0].upper() + setting.meaning[1:] + ".", width=78,
                              initial_indent="# ", subsequent_indent="# ")  # fmt: skip
        overrides = [name for name in (setting.option, setting.env and f"${setting.env}") if name]
        if overrides:
            lines.append(f"# Overridden by {' and '.join(overrides)}.")
        blocks.append("\n".join([*lines, f"# {setting.key} = {setting.default}"]) + "\n")
    return "\n".join(blocks)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "init",
        help="make a folder a mailer project (settings, layouts, catalogs, an example campaign)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", nargs="?", type=Path, default=Path("."),
                        help="the project folder, made if missing (default: .)")  # fmt: skip
    parser.set_defaults(func=run)


def _show(path: Path) -> str:
    """``path`` relative to the current folder when it is below it."""
    try:
        return os.fspath(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return os.fspath(path)


def _write(path: Path, text: str, made: list[Path], kept: list[Path]) -> None:
    if path.exists():
        kept.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    made.append(path)


def _copy_tree(source: Path, target: Path, made: list[Path], kept: list[Path]) -> None:
    """Copy the files under ``source`` that ``target`` lacks."""
    for path in sorted(source.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.name == "__init__.py":
            continue
        destination = target / path.relative_to(source)
        if destination.exists():
            kept.append(destination)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        made.append(destination)


def _ignore_state(path: Path, made: list[Path], changed: list[Path]) -> None:
    """A ``.gitignore`` keeping the state folder out, or that entry added to one."""
    if not path.exists():
        _write(path, GITIGNORE, made, [])
        return
    text = path.read_text(encoding="utf-8")
    if not {".mailer", ".mailer/", "/.mailer", GITIGNORE_ENTRY} & {line.strip() for line in text.splitlines()}:
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + GITIGNORE, encoding="utf-8")
        changed.append(path)


def run(args: argparse.Namespace) -> int:
    root: Path = args.directory
    config = root / CONFIG_NAME
    if root.exists() and not root.is_dir():
        print(f"mailer init: {_show(root)} is a file, not a folder", file=sys.stderr)
        return 2
    if config.exists():
        print(f"mailer init: {_show(config)} already exists; {_show(root)} is already a mailer project "
              "(nothing was changed)", file=sys.stderr)  # fmt: skip
        return 2
    made: list[Path] = []
    kept: list[Path] = []
    changed: list[Path] = []
    root.mkdir(parents=True, exist_ok=True)
    _write(config, config_text(), made, kept)
    _copy_tree(SHIPPED_LAYOUTS, root / "layouts", made, kept)
    _copy_tree(SHIPPED_LOCALES, root / "locales", made, kept)
    _write(root / "campaigns" / f"{EXAMPLE_CAMPAIGN}.toml", CAMPAIGN, made, kept)
    _write(root / "campaigns" / "rates.csv", RATES, made, kept)
    _ignore_state(root / ".gitignore", made, changed)

    print(f"Made {_show(root)} a mailer project:")
    print(f"  {CONFIG_NAME:<24} settings, each shown with its default")
    print(f"  {'layouts/':<24} your copy of the shipped layouts (newsletter, welcome, winback)")
    print(f"  {'locales/':<24} your copy of the translation catalogs")
    print(f"  {'campaigns/':<24} an example campaign ({EXAMPLE_CAMPAIGN}.toml) and its currency rates")
    print(f"  {'.gitignore':<24} keeps the state folder .mailer/ (queue, outbox, signing key) out of git")
    for path in changed:
        print(f"added {GITIGNORE_ENTRY} to {_show(path)}")
    if kept:
        print(f"kept {len(kept)} file(s) that were already there, e.g. {_show(kept[0])}")
    where = _show(root)
    print("\nNext steps:")
    if where != ".":
        print(f"  cd {where}")
    print(f"  1. edit campaigns/{EXAMPLE_CAMPAIGN}.toml: your sender, brand, links and copy")
    print(f"  2. preview it: mailer render --campaign campaigns/{EXAMPLE_CAMPAIGN}.toml "
          "--feed YOUR-FEED --customers YOUR-CUSTOMERS.csv --out out")  # fmt: skip
    print(f"  3. send it:    mailer run campaigns/{EXAMPLE_CAMPAIGN}.toml "
          "--feed YOUR-FEED --customers YOUR-CUSTOMERS.csv")  # fmt: skip
    print(f"  Settings (store, transport, caps, quiet hours, brand) are in {CONFIG_NAME}.")
    return 0
