"""Message bytes per recipient: `mailer.mime` against `email.message.EmailMessage`.

Builds N personalised ~30 KB messages (MJML-like HTML with inline styles,
German copy, euro prices, eight recommended products per recipient out of a
catalogue of forty) with ``MessageTemplate.build`` and the same messages with
``EmailMessage`` + ``as_bytes()`` under ``policy.SMTP``, in one run. Only the
building is timed, not the rendering of the inputs. The fast path is also
timed with its encoded-line memo emptied before every message (cold), the
worst case of a layout where no line repeats between recipients.

    python bench/mime.py [--n 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer import mime  # noqa: E402
from mailer.mime import MessageTemplate, message_id  # noqa: E402

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
STYLE_TD = (
    "font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;"
    "color:#333333;padding:10px 25px;word-break:break-word"
)


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    email: str
    name: str
    subject: str
    html: str
    text: str


def product_html(sku: str, name: str, price: str) -> str:
    return f"""        <tr>
          <td align="left" style="{STYLE_TD}">
            <a href="https://shop.example/p/{sku}?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=winter" style="color:#1a1a1a;text-decoration:none" target="_blank">
              <img alt="{name}" src="https://cdn.shop.example/img/{sku}-600x600.jpg" width="260" height="260" style="border:0;display:block;outline:none;text-decoration:none;height:auto;width:100%;font-size:13px" />
            </a>
          </td>
        </tr>
        <tr>
          <td align="left" style="{STYLE_TD}">
            <div style="font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;line-height:22px;text-align:left;color:#1a1a1a">{name}</div>
            <div style="font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;text-align:left;color:#c0392b">Jetzt nur {price} – solange der Vorrat reicht</div>
            <a href="https://shop.example/cart/add/{sku}?qty=1&amp;utm_source=newsletter" style="display:inline-block;background:#1a1a1a;color:#ffffff;font-size:14px;padding:10px 18px;border-radius:3px;text-decoration:none">In den Warenkorb »</a>
          </td>
        </tr>
"""


HEAD = """<!doctype html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">
  <head>
    <title>Winterschlussverkauf – bis zu 50 % Rabatt</title>
    <meta http-equiv="X-UA-Compatible" content="IE=edge">
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style type="text/css">
      #outlook a { padding:0; }
      body { margin:0;padding:0;-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%; }
      table, td { border-collapse:collapse;mso-table-lspace:0pt;mso-table-rspace:0pt; }
      img { border:0;height:auto;line-height:100%; outline:none;text-decoration:none;-ms-interpolation-mode:bicubic; }
      p { display:block;margin:13px 0; }
      @media only screen and (min-width:480px) { .mj-column-per-50 { width:50% !important; max-width: 50%; } }
    </style>
  </head>
  <body style="word-spacing:normal;background-color:#f4f4f4;">
    <div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;max-width:0px;opacity:0;overflow:hidden;">Ihre persönlichen Empfehlungen für den Winter ❄️</div>
    <div style="background-color:#f4f4f4;">
      <table align="center" border="0" cellpadding="0" cellspacing="0" role="presentation" style="width:100%;">
"""
GREETING = """        <tr>
          <td align="left" style="{style}">
            <div style="font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;font-size:20px;line-height:28px;text-align:left;color:#1a1a1a">Hallo {first},</div>
            <div style="font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;text-align:left;color:#333333">wir haben für Sie ausgewählt, was zu Ihren letzten Käufen passt. Die Preise gelten bis Sonntag, 23:59 Uhr.</div>
          </td>
        </tr>
"""
FOOTER = """        <tr>
          <td align="center" style="font-family:'Helvetica Neue',Helvetica,Arial,sans-serif;font-size:11px;line-height:16px;color:#888888;padding:20px 25px">
            Sie erhalten diese E-Mail, weil Sie den Newsletter von Shop GmbH abonniert haben. Shop GmbH · Königstraße 12 · 70173 Stuttgart · Geschäftsführer: Max Mustermann · Amtsgericht Stuttgart HRB 123456 · USt-IdNr. DE123456789
            <br /><a href="https://shop.example/u/{token}" style="color:#888888">Abmelden</a> · <a href="https://shop.example/datenschutz" style="color:#888888">Datenschutz</a> · <a href="https://shop.example/impressum" style="color:#888888">Impressum</a>
          </td>
        </tr>
      </table>
    </div>
  </body>
</html>
"""


def recipients(n: int) -> Iterator[Recipient]:
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        picks = [PRODUCTS[(i * 7 + k * 5) % len(PRODUCTS)] for k in range(8)]
        token = f"{i:08x}{(i * 2654435761) % 2**32:08x}"
        html = HEAD + GREETING.format(style=STYLE_TD, first=first)
        html += "".join(product_html(*p) for p in picks) * 2 + FOOTER.format(token=token)
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
            mime._LINES.clear()  # the memo of encoded body lines
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
        ("mailer.mime (warm)", *timed(fast, n)),
        ("mailer.mime (cold)", *timed(fast, n, cold=True)),
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
