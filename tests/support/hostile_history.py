"""History files with every kind of row a history reader must survive, drawn from a seed.

:func:`hostile_history` writes a CSV file body (bytes) mixing good rows in
every accepted time format with bad ones: times without an offset, on days
that do not exist or in other formats; empty, overlong and non-UTF-8
customer ids; unknown, padded and empty time zones; odd ``machine_open``
tokens; opens and clicks before their send (inside and beyond the clock-skew
allowance); rows with no time at all, too few or too many fields; blank lines,
CRLF and lone CR; quoted fields, with commas and line breaks inside, in
needed and in extra columns; a byte-order mark; a last line without its line
end.  Columns come in a drawn order, with extra ones, and the optional ones
are sometimes missing.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

__all__ = ["hostile_history"]

ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC", "America/Sao_Paulo")
BAD_TIMES = (
    "2024-05-01T09:00:00",
    "2024-05-01 09:00",
    "2024-02-30T09:00:00Z",
    "2023-02-29T09:00:00Z",
    "1900-02-29T09:00:00Z",
    "2024-13-01T09:00:00Z",
    "2024-05-01T24:00:00Z",
    "2024-05-01T09:60:00Z",
    "2024-05-01T09:00:60Z",
    "2024-05-01T09:00:00+24:00",
    "2024-05-01T09:00:00+05:60",
    "2024-05-01T09:00:00.Z",
    "2024-05-01T09:00:00.1234567890Z",
    "2024-05-01T09:00:00+01:00:00",
    "2024-05-01T09Z",
    "2024-05-01",
    "01/05/2024 09:00",
    "yesterday",
    " 2024-05-01T09:00:00Z",
    "2024-05-01T09:00:00Z ",
    "2024-05-01X09:00:00Z",
    "２０２４-05-01T09:00:00Z",
)
MACHINE = ("", "", "", "true", "false", "TRUE", "False", "t", "F", "1", "0", "yes", "No", "y", "N", "Yes")
BAD_MACHINE = (" true", "maybe", "truee", "2", "ye s", "nope", "\x11", "falsefalse")


def _stamp(rng: random.Random, utc: int) -> str:
    """``utc`` (epoch seconds) in one of the accepted ISO 8601 forms."""
    offset = rng.choice((0, 0, 60, -300, 330, 600, -180, 345, -30))
    seconds = utc + offset * 60
    days, rest = divmod(seconds, 86400)
    day = date(1970, 1, 1) + timedelta(days=days)
    clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}"
    if rest % 60 or rng.random() < 0.7:
        clock += f":{rest % 60:02d}"
        if rng.random() < 0.1:
            clock += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9)))
    sep = rng.choice("TTTTt ")
    if offset == 0 and rng.random() < 0.8:
        zone = rng.choice("ZZZz")
    else:
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset), 60)
        forms = [f"{sign}{hours:02d}:{minutes:02d}", f"{sign}{hours:02d}{minutes:02d}"]
        if minutes == 0:
            forms.append(f"{sign}{hours:02d}")
        zone = rng.choice(forms)
    return f"{day.isoformat()}{sep}{clock}{zone}"


def hostile_history(seed: int, rows: int = 300, *, quotes: bool = True, lone_cr: bool = True) -> bytes:
    """A history file of about ``rows`` rows; ``quotes``/``lone_cr`` allow those rarer hazards."""
    rng = random.Random(seed)
    columns = ["customer_id", "sent_at", "opened_at", "clicked_at"]
    if rng.random() < 0.8:
        columns.append("timezone")
    if rng.random() < 0.7:
        columns.append("machine_open")
    columns += rng.sample(["campaign", "note", "segment"], rng.randint(0, 2))
    rng.shuffle(columns)
    crlf = rng.random() < 0.3
    end = "\r\n" if crlf else "\n"
    pool = [f"c{rng.randint(0, 10**6):07d}" for _ in range(max(rows // 4, 1))]
    pool += ["x", "é-client-ünïcode", "customer-000000001@example.com", "C" * 256, "a b"]
    out = [("\ufeff" if rng.random() < 0.2 else "") + ",".join(columns) + end]
    base = 1_711_843_200 + rng.randint(0, 300) * 86400  # spring 2024 onwards, across DST changes

    for _ in range(rows):
        kind = rng.random()
        sent = base + rng.randint(0, 60 * 86400)
        value = {
            "customer_id": rng.choice(pool),
            "timezone": rng.choice(ZONES),
            "sent_at": _stamp(rng, sent),
            "opened_at": _stamp(rng, sent + int(rng.expovariate(1 / 7200))) if rng.random() < 0.4 else "",
            "clicked_at": "",
            "machine_open": rng.choice(MACHINE),
            "campaign": f"cmp{rng.randint(0, 50)}",
            "note": rng.choice(("", "spring sale", "x")),
            "segment": rng.choice(("a", "b", "")),
        }
        if value["opened_at"] and rng.random() < 0.3:
            value["clicked_at"] = _stamp(rng, sent + int(rng.expovariate(1 / 9000)))
        if kind < 0.55:
            pass
        elif kind < 0.60:
            value["sent_at"] = ""
            value["opened_at"] = value["opened_at"] or _stamp(rng, sent)
        elif kind < 0.65:
            value[rng.choice(("sent_at", "opened_at", "clicked_at"))] = rng.choice(BAD_TIMES)
        elif kind < 0.68:
            value["opened_at"] = _stamp(rng, sent - rng.choice((30, 59, 60, 61, 120, 86400)))
        elif kind < 0.70:
            value["clicked_at"] = _stamp(rng, sent - rng.choice((10, 60, 61, 3600)))
        elif kind < 0.72:
            value["sent_at"] = value["opened_at"] = value["clicked_at"] = ""
        elif kind < 0.75:
            value["customer_id"] = rng.choice(("", "C" * 257, "ü" * 129, "ü" * 128))
        elif kind < 0.79:
            value["timezone"] = rng.choice(("", "", "Mars/Base", " Europe/London ", "europe/london", "UTC ", "Etc/GMT+5"))
        elif kind < 0.82:
            value["machine_open"] = rng.choice(BAD_MACHINE)
        elif kind < 0.85:
            fields = [value[c] for c in columns]
            fields = fields[: rng.randint(1, len(fields) - 1)] if rng.random() < 0.5 else fields + ["extra"]
            out.append(",".join(fields) + end)
            continue
        elif kind < 0.87:
            out.append(rng.choice(("", "", "\r", " ", ",,,")) + end)
            continue
        elif kind < 0.92 and quotes:
            quoted = rng.choice([c for c in columns])
            inner = rng.choice(('spring, sale', 'two\nlines', 'say ""hi""', value[quoted], 'a\r\nb'))
            value[quoted] = f'"{inner}"'
        elif kind < 0.93 and lone_cr:
            value[rng.choice(columns)] += "\r"
        elif kind < 0.95:
            value["customer_id"] = "\udcff" + value["customer_id"]  # a byte that is not UTF-8
        out.append(",".join(value[c] for c in columns) + (end if rng.random() < 0.97 else "\n"))
    text = "".join(out)
    if rng.random() < 0.3:
        text = text.rstrip("\r\n")
    return text.encode("utf-8", "surrogateescape")
