"""What one failed recipient means for future mail: pure rules over the
status code and the diagnostic text a report gives.

A report gives an RFC 3463 enhanced status code (``5.1.1``), an SMTP reply
code (``550``), free text, or some of these. :func:`judge` turns them into
an :data:`Action` for the recipient and a :data:`Cause` to log. The rules
agree with :func:`mailer.transports.replies.classify`, which judges the
replies the worker sees itself; a bounce that arrives later as mail must not
be judged more harshly than the same reply seen live.

The first matching row wins (``text`` is the diagnostic):

=================================================  ==============  ============
status / text                                      action          cause
=================================================  ==============  ============
x.7.x, in the status or anywhere in the text       ``ignore``      policy
(policy, spam, authentication, relaying)
text names spam, block lists, SPF/DKIM/DMARC,      ``ignore``      policy
reverse DNS, rate limits... and no unknown user
the error came after MAIL FROM (not RCPT or DATA)  ``ignore``      sender
x.2.2, or text says the mailbox is full            ``count-soft``  mailbox-full
x.6.x, x.2.3, x.3.4 (content, size, encoding)      ``ignore``      content
x.1.7, x.1.8 (our sender address)                  ``ignore``      sender
4.x.x or a 4xx reply, or a delay warning           ``count-soft``  temporary
5.1.x, 5.2.1 (bad, moved or disabled mailbox)      ``suppress``    bad-mailbox
text says the user or mailbox does not exist, or   ``suppress``    bad-mailbox
the account is disabled
550/551/553 in reply to RCPT TO, no specific code  ``suppress``    bad-mailbox
5.3.x (the receiving system)                       ``count-soft``  system
5.4.x, or text says the host or domain is unknown  ``count-soft``  network
or unreachable
anything else (5.5.x, 5.0.0 without a reason...)   ``count-soft``  unknown
=================================================  ==============  ============

A report that says a recipient was delivered, relayed or expanded is not a
failure at all: the readers drop such recipients before asking.

Decisions worth stating:

* Policy and block-list rejections (x.7.x) say something about the sender,
  not the recipient: they never suppress and are not counted towards a
  recipient's soft bounces either, or one bad day with a block list would
  suppress a whole domain.
* A full mailbox is soft even with a 5.x.x code: its owner may empty it.
* Routing and system errors (5.3.x, 5.4.x: "unable to route", "no MX")
  are counted as soft. A dead domain keeps failing and the run of soft
  bounces suppresses it; a DNS outage does not cost a customer. (5.1.2,
  "bad destination system address", is explicit and suppresses, as the live
  classifier does.)
* Only an explicit statement that the address is bad suppresses, and a
  mailbox-full or policy statement in the same text wins over it: wrongly
  keeping an address costs one more bounce, wrongly dropping one loses a
  customer.

>>> judge("5.1.1", "smtp; 550 5.1.1 <ann@shop.test>... User unknown")
('suppress', 'bad-mailbox')
>>> judge("5.7.1", "550 5.7.1 Message rejected as spam")
('ignore', 'policy')
>>> judge(None, "Sorry, no mailbox here by that name.")
('suppress', 'bad-mailbox')
>>> judge("5.0.0", "552 Mailbox quota exceeded")
('count-soft', 'mailbox-full')
"""

from __future__ import annotations

import re
from typing import Literal

Action = Literal["suppress", "count-soft", "complaint", "ignore"]
"""What a report means for one recipient: ``suppress`` (never mail again),
``count-soft`` (one more soft bounce; a run of them may suppress),
``complaint`` (the recipient complained: stop mailing them) or ``ignore``."""

Cause = Literal[
    "bad-mailbox",
    "mailbox-full",
    "policy",
    "content",
    "sender",
    "temporary",
    "system",
    "network",
    "unknown",
    "complaint",
    "auto-reply",
]
"""Why, in one word, for logs and reports."""

_ENHANCED = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
_REPLY = re.compile(r"(?<![\w.#=:/-])([45][0-5]\d)(?=[ -]|$)", re.M)
_RCPT = re.compile(r"\bRCPT\b", re.I)
_AT_MAIL_FROM = re.compile(r"(?:after|in\s+reply\s+to)\s+(?:the\s+)?MAIL\s+FROM\b", re.I)
_RCPT_OR_DATA = re.compile(r"\bRCPT\b|\bDATA\b|end\s+of\s+data", re.I)

