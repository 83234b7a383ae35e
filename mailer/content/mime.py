"""Message bytes: a campaign's constant headers, encoded once, plus each recipient's values.

A :class:`MessageTemplate` holds what is the same for every message of a
campaign (From, Reply-To, constant headers such as List-ID) already encoded;
its :meth:`~MessageTemplate.build` turns one recipient's rendered subject,
text and HTML into the bytes handed to a transport. The result is what
``email.message.EmailMessage`` with ``policy=SMTP`` would produce in
structure, at a small fraction of the cost:

* ``multipart/alternative`` with a ``text/plain`` then a ``text/html`` part,
  both UTF-8 and quoted-printable (RFC 2045: lines of at most 76 characters);
* canonical form throughout: every line ends in CRLF, as SMTP expects, so
  line breaks in bodies (``\\n``, ``\\r\\n`` or a lone ``\\r``) become CRLF;
* RFC 5322 headers folded to at most 78 characters wherever a header has
  room to fold (an address or URL is never split); non-ASCII subjects and
  display names as RFC 2047 ``utf-8`` encoded-words, internationalised
  domains as IDNA A-labels (punycode);
* RFC 8058 one-click unsubscribe (``List-Unsubscribe`` with an https URL,
  ``List-Unsubscribe-Post``);
* the same input always gives the same bytes (the MIME boundary comes from
  the Message-ID), so a retried delivery sends exactly what the first did.

Every value that reaches a header is checked: a CR, LF, NUL or any other C0
or C1 control character, or U+2028/U+2029, raises
:class:`~mailer.errors.HeaderInjectionError`; addresses must be one
``local@domain`` each, so no second recipient can be smuggled in.

Quoted-printable line state resets at every line break, hard or soft, so
bodies are encoded a piece at a time and the encoded pieces are memoised:
the text a campaign's layout repeats in every message is encoded once, and
per recipient only the pieces holding personalised values cost anything
(``binascii.b2a_qp`` alone takes some 200 µs for 30 KB of HTML, several
times the budget for a whole message). Lines starting ``From `` are
written ``=46rom`` so mbox-style storage cannot mangle them, and a period
starting a line is written ``=2E``: no line of a built message starts with
one, so SMTP's dot-stuffing (RFC 5321 section 4.5.2) has nothing to change
and the transport can send the bytes as they are.

Header text that is plain printable ASCII is written as is (display names
quoted where RFC 5322 needs it); anything else, including ASCII that looks
like an encoded-word (``=?``), becomes ``utf-8`` B encoded-words, split
between characters so no line passes 78. That takes about 2 µs, where
``email.header.Header`` takes 30 µs, and names differ per recipient. A
display name is one encoded-word when it fits (45 bytes of UTF-8): CPython's
address parser (gh-128110) reads a space between adjacent encoded-words that
RFC 2047 section 6.2 says to drop. A blank display name is left out.
With ``smtputf8`` only local parts may be non-ASCII; subjects and names stay
encoded-words, valid under RFC 6532 too and safe if a hop downgrades.
"""

from __future__ import annotations

import hashlib
import re
from binascii import b2a_base64, b2a_qp
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from itertools import chain, islice, repeat
from types import MappingProxyType
from urllib.parse import quote

import idna

from mailer.errors import HeaderInjectionError, MessageError

__all__ = [
    "MessageTemplate",
    "addr_spec",
    "clear_body_cache",
    "encoded_body",
    "message_id",
    "quoted_printable",
    "quoted_printable_piece",
]

MAX_LINE = 78
"""RFC 5322 section 2.1.1: header lines SHOULD NOT exceed 78 characters."""
HARD_MAX_LINE = 998
"""RFC 5322 section 2.1.1: no line may exceed 998 characters."""

_GENERATED = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "return-path",
    }
)
"""Header names :meth:`MessageTemplate.build` writes itself or that carry
addresses; extra headers may not use them."""

