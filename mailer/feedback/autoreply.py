"""RFC 3834 automatic replies: vacation notices and out-of-office messages.

An auto-reply says the recipient got the message; it never suppresses
anyone. :func:`auto_reply_reason` recognises one by the headers responders
set (``Auto-Submitted: auto-replied``, ``X-Autoreply``, ``X-Autorespond``,
``Precedence: auto_reply``, Apple's ``X-Apple-Action: VACATION``) or, for
responders that set none, by its subject. Bounces also carry
``Auto-Submitted`` (Exim writes ``auto-replied`` on its bounces), so a
reader asks this only of messages it has not recognised as a bounce.

>>> auto_reply_reason({"auto-submitted": "auto-replied (vacation)"}, "Re: your order")
'Auto-Submitted: auto-replied (vacation)'
>>> auto_reply_reason({}, "Out of Office: back on Monday")
"its subject 'Out of Office: back on Monday' is an automatic reply's"
>>> auto_reply_reason({"auto-submitted": "auto-generated"}, "Your invoice") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_RESPONDER_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autoresponse")
_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:"
    r"auto(?:matic|matische)?[\s_-]*(?:reply|replies|response|respons|antwort|answer)"
    r"|out\s+of\s+(?:the\s+)?office|ooo\b|away\s+(?:from|until|till)|on\s+vacation|vacation\s+(?:reply|notice|message)"
    r"|abwesenheit|r[ée]ponse\s+automatique|absence|respuesta\s+autom[áa]tica|risposta\s+automatica|fuera\s+de\s+la\s+oficina"
    r"|resposta\s+autom[áa]tica|automatisch\s+antwoord|afwezig|autosvar|automaattinen\s+vastaus"
    r")",
    re.I,
)


def auto_reply_reason(headers: Mapping[str, str], subject: str) -> str | None:
    """Why a message is an automatic reply, or ``None`` if it is not one.

    ``headers`` maps lower-cased header names to their (first) values.
    """
    submitted = headers.get("auto-submitted", "").strip()
    if submitted.lower().startswith("auto-replied"):
        return f"Auto-Submitted: {submitted}"
    for name in _RESPONDER_HEADERS:
        value = headers.get(name.lower(), "").strip()
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    if headers.get("precedence", "").strip().lower() == "auto_reply":
        return "Precedence: auto_reply"
    if headers.get("x-apple-action", "").strip().upper() == "VACATION":
        return "X-Apple-Action: VACATION"
    if _SUBJECT.search(subject):
        return f"its subject {subject.strip()!r} is an automatic reply's"
    return None