_UNKNOWN_USER = re.compile(
    r"user\s+unknown|unknown\s+(?:user|recipient|local[- ]?part|address|mailbox|account)"
    r"|recipient\s+unknown|addressee\s+unknown|no\s+such\s+(?:user|mailbox|recipient|address|account|person)"
    r"|(?:user|mailbox|recipient|address|account)(?:\s+name)?\s+(?:is\s+)?(?:not\s+found|unknown|does\s*n[o']t\s+exist|not\s+exist)"
    r"|(?:user|mailbox|recipient|address|account)\s+(?:\S+\s+){0,6}does\s*n[o']t\s+exist"
    r"|does\s+not\s+have\s+an\s+account|no\s+mailbox\s+here|mailbox\s+unavailable|invalid\s+(?:recipient|mailbox|address|user)"
    r"|not\s+a\s+valid\s+(?:mailbox|recipient|user|address)|unrouteable\s+address|bad\s+destination\s+mailbox"
    r"|recip(?:ient)?notfound|couldn'?t\s+be\s+found|not\s+listed\s+in|mailbox\s+(?:has\s+been\s+)?(?:deleted|removed)"
    r"|(?:account|mailbox)\s+(?:has\s+been\s+|is\s+)?(?:disabled|deactivated|closed|terminated)"
    r"|no\s+longer\s+(?:exists|valid|active|in\s+use)|address\s+rejected:\s+undeliverable"
    r"|this\s+user\s+doesn't\s+have\s+a|is\s+not\s+a\s+(?:known|registered)\s+(?:\w+\s+)?user",
    re.I,
)
_MAILBOX_FULL = re.compile(
    r"mail\s*box(?:\s+\S+){0,3}\s+(?:is\s+)?full|mailbox\s+full|mail\s*folder\s+is\s+full|inbox\s+is\s+full"
    r"|over\s*quota|quota\s+(?:exceeded|exceed|full|limit)|exceed\w*\s+(?:\S+\s+){0,4}(?:quota|storage|size\s+limit)"
    r"|(?:disk|storage)\s+(?:space|quota)|not\s+enough\s+(?:disk\s+)?space|insufficient\s+(?:disk\s+|storage\s+)?(?:space|storage)"
    r"|out\s+of\s+storage|storage\s+(?:limit|full)|too\s+much\s+mail|mailbox\s+size\s+limit",
    re.I,
)
_NO_ROUTE = re.compile(
    r"host\s+(?:or\s+domain\s+name\s+)?not\s+found|unknown\s+host|no\s+such\s+domain|domain\s+(?:does\s+not|doesn'?t)\s+exist"
    r"|no\s+mx\s+record|mail\s+exchanger|name\s+service\s+error|host\s+name\s+lookup\s+failure|domain\s+is\s+not\s+reachable"
    r"|unrouteable\s+(?:mail\s+)?domain|(?:connection|connect)\s+(?:to\s+\S+\s+)?(?:timed\s+out|refused)|no\s+route\s+to\s+host"
    r"|did\s+not\s+accept\s+our\s+requests\s+to\s+connect|socket\s+error|network\s+is\s+unreachable",
    re.I,
)
_POLICY = re.compile(
    r"spam|black\s*list|block\s*list|\bblocked\b|\bbanned\b|\bdenylist|\b(?:rbl|dnsbl|uribl)\b|spamhaus|spamcop|barracuda"
    r"|\blisted\s+(?:at|on|by)\b|reputation|\bdmarc\b|\bspf\b|\bdkim\b|authenticat|unauthenticated|not\s+authori[sz]ed"
    r"|relay(?:ing)?\s+(?:access\s+)?(?:denied|not\s+permitted|not\s+allowed|prohibited)|unable\s+to\s+relay|do\s+not\s+relay"
    r"|reverse\s+dns|\bptr\b|\brdns\b|\bpolicy\b|virus|malware|phish|too\s+many\s+(?:connections|messages|recipients|mails)"
    r"|rate\s+limit|throttl|greylist|graylist|not\s+accepted\s+from|smtp\s+server\s+of\s+your\s+isp|\bdyn(?:amic)?\s+ip"
    r"|receiving\s+mail\s+at\s+a\s+rate|at\s+a\s+rate\s+that\s+prevents|sending\s+rate|too\s+fast",
    re.I,
)


