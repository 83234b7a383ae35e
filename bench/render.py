"""End-to-end rendering: personalised 6-product newsletters, context → bytes.

Compares, in one run and on the same recipients and products:

* ``mailer``: :class:`mailer.content.compose.Composer` (MJML + CSS inlining once per
  layout, per-locale templates, cached product cards, direct MIME bytes);
* the naive pipeline a user would write: Jinja over the MJML source for each
  recipient → MJML compile → premailer → html2text → ``email.message``.

Then checks that memory stays flat: the same composer run over N and 10×N
recipients (each in a fresh process) must reach the same peak RSS.

    python bench/render.py [--n 10000] [--naive-n 300]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.campaign import load_campaign  # noqa: E402
from mailer.content.compose import Composer  # noqa: E402
from mailer.inputs.customers import Customer  # noqa: E402
from mailer.content.money import Money  # noqa: E402
from mailer.inputs.products import Product  # noqa: E402
from mailer.tokens import Signer  # noqa: E402

LOCALES = [
    ("en_GB", "GBP", "Europe/London", "Oliver Smith"),
    ("en_US", "USD", "America/New_York", "Emma Johnson"),
    ("da_DK", "DKK", "Europe/Copenhagen", "Søren Kierkegaard"),
    ("sv_SE", "SEK", "Europe/Stockholm", "Björk Lindqvist"),
    ("sv_FI", "EUR", "Europe/Helsinki", "Åsa Virtanen"),
    ("de_DE", "EUR", "Europe/Berlin", "Jürgen Müller"),
    ("fr_FR", "EUR", "Europe/Paris", "Zoë Lefèvre"),
    ("ja_JP", "JPY", "Asia/Tokyo", "田中 太郎"),
]
CATEGORIES = ["Women > Knitwear", "Men > Shoes", "Home > Kitchen", "Beauty > Skincare", "Kids > Outerwear"]


CATALOGUE_SIZE = 10_000


def catalogue(size: int = CATALOGUE_SIZE, seed: int = 7) -> list[Product]:
    rng = random.Random(seed)
    products = []
    for index in range(size):
        price = Decimal(rng.randrange(900, 25_000)) / 100
        products.append(
            Product(
                id=f"SKU-{index:05d}",
                title=f"{rng.choice(['Merino', 'Linen', 'Suede', 'Organic cotton', 'Cashmere'])} "
                f"{rng.choice(['jumper', 'loafer', 'teapot', 'serum', 'parka'])} {index}",
                price=Money(price, "GBP"),
                link=f"https://www.example-shop.test/p/SKU-{index:05d}",
                image_link=f"https://cdn.example-shop.test/img/SKU-{index:05d}.jpg",
                brand=rng.choice(["Acme", "Nordic Wool", "Maison Bleue", "Kinfolk & Co"]),
                category=tuple(rng.choice(CATEGORIES).split(" > ")),
                sale_price=Money((price * Decimal("0.7")).quantize(Decimal("0.01")), "GBP") if index % 5 == 0 else None,
            )
        )
    return products


def recipients(n: int, products: list[Product] | None = None, seed: int = 11) -> Iterator[tuple[Customer, list[Product]]]:
    """Streams n recipients, each with 6 picks drawn from the catalogue.

    Picks follow a Zipf-like popularity (weight 1/rank), as recommendations
    do: bestsellers recur, the long tail shows up now and then.
    """
    products = products if products is not None else catalogue()
    rng = random.Random(seed)
    weights = list(itertools.accumulate(1 / rank for rank in range(1, len(products) + 1)))
    for index in range(n):
        locale, currency, zone, name = LOCALES[index % len(LOCALES)]
        customer = Customer(
            id=f"cust-{index}",
            email=f"customer{index}@example.com",
            name=name,
            locale=locale,
            currency=currency,
            timezone=zone,
        )
        picks: dict[str, Product] = {}
        while len(picks) < 6:
            product = rng.choices(products, cum_weights=weights)[0]
            picks[product.id] = product
        yield customer, list(picks.values())


def make_composer() -> Composer:
    return Composer(load_campaign(ROOT / "fixtures" / "campaign.toml"), signer=Signer(b"bench-key-" * 4))


def run_mailer(n: int, passes: int = 1) -> list[tuple[float, float, int]]:
    """Wall seconds, CPU seconds and total bytes for n messages, per pass.

    The first pass starts with empty caches (every product card is rendered
    the first time it comes up in a locale); later passes are further
    recipients of the same campaign, as the rest of a large send would be.
    """
    products = catalogue()
    composer = make_composer()
    for customer, picks in recipients(50, products, seed=1):  # compile each locale's layout
        composer.compose(customer, {"picks": picks})
    results = []
    for number in range(passes):
        total = 0
        started, cpu = time.perf_counter(), time.process_time()
        for customer, picks in recipients(n, products, seed=11 + number):
            total += len(composer.compose(customer, {"picks": picks}).data)
        results.append((time.perf_counter() - started, time.process_time() - cpu, total))
    return results


def run_naive(n: int) -> tuple[float, float]:
    """What a user would write: everything per recipient."""
    import html2text
    import jinja2
    import premailer
    from babel.numbers import format_currency
    from mjml import mjml2html

    from mailer.content.catalogs import Catalogs
    from mailer.content.money import Rates

    composer = make_composer()  # only to reuse the same layout source and rates
    layout_source = _naive_layout_source(composer)
    campaign = composer.campaign
    rates = Rates.from_csv(campaign.rates_path)
    catalogs = Catalogs(ROOT / "locales")
    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined)
    env.policies["ext.i18n.trimmed"] = True
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]  # newstyle is fixed at compile time
    template = env.from_string(layout_source)
    send_date = campaign.send_date or datetime.now(timezone.utc)
    products = catalogue()
    started, cpu = time.perf_counter(), time.process_time()
    for customer, picks in recipients(n, products):
        translations = catalogs.translations(customer.locale)
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        chain = catalogs.fallback_chain(customer.locale)

        def money(value: Money) -> str:
            converted = rates.convert(value, customer.currency)
            return format_currency(converted.amount, converted.currency, locale=customer.locale)

        views = []
        for product in picks:
            price = product.current_price(send_date)
            views.append(
                {
                    "key": product.id,
                    "id": product.id,
                    "title": product.title,
                    "brand": product.brand,
                    "link": product.link,
                    "image": product.image_link,
                    "price": money(price),
                    "was_price": money(product.price) if price is not product.price else "",
                }
            )
        first = customer.name.split()[0]
        subject = env.from_string(campaign.text("subject", chain)).render(recipient={"first_name": first})
        token = composer.signer.sign(customer.id, campaign.id)
        mjml = template.render(
            subject=subject,
            preheader=campaign.text("preheader", chain),
            recipient={"first_name": first, "name": customer.name, "language": customer.locale[:2]},
            links={
                "unsubscribe": f"https://www.example-shop.test/email/unsubscribe/{token}",
                "preferences": f"https://www.example-shop.test/email/preferences/{token}",
                "view_online": f"https://www.example-shop.test/email/view/{token}",
            },
            brand=campaign.brand,
            content=campaign.content_for(chain),
            offer={"code": None, "expires": None},
            slots={"picks": views},
        )
        html = premailer.transform(mjml2html(mjml), disable_validation=True, cssutils_logging_level=50)
        converter = html2text.HTML2Text()
        converter.body_width = 0
        text = converter.handle(html)
        message = EmailMessage()
        message["From"] = campaign.sender
        message["To"] = f"{customer.name} <{customer.email}>"
        message["Subject"] = subject
        message["Date"] = format_datetime(send_date)
        message["Message-ID"] = f"<{campaign.id}.{customer.id}@example-shop.test>"
        message["List-Unsubscribe"] = f"<https://www.example-shop.test/email/unsubscribe/{token}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        message.as_bytes()
    return time.perf_counter() - started, time.process_time() - cpu


def _naive_layout_source(composer: Composer) -> str:
    """The newsletter's MJML with its partials expanded and its per-recipient
    Jinja left in place: the template a user would render per recipient."""
    from mailer.content.layouts import _strip_markers

    library = composer.layouts
    _, structure, *_ = library._expand(composer.campaign.layout)
    source = _strip_markers(structure)
    # The naive way has no fragment cache.
    return source.replace("{% cached product.key %}", "").replace("{% endcached %}", "")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(n: int) -> None:
    gc.collect()
    seconds, cpu, total = run_mailer(n)[0]
    print(json.dumps({"n": n, "seconds": seconds, "cpu": cpu, "bytes": total, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="recipients for mailer")
    parser.add_argument("--naive-n", type=int, default=300, help="recipients for the naive pipeline")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true", help="skip the N vs 10N memory check")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    print(f"{CATALOGUE_SIZE} products, {len(LOCALES)} locale/currency pairs, 6 picks each (Zipf popularity); "
          "one process, one thread; 'CPU' is this process's CPU time, 'wall' includes waiting for a busy machine")
    (seconds, cpu, total), (warm_seconds, warm_cpu, _) = run_mailer(args.n, passes=2)
    ours = args.n / cpu
    print(f"mailer : {args.n:>7} emails, CPU {cpu:6.2f} s = {ours:6.0f} emails/s ({cpu / args.n * 1e6:5.0f} µs each); "
          f"wall {seconds:6.2f} s = {args.n / seconds:6.0f} emails/s; {total / args.n / 1024:.1f} KB average "
          "(first recipients: card caches empty)")
    print(f"mailer : {args.n:>7} more, CPU {warm_cpu:6.2f} s = {args.n / warm_cpu:6.0f} emails/s "
          f"({warm_cpu / args.n * 1e6:5.0f} µs each); wall {warm_seconds:6.2f} s (the rest of the send: caches warm)")
    naive_seconds, naive_cpu = run_naive(args.naive_n)
    naive = args.naive_n / naive_cpu
    print(f"naive  : {args.naive_n:>7} emails, CPU {naive_cpu:6.2f} s = {naive:6.0f} emails/s "
          f"({naive_cpu / args.naive_n * 1e3:5.1f} ms each); wall {naive_seconds:6.2f} s")
    print(f"ratio  : mailer is {ours / naive:.0f}x the naive pipeline (CPU time), "
          f"{(args.n / seconds) / (args.naive_n / naive_seconds):.0f}x (wall)")

    if not args.skip_memory:
        results = []
        for n in (args.n, args.n * 10):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n)], check=True, capture_output=True, text=True
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
        for row in results:
            print(f"memory : {row['n']:>7} emails -> peak RSS {row['peak_rss_mb']:6.1f} MB "
                  f"({row['n'] / row['cpu']:.0f} emails/s CPU, {row['n'] / row['seconds']:.0f} wall)")
        growth = results[1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
        print(f"memory : growth from {results[0]['n']} to {results[1]['n']} recipients: {growth:+.1f} MB")


if __name__ == "__main__":
    main()