# C0 and C1 controls plus the Unicode line and paragraph separators: anything
# a parser might take for the end of a header line. Lone surrogates are
# matched too, to report them rather than fail later in the codec.
_BAD_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
"""Printable ASCII words separated by single spaces: can be written as is."""
_PRINTABLE = re.compile(r"[ -~]*")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ATOM_PHRASE = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)*")
_QUOTED_SPECIALS = re.compile(r'["\\]')
_LOCAL_ASCII = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_UTEXT = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])"
_LOCAL_UTF8 = re.compile(rf"{_UTEXT}+(?:\.{_UTEXT}+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_ASCII = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_MESSAGE_ID = re.compile(rf"<{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})*>")
_HTTPS_URL = re.compile(
    r"https://[A-Za-z0-9\-._~!$&'()*+,;=:@\[\]%]+(?:[/?#][A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]%]*)?",
    re.IGNORECASE,
)
_MAILTO_SAFE = re.compile(r"[A-Za-z0-9\-._~!$'()*+,;:@]+")
_HEADER_NAME = re.compile(r"[!-9;-~]+")

_EW_PREFIX = "=?utf-8?b?"
_EW_SUFFIX = "?="
_EW_MAX = 75
"""RFC 2047 section 2: an encoded-word is at most 75 characters."""

_QP_MAX = 76
"""RFC 2045 section 6.7: encoded lines are at most 76 characters."""
_CUT = "</td>"
_LONG_PIECE = 1024
_CACHE_CHARS = 1 << 21
_UNSUBSCRIBE_POST = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
_PART_HEAD = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
_TEXT_HEAD = _PART_HEAD.format("plain").encode("ascii")
_HTML_HEAD = _PART_HEAD.format("html").encode("ascii")


def message_id(campaign_id: str, recipient_id: str, domain: str) -> str:
    """The Message-ID of one campaign's message to one recipient, ``<hex@domain>``.

    Deterministic across processes and machines, so a retried delivery
    carries the Message-ID (and therefore the bytes) of the first attempt.

    >>> message_id("spring-sale", "c-1042", "shop.example")
    '<884e51a6ad6d1d65aa71577b898f9ffd@shop.example>'
    >>> message_id("spring-sale", "c-1042", "bücher.example")
    '<884e51a6ad6d1d65aa71577b898f9ffd@xn--bcher-kva.example>'
    """
    _check_chars(domain, "Message-ID", None)
    key = b"%d:%s%s" % (len(campaign_id), campaign_id.encode(), recipient_id.encode())
    digest = hashlib.blake2b(key, digest_size=16, person=b"mailer.mime.mid").hexdigest()
    return f"<{digest}@{_domain(domain, 'Message-ID')}>"