def find_status(text: str, *, classes: str = "245") -> str | None:
    """The first RFC 3463 enhanced status code of one of ``classes`` in
    ``text`` (IP addresses and version numbers are not taken for one).

    >>> find_status("host 192.0.2.4 said: 550 5.1.1 user unknown (#5.1.1)")
    '5.1.1'
    >>> find_status("250 2.0.0 Ok; then 451 4.3.0 queue file write error", classes="45")
    '4.3.0'
    >>> find_status("Exim 4.72 at 4.4.4.4") is None
    True
    """
    for match in _ENHANCED.finditer(text):
        if match.group(1) in classes:
            return ".".join(match.groups())
    return None


def find_reply_code(text: str) -> int | None:
    """The first SMTP reply code (4xx or 5xx) in ``text``.

    >>> find_reply_code("host mx.shop.test[192.0.2.1] said: 550-5.1.1 no such user")
    550
    >>> find_reply_code("port 25, id 5503") is None
    True
    """
    match = _REPLY.search(text)
    return int(match.group(1)) if match else None


def best_status(*candidates: str | None) -> str | None:
    """The most specific status among ``candidates``: the first one that is
    not a generic ``x.0.0``, else the first one given.

    >>> best_status("5.0.0", "5.1.1"), best_status(None, "4.0.0"), best_status()
    ('5.1.1', '4.0.0', None)
    """
    given = [status for status in candidates if status]
    specific = [status for status in given if not status.endswith(".0.0")]
    if specific and given and given[0][0] == specific[0][0]:
        return specific[0]
    return given[0] if given else None


def judge(status: str | None, text: str = "", *, temporary: bool = False) -> tuple[Action, Cause]:
    """The action and cause for one recipient (see the table above).

    ``status`` is the enhanced code if known, ``text`` the diagnostic (an
    SMTP reply, or a sentence); ``temporary`` says the report itself is a
    delay warning ("will keep trying").

    >>> judge("4.2.2", "452 4.2.2 Mailbox full")
    ('count-soft', 'mailbox-full')
    >>> judge("5.2.1", "550 5.2.1 mailbox disabled")
    ('suppress', 'bad-mailbox')
    >>> judge(None, "550 Requested action not taken (in reply to RCPT TO command)")
    ('suppress', 'bad-mailbox')
    >>> judge("5.4.4", "Host or domain name not found")
    ('count-soft', 'network')
    >>> judge("5.1.1", "550 5.1.1 user unknown", temporary=True)
    ('count-soft', 'temporary')
    """
    status = status or find_status(text, classes="45")
    klass, subject, detail = _parts(status)
    unknown_user = bool(_UNKNOWN_USER.search(text))
    if subject == "7" or any(match.group(2) == "7" for match in _ENHANCED.finditer(text)):
        return "ignore", "policy"
    if not unknown_user and _POLICY.search(text):
        return "ignore", "policy"
    if _AT_MAIL_FROM.search(text) and not _RCPT_OR_DATA.search(text):
        return "ignore", "sender"
    if (subject, detail) == ("2", "2") or _MAILBOX_FULL.search(text):
        return "count-soft", "mailbox-full"
    if subject == "6" or (subject, detail) in {("2", "3"), ("3", "4")}:
        return "ignore", "content"
    if (subject, detail) in {("1", "7"), ("1", "8")}:
        return "ignore", "sender"
    if klass is None:
        code = find_reply_code(text)
        klass = str(code)[0] if code else None
    if temporary or klass == "4":
        return "count-soft", "temporary"
    if subject == "1" or (subject, detail) == ("2", "1") or unknown_user:
        return "suppress", "bad-mailbox"
    if find_reply_code(text) in (550, 551, 553) and _RCPT.search(text) and subject in (None, "0"):
        return "suppress", "bad-mailbox"
    if subject == "3":
        return "count-soft", "system"
    if subject == "4" or _NO_ROUTE.search(text):
        return "count-soft", "network"
    return "count-soft", "unknown"


def _parts(status: str | None) -> tuple[str | None, str | None, str | None]:
    if not status:
        return None, None, None
    klass, _, rest = status.partition(".")
    subject, _, detail = rest.partition(".")
    return klass, subject, detail
