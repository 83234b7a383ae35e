"""Message bytes per recipient: `mailer.content.mime` against `email.message.EmailMessage`.

Builds N personalised ~30 KB messages (a newsletter compiled once by MJML,
German copy, euro prices, six recommended products per recipient out of a
catalogue of forty, a personal unsubscribe link) with
``MessageTemplate.build`` and the same messages with ``EmailMessage`` +
``as_bytes()`` under ``policy.SMTP``, in one run. Only the building is
timed, not the rendering of the inputs. The fast path is also timed with its
memo of encoded body pieces emptied before every message (cold): the worst
case, a body sharing nothing with the one before.

    python bench/mime.py [--n 20000]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import mjml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.content.mime import MessageTemplate, clear_body_cache, message_id  # noqa: E402

FIRST = ["Anna", "Jürgen", "Zoë", "Søren", "Łukasz", "Ines", "Mehmet", "Chloé", "Björn", "Ana", "Tomás", "Lea"]
LAST = ["Müller", "Weiß", "O'Brien", "Nøkleby", "Dąbrowski", "Schmidt", "Yılmaz", "Lefèvre", "Åberg", "Smith"]
PRODUCTS = [
    (f"p{i:03d}", name, f"{9 + i * 3},{(i * 37) % 100:02d} €")
    for i, name in enumerate(
        f"{adj} {noun}"
        for adj in ("Leichte", "Warme", "Robuste", "Elegante", "Klassische")
        for noun in ("Daunenjacke", "Strickmütze", "Lederstiefel", "Wollschal", "Fleecepullover", "Regenjacke", "Jeans", "Bluse")
    )
]
SLOTS = 6


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    email: str
    name: str
    subject: str
    html: str
    text: str


MJML = """<mjml>
  <mj-head>
    <mj-title>Winterschlussverkauf – bis zu 50 % Rabatt</mj-title>
    <mj-preview>Ihre persönlichen Empfehlungen für den Winter ❄️</mj-preview>
    <mj-attributes>
      <mj-all font-family="'Helvetica Neue', Helvetica, Arial, sans-serif" />
      <mj-text font-size="14px" line-height="20px" color="#333333" />
    </mj-attributes>
    <mj-style>.product-title a { color: #1a1a1a; text-decoration: none; }</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-image src="https://cdn.shop.example/img/hero-winter-1200.jpg" alt="Winterschlussverkauf" href="https://shop.example/sale?utm_source=newsletter" />
        <mj-text font-size="20px" line-height="28px" color="#1a1a1a">Hallo @@FIRST@@,</mj-text>
        <mj-text>wir haben für Sie ausgewählt, was zu Ihren letzten Käufen passt. Die Preise gelten bis Sonntag, 23:59 Uhr – solange der Vorrat reicht.</mj-text>
      </mj-column>
    </mj-section>
    @@ROWS@@
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-button href="https://shop.example/sale?utm_source=newsletter" background-color="#1a1a1a">Alle Angebote ansehen »</mj-button>
        <mj-divider border-color="#eeeeee" />
        <mj-text font-size="11px" line-height="16px" color="#888888" align="center">Sie erhalten diese E-Mail, weil Sie den Newsletter von Shop GmbH abonniert haben. Shop GmbH · Königstraße 12 · 70173 Stuttgart · Geschäftsführer: Max Mustermann · Amtsgericht Stuttgart HRB 123456 · USt-IdNr. DE123456789</mj-text>
        <mj-text font-size="11px" color="#888888" align="center"><a href="https://shop.example/u/@@TOKEN@@" style="color:#888888">Abmelden</a> · <a href="https://shop.example/datenschutz" style="color:#888888">Datenschutz</a> · <a href="https://shop.example/impressum" style="color:#888888">Impressum</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
PRODUCT = """      <mj-column>
        <mj-image src="https://cdn.shop.example/img/@@SKU{k}@@-600x600.jpg" alt="@@NAME{k}@@" href="https://shop.example/p/@@SKU{k}@@?utm_source=newsletter&amp;utm_campaign=winter" />
        <mj-text css-class="product-title" font-size="16px" font-weight="bold"><a href="https://shop.example/p/@@SKU{k}@@">@@NAME{k}@@</a></mj-text>
        <mj-text color="#c0392b">Jetzt nur @@PRICE{k}@@</mj-text>
        <mj-button href="https://shop.example/cart/add/@@SKU{k}@@?qty=1" background-color="#1a1a1a">In den Warenkorb</mj-button>
      </mj-column>
"""
ROWS = "".join(
    '    <mj-section background-color="#ffffff">\n'
    + "".join(PRODUCT.format(k=row * 3 + col) for col in range(3))
    + "    </mj-section>\n"
    for row in range(SLOTS // 3)
)
# Compiled once, as a campaign's layout is; recipients only fill the markers.
HTML = mjml.mjml2html(MJML.replace("@@ROWS@@", ROWS))
MARKER = re.compile(r"@@([A-Z]+)(\d*)@@")


def recipients(n: int) -> Iterator[Recipient]:
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        picks = [PRODUCTS[(i * 7 + k * 5) % len(PRODUCTS)] for k in range(SLOTS)]
        token = f"{i:08x}{(i * 2654435761) % 2**32:08x}"
        values = {"FIRST": first, "TOKEN": token}
        for k, (sku, name, price) in enumerate(picks):
            values |= {f"SKU{k}": sku, f"NAME{k}": name, f"PRICE{k}": price}
        html = MARKER.sub(lambda m: values[m[1] + m[2]], HTML)
        text = f"Hallo {first},\n\nwir haben für Sie ausgewählt, was zu Ihren letzten Käufen passt.\n\n"
        text += "".join(
            f"{name}\nJetzt nur {price} – solange der Vorrat reicht\nhttps://shop.example/p/{sku}?utm_source=newsletter\n\n"
            for sku, name, price in picks
        )
        text += f"Abmelden: https://shop.example/u/{token}\nShop GmbH · Königstraße 12 · 70173 Stuttgart\n"
        yield Recipient(
            id=f"c-{i}",
            email=f"customer{i}@example.com",
            name=f"{first} {last}",
            subject=f"{first}, Ihre Empfehlungen für den Winter ❄️",
            html=html,
            text=text,
        )


SENT = datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)
TEMPLATE = MessageTemplate(
    from_address="newsletter@shop.example",
    from_name="Shop GmbH",
    headers={"List-ID": "Shop Newsletter <newsletter.shop.example>"},
)


def fast(r: Recipient, i: int) -> bytes:
    return TEMPLATE.build(
        to_address=r.email,
        to_name=r.name,
        subject=r.subject,
        text=r.text,
        html=r.html,
        message_id=message_id("winter", r.id, "shop.example"),
        date=SENT + timedelta(seconds=i // 100),
        unsubscribe_url=f"https://shop.example/u/{r.id}",
        unsubscribe_mailto=f"unsubscribe+{r.id}@shop.example",
        recipient_id=r.id,
    )


def standard(r: Recipient, i: int) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address("Shop GmbH", addr_spec="newsletter@shop.example")
    msg["To"] = Address(r.name, addr_spec=r.email)
    msg["Subject"] = r.subject
    msg["Date"] = SENT + timedelta(seconds=i // 100)
    msg["Message-ID"] = message_id("winter", r.id, "shop.example")
    msg["List-ID"] = "Shop Newsletter <newsletter.shop.example>"
    msg["List-Unsubscribe"] = f"<https://shop.example/u/{r.id}>, <mailto:unsubscribe+{r.id}@shop.example>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(r.text, cte="quoted-printable")
    msg.add_alternative(r.html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def timed(build: object, n: int, cold: bool = False) -> tuple[float, int]:
    """Seconds spent in ``build`` over n recipients, and the total bytes built."""
    assert callable(build)
    spent = 0
    size = 0
    for i, r in enumerate(recipients(n)):
        if cold:
            clear_body_cache()
        start = time.perf_counter_ns()
        raw = build(r, i)
        spent += time.perf_counter_ns() - start
        size += len(raw)
    return spent / 1e9, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages per builder (default 20000)")
    n = parser.parse_args().n
    rows = [
        ("mailer.content.mime (warm)", *timed(fast, n)),
        ("mailer.content.mime (cold)", *timed(fast, n, cold=True)),
        ("EmailMessage+SMTP", *timed(standard, n)),
    ]
    print(f"{n} messages, {rows[0][2] / n / 1024:.1f} KiB each (fast path)")
    for label, seconds, size in rows:
        print(f"{label:20} {seconds / n * 1e6:9.1f} µs/message {n / seconds:10.0f} messages/s")
    baseline = rows[2][1]
    for label, seconds, _ in rows[:2]:
        print(f"{label} is {baseline / seconds:.1f}x faster than EmailMessage")


if __name__ == "__main__":
    main()