def addr_spec(address: str, *, smtputf8: bool = False) -> str:
    """``address`` checked to be one ``local@domain``, its domain as IDNA A-labels.

    This is the form written into headers, and the one a transport should
    use for ``RCPT TO``. A non-ASCII local part needs SMTPUTF8 and is
    refused unless ``smtputf8`` is true; quoted local parts and address
    literals are refused.

    >>> addr_spec("anna.schmidt@müller.example")
    'anna.schmidt@xn--mller-kva.example'
    >>> addr_spec("bob@example.com, eve@example.net")
    Traceback (most recent call last):
    ...
    mailer.errors.MessageError: not a single address: 'bob@example.com, eve@example.net' (local part 'bob@example.com, eve')
    """
    _check_chars(address, "To", None)
    return _addr_spec(address, "To", smtputf8)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageTemplate:
    """What every message of a campaign shares, encoded once.

    ``headers`` are constant extra headers (``List-ID``, ``Feedback-ID``,
    ...), written as unstructured text. ``domain`` (default: the From
    domain) is the right-hand side of :meth:`message_id`. With ``smtputf8``
    recipients may have non-ASCII local parts, written as raw UTF-8
    (RFC 6532), and such messages must go out over SMTPUTF8; subjects and
    display names stay RFC 2047 encoded either way.

    >>> from datetime import datetime, timezone
    >>> shop = MessageTemplate(from_address="news@shop.example", from_name="Shop, Inc.")
    >>> raw = shop.build(
    ...     to_address="anna@example.com", to_name="Anna Müller", subject="Für Sie",
    ...     text="Hallo!\\n", html="<p>Hallo!</p>\\n",
    ...     message_id=shop.message_id("spring-sale", "c-1042"),
    ...     date=datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc),
    ...     unsubscribe_url="https://shop.example/u/c-1042",
    ...     unsubscribe_mailto="unsubscribe+c-1042@shop.example",
    ... )
    >>> print(raw.decode("ascii").replace("\\r\\n", "\\n"), end="")
    From: "Shop, Inc." <news@shop.example>
    To: =?utf-8?b?QW5uYSBNw7xsbGVy?= <anna@example.com>
    Subject: =?utf-8?b?RsO8ciBTaWU=?=
    Date: Sun, 01 Mar 2026 09:30:00 +0000
    Message-ID: <884e51a6ad6d1d65aa71577b898f9ffd@shop.example>
    List-Unsubscribe: <https://shop.example/u/c-1042>,
     <mailto:unsubscribe+c-1042@shop.example>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click
    MIME-Version: 1.0
    Content-Type: multipart/alternative;
     boundary="=_3a4a99ed3d3244dc75d1e7dff6056cd6"
    <BLANKLINE>
    --=_3a4a99ed3d3244dc75d1e7dff6056cd6
    Content-Type: text/plain; charset="utf-8"
    Content-Transfer-Encoding: quoted-printable
    <BLANKLINE>
    Hallo!
    <BLANKLINE>
    --=_3a4a99ed3d3244dc75d1e7dff6056cd6
    Content-Type: text/html; charset="utf-8"
    Content-Transfer-Encoding: quoted-printable
    <BLANKLINE>
    <p>Hallo!</p>
    <BLANKLINE>
    --=_3a4a99ed3d3244dc75d1e7dff6056cd6--
    """

    from_address: str
    from_name: str = ""
    reply_to: str | None = None
    reply_to_name: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    domain: str | None = None
    smtputf8: bool = False
    _head: bytes = field(init=False, repr=False, compare=False)
    _tail: bytes = field(init=False, repr=False, compare=False)
    _domain: str = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = dict(self.headers)
        object.__setattr__(self, "headers", MappingProxyType(headers))
        head = _mailbox_field("From", self.from_name, self.from_address, self.smtputf8, None)
        tail = ""
        if self.reply_to is not None:
            tail += _mailbox_field("Reply-To", self.reply_to_name, self.reply_to, self.smtputf8, None)
        tail += _extra_fields(headers, frozenset(), None)
        sending = self.domain if self.domain is not None else self.from_address.rpartition("@")[2]
        _check_chars(sending, "Message-ID", None)
        object.__setattr__(self, "_head", head.encode("utf-8"))
        object.__setattr__(self, "_tail", tail.encode("utf-8"))
        object.__setattr__(self, "_domain", _domain(sending, "Message-ID"))
        object.__setattr__(self, "_names", frozenset(name.lower() for name in headers))

    def message_id(self, campaign_id: str, recipient_id: str) -> str:
        """:func:`message_id` on this template's sending domain."""
        return message_id(campaign_id, recipient_id, self._domain)

    def build(
        self,
        *,
        to_address: str,
        to_name: str = "",
        subject: str,
        text: str,
        html: str = "",
        html_encoded: bytes | None = None,
        message_id: str,
        date: datetime,
        unsubscribe_url: str,
        unsubscribe_mailto: str | None = None,
        headers: Mapping[str, str] | None = None,
        recipient_id: str | None = None,
    ) -> bytes:
        """One recipient's message as bytes in canonical (CRLF) form.

        ``date`` must be timezone-aware; ``message_id`` is ``<left@right>``
        as :func:`message_id` makes it; ``unsubscribe_url`` must be https
        (RFC 8058); ``headers`` are extra per-recipient headers, validated
        like the template's. ``recipient_id`` only labels errors.
        ``html_encoded`` replaces ``html`` with a body already encoded by
        :func:`encoded_body`.

        Raises :class:`~mailer.errors.HeaderInjectionError` (naming the header
        and ``recipient_id``) when a control character reaches any header, and
        :class:`~mailer.errors.MessageError` for anything else that cannot be
        sent as given: not one address, a plain-http unsubscribe URL, a naive
        date, a lone surrogate in a body.
        """
        rid = recipient_id
        if date.tzinfo is None or date.utcoffset() is None:
            raise MessageError(f"Date must be timezone-aware, got {date!r}" + _for(rid))
        _check_chars(message_id, "Message-ID", rid)
        if _MESSAGE_ID.fullmatch(message_id) is None or len(message_id) > 900:
            raise MessageError(f"Message-ID must look like <left@right>, got {message_id!r}" + _for(rid))
        parts = [
            self._head,
            _mailbox_field("To", to_name, to_address, self.smtputf8, rid).encode("utf-8"),
            _subject_field(subject, rid).encode("ascii"),
            _date_field(date, date.utcoffset()),
            b"Message-ID: %s\r\n" % message_id.encode("ascii"),
            self._tail,
            _unsubscribe_field(unsubscribe_url, unsubscribe_mailto, rid).encode("ascii"),
            _UNSUBSCRIBE_POST,
        ]
        if headers:
            parts.append(_extra_fields(headers, self._names, rid).encode("ascii"))
        delimiter = b"--=_" + hashlib.blake2b(
            message_id.encode("ascii"), digest_size=16, person=b"mailer.mime.bnd"
        ).hexdigest().encode("ascii")
        parts += [
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="',
            delimiter[2:],
            b'"\r\n\r\n',
            delimiter,
            b"\r\n" + _TEXT_HEAD,
        ]
        try:
            # Encoded lines end in CRLF; the last one is the CRLF that RFC 2046
            # makes part of the delimiter that follows.
            parts += _qp_parts(text)
            parts += (delimiter, b"\r\n" + _HTML_HEAD)
            if html_encoded is not None:
                # Already quoted-printable, CRLF, ending in the CRLF that
                # belongs to the delimiter (see encoded_body).
                parts.append(html_encoded)
            else:
                parts += _qp_parts(html)
        except UnicodeEncodeError as exc:
            raise MessageError(f"body is not encodable as UTF-8: {exc.reason} at {exc.start}" + _for(rid)) from None
        parts += (delimiter, b"--\r\n")
        return b"".join(parts)


def quoted_printable(text: str) -> bytes:
    """``text`` as UTF-8 quoted-printable with CRLF line breaks (RFC 2045).

    Lines stay within 76 characters; ``From `` starting a line is written
    ``=46rom``. Encoded pieces are memoised (see the module docstring).

    >>> quoted_printable("Grüße\\r\\nFrom the shop = you \\n.")
    b'Gr=C3=BC=C3=9Fe\\r\\n=46rom the shop =3D you=20\\r\\n=2E'
    """
    return b"".join(_qp_parts(text))[:-2]


def _qp_parts(text: str) -> list[bytes]:
    """``text`` quoted-printable encoded, in pieces whose concatenation ends in CRLF.

    QP line state resets at every line break, hard or soft, so text can be
    cut anywhere, its pieces encoded apart and joined by soft breaks. HTML is
    cut before each ``</td>`` (MJML writes most of a layout on one line, and
    a cell is about the size of a personalised value's surroundings); the cut
    points depend only on the nearby text, so a personalised value costs the
    piece that holds it. Other text, and pieces too long to be worth memoising
    whole, are cut at their line breaks.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    pieces = text.split(_CUT)
    if len(pieces) == 1:
        lines = text.split("\n")
        parts = [_STARTS[lines[0]]]
        parts += map(_AFTER_BREAK.__getitem__, islice(lines, 1, None))
    elif max(map(len, pieces)) <= _LONG_PIECE:
        parts = [_STARTS[pieces[0]]]
        parts += map(_AFTER_CUT.__getitem__, islice(pieces, 1, None))
    else:
        parts = []
        for piece, cache in zip(pieces, chain((_STARTS,), repeat(_AFTER_CUT))):
            if len(piece) <= _LONG_PIECE:
                parts.append(cache[piece])
            else:
                lines = piece.split("\n")
                parts.append(cache[lines[0]])
                parts += map(_AFTER_BREAK.__getitem__, islice(lines, 1, None))
    parts.append(b"\r\n")
    return parts


class _Encoded(dict[str, bytes]):
    """Encoded body text by text: the value for ``text`` is ``lead`` (the line
    break before it) then ``cut + text`` encoded, its last line short enough
    for a soft break to follow.

    Two generations bound it: when the text held passes ``_CACHE_CHARS`` the
    current entries become the previous generation and the oldest are
    dropped; an entry found in the previous generation moves back. Pieces in
    use stay, and memory stops growing once a campaign has warmed up.
    """

    def __init__(self, lead: bytes, cut: str = "") -> None:
        super().__init__()
        self.lead = lead
        self.cut = cut
        self.chars = 0
        self.previous: dict[str, bytes] = {}

    def __missing__(self, text: str) -> bytes:
        encoded = self.previous.get(text)
        if encoded is None:
            encoded = self.lead + _qp_piece(self.cut + text)
        self.chars += len(text) + len(encoded)
        if self.chars > _CACHE_CHARS:
            self.previous = dict(self)
            self.clear()
            self.chars = 0
        self[text] = encoded
        return encoded

    def clear_all(self) -> None:
        self.clear()
        self.previous = {}
        self.chars = 0


def _qp_piece(text: str) -> bytes:
    """Text encoded with CRLF line breaks, its last line at most 75 characters
    (room for the ``=`` of a soft break) and the others at most 76."""
    # With no line break in its input b2a_qp writes soft breaks as "=\n";
    # with LF line breaks, it writes them as LF too.
    encoded = b2a_qp(text.encode("utf-8"), istext=True)
    lines = encoded.split(b"\n")
    # b2a_qp can write 78 characters when it encodes white space before a
    # line break (=20), so every line is checked, not only the last.
    if (
        max(map(len, lines)) > _QP_MAX
        or len(lines[-1]) > _QP_MAX - 1
        or encoded.startswith((b"From ", b"."))
        or b"\nFrom " in encoded
        or b"\n." in encoded
    ):
        lines = _tidy(lines)
    return b"\r\n".join(lines)


def quoted_printable_piece(text: str) -> str:
    """``text`` quoted-printable encoded as a piece that ends in a soft line
    break (CRLF line breaks), so that pieces encoded apart concatenate into a
    valid body: the compiled HTML templates write their static text and each
    value this way (see :mod:`mailer.content.layouts`).

    >>> quoted_printable_piece("Grüße = hi")
    'Gr=C3=BC=C3=9Fe =3D hi=\\r\\n'
    >>> quoted_printable_piece("")
    ''
    """
    if not text:
        return ""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _qp_piece(text).decode("ascii") + "=\r\n"


def encoded_body(pieces: str) -> bytes:
    """Joined :func:`quoted_printable_piece` output as a body for
    :meth:`MessageTemplate.build` (``html_encoded``): the last soft break
    dropped, the CRLF that ends it kept (it belongs to the MIME delimiter).

    >>> encoded_body(quoted_printable_piece("a") + quoted_printable_piece("b"))
    b'a=\\r\\nb\\r\\n'
    """
    if pieces.endswith("=\r\n"):
        return pieces[:-3].encode("ascii") + b"\r\n"
    return pieces.encode("ascii") + b"\r\n"


def _tidy(lines: list[bytes]) -> list[bytes]:
    """Encoded lines with ``From `` at a line start written ``=46rom ``, a
    period there ``=2E``, and lines longer than 76 (the last: 75) re-split
    with soft breaks."""
    out: list[bytes] = []
    pending = lines[::-1]
    while pending:
        line = pending.pop()
        if line.startswith(b"From "):
            line = b"=46" + line[1:]
        elif line.startswith(b"."):
            line = b"=2E" + line[1:]
        if len(line) > (_QP_MAX if pending else _QP_MAX - 1):
            cut = _QP_MAX - 1
            if line[cut - 1 : cut] == b"=":  # never split an =XX escape
                cut -= 1
            elif line[cut - 2 : cut - 1] == b"=":
                cut -= 2
            rest = line[cut:]
            line = line[:cut] + b"="
            pending.append(rest)
        out.append(line)
    return out


_STARTS = _Encoded(b"")
_AFTER_BREAK = _Encoded(b"\r\n")
_AFTER_CUT = _Encoded(b"=\r\n", _CUT)


def clear_body_cache() -> None:
    """Empty the memo of encoded body pieces: frees its memory (at most some
    tens of MB), changes no output.

    >>> clear_body_cache()
    """
    for cache in (_STARTS, _AFTER_BREAK, _AFTER_CUT):
        cache.clear_all()


def _for(recipient: str | None) -> str:
    return f" (recipient {recipient})" if recipient is not None else ""


def _check_chars(value: str, header: str, recipient: str | None) -> None:
    """Refuse control characters (injection) and lone surrogates (unencodable)."""
    found = _BAD_CHAR.search(value)
    if found is None:
        return
    char = found[0]
    shown = value if len(value) <= 60 else value[:57] + "..."
    if "\ud800" <= char <= "\udfff":
        raise MessageError(f"{header}: lone surrogate {char!r} at position {found.start()} in {shown!r}" + _for(recipient))
    raise HeaderInjectionError(
        f"{header}: control character {char!r} at position {found.start()} in {shown!r}" + _for(recipient),
        header=header,
        recipient=recipient,
    )


@lru_cache(maxsize=4096)
def _domain(domain: str, header: str) -> str:
    """``domain`` as ASCII (IDNA 2008 A-labels with UTS 46 mapping), checked."""
    if domain.isascii():
        if _DOMAIN_ASCII.fullmatch(domain) is None or len(domain) > 253:
            raise MessageError(f"{header}: not a valid domain: {domain!r}")
        return domain
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise MessageError(f"{header}: not a valid internationalised domain: {domain!r} ({exc})") from None
    if _DOMAIN_ASCII.fullmatch(encoded) is None or len(encoded) > 253:
        raise MessageError(f"{header}: not a valid domain: {domain!r}")
    return encoded


def _addr_spec(address: str, header: str, smtputf8: bool, recipient: str | None = None) -> str:
    local, _, domain = address.rpartition("@")
    pattern = _LOCAL_UTF8 if smtputf8 else _LOCAL_ASCII
    if not local or pattern.fullmatch(local) is None:
        if not smtputf8 and local and _LOCAL_UTF8.fullmatch(local):
            raise MessageError(
                f"{header}: non-ASCII local part needs SMTPUTF8 (smtputf8=True): {address!r}" + _for(recipient)
            )
        raise MessageError(f"not a single address: {address!r} (local part {local!r})" + _for(recipient))
    if len(local.encode("utf-8")) > 64:
        raise MessageError(f"{header}: local part longer than 64 octets: {address!r}" + _for(recipient))
    try:
        return f"{local}@{_domain(domain, header)}"
    except MessageError as exc:
        raise MessageError(f"{exc}{_for(recipient)}") from None


def _fold(name: str, tokens: Iterable[str], strict: bool = True) -> str:
    """``Name: tok tok ...`` folded at the spaces between tokens.

    Returns "" when ``strict`` and some line would still exceed 78
    characters (a token too long to fit), so the caller can encode instead.
    """
    lines: list[str] = []
    line = name + ":"
    first = True
    for token in tokens:
        # Never fold before an empty token: the new line would hold only white space.
        if first or not token or len(line) + 1 + len(token) <= MAX_LINE:
            line += " " + token
        else:
            lines.append(line)
            line = " " + token
        first = False
        if strict and len(line) > MAX_LINE:
            return ""
        if len(line) > HARD_MAX_LINE:
            raise MessageError(f"{name}: a header line would exceed {HARD_MAX_LINE} characters")
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _encoded_words(text: str, room: int) -> list[str]:
    """``text`` as RFC 2047 ``utf-8`` B encoded-words; the first fits in ``room``
    characters, the others on continuation lines, never splitting a character."""
    data = text.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        # Up to 3 bytes per 4 base64 characters; at least one 4-byte character per word.
        size = max(3 * ((min(room, _EW_MAX) - len(_EW_PREFIX) - len(_EW_SUFFIX)) // 4), 6)
        end = start + size
        if end < len(data):
            while data[end] & 0xC0 == 0x80:
                end -= 1
        words.append(_EW_PREFIX + b2a_base64(data[start:end], newline=False).decode("ascii") + _EW_SUFFIX)
        start = end
        room = MAX_LINE - 1
    return words


def _encoded_field(name: str, text: str, tail: list[str]) -> str:
    return _fold(name, _encoded_words(text, MAX_LINE - len(name) - 2) + tail, strict=False)


@lru_cache(maxsize=1024)
def _unstructured(name: str, value: str) -> str:
    """An unstructured header field: as is if plain ASCII, else encoded-words.

    ASCII containing ``=?`` is encoded too: a parser would otherwise decode
    it as an encoded-word and show something else.
    """
    if value and _PLAIN.fullmatch(value) is not None and "=?" not in value:
        folded = _fold(name, value.split(" "))
        if folded:
            return folded
    if not value:
        return name + ": \r\n"
    return _encoded_field(name, value, [])


@lru_cache(maxsize=64)
def _date_field(date: datetime, offset: timedelta | None) -> bytes:
    # Keyed on the offset too: aware datetimes at the same instant compare
    # equal whatever their zone, but are written with their own offset.
    return b"Date: %s\r\n" % format_datetime(date).encode("ascii")


def _subject_field(subject: str, recipient: str | None) -> str:
    _check_chars(subject, "Subject", recipient)
    return _unstructured("Subject", subject)


def _mailbox_field(name: str, display: str, address: str, smtputf8: bool, recipient: str | None) -> str:
    _check_chars(display, name, recipient)
    _check_chars(address, name, recipient)
    spec = _addr_spec(address, name, smtputf8, recipient)
    if not display or display.isspace():  # a blank name says nothing; readers disagree on it
        return _fold(name, [spec], strict=False)
    tail = [f"<{spec}>"]
    folded = ""
    if "=?" not in display:
        if _ATOM_PHRASE.fullmatch(display) is not None:
            folded = _fold(name, display.split(" ") + tail)
        elif _PRINTABLE.fullmatch(display) is not None:
            # Folding white space inside a quoted-string unfolds to what it was.
            quoted = '"' + _QUOTED_SPECIALS.sub(r"\\\g<0>", display) + '"'
            folded = _fold(name, quoted.split(" ") + tail)
    return folded or _encoded_field(name, display, tail)


def _unsubscribe_field(url: str, mailto: str | None, recipient: str | None) -> str:
    header = "List-Unsubscribe"
    _check_chars(url, header, recipient)
    if _HTTPS_URL.fullmatch(url) is None or len(url) > 900:
        raise MessageError(
            f"{header}: one-click unsubscribe needs an https URL of printable ASCII (RFC 8058), got {url!r}"
            + _for(recipient)
        )
    tokens = [f"<{url}>"]
    if mailto is not None:
        _check_chars(mailto, header, recipient)
        spec = _addr_spec(mailto, header, False, recipient)
        if _MAILTO_SAFE.fullmatch(spec) is None:
            local, _, domain = spec.rpartition("@")
            spec = quote(local, safe="!$'()*+,;:") + "@" + domain
        tokens[0] += ","
        tokens.append(f"<mailto:{spec}>")
    return _fold(header, tokens, strict=False)


def _extra_fields(headers: Mapping[str, str], taken: frozenset[str], recipient: str | None) -> str:
    fields = []
    seen: set[str] = set()
    for name, value in headers.items():
        _check_chars(name, name, recipient)
        if _HEADER_NAME.fullmatch(name) is None:
            raise MessageError(f"not a valid header name: {name!r}" + _for(recipient))
        key = name.lower()
        if key in _GENERATED or key in taken:
            raise MessageError(f"header {name!r} is set by the message builder or the template" + _for(recipient))
        if key in seen:
            raise MessageError(f"header {name!r} given twice" + _for(recipient))
        seen.add(key)
        _check_chars(value, name, recipient)
        fields.append(_unstructured(name, value))
    return "".join(fields)
