"""DKIM signatures (RFC 6376) for mail sent straight to the recipients' MX.

A :class:`DkimSigner` is built once per campaign: it reads and parses the
private key (a PEM file) once and checks the signing domain and selector.
Its :meth:`~DkimSigner.sign` takes a message's bytes, as
:mod:`mailer.content.mime` builds them, and returns them with a
``DKIM-Signature`` header in front:

* ``rsa-sha256`` with an RSA key of at least 1024 bits (2048 advised), or
  ``ed25519-sha256`` (RFC 8463) with an Ed25519 key;
* ``c=relaxed/relaxed``: folding and runs of spaces may change in transit;
* ``h=`` lists every header of :data:`SIGNED_HEADERS` the message has, among
  them both ``List-Unsubscribe`` and ``List-Unsubscribe-Post``, which
  RFC 8058 section 4 requires signed for one-click unsubscribe to count; the
  names in :data:`OVERSIGNED_HEADERS` are listed once more, so a copy added
  on the way (a second ``From``, a ``Reply-To`` the message lacked) breaks
  the signature instead of fooling the reader;
* ``d=`` the signing domain (IDNA A-labels), ``s=`` the selector, ``t=`` the
  signing time; the header is folded to lines of at most 78 characters.

The message is first put in the form SMTP carries it (aiosmtplib turns every
lone LF or CR into CRLF and ends the data with CRLF), so what is signed is
what the recipient's server receives; messages from
:class:`~mailer.content.mime.MessageTemplate` are already in that form.

The key is parsed once; per message only the message is canonicalised and
hashed, once. The body is rewritten only where a tab, a run of spaces or a
space before a line break asks for it, found with byte searches: a
character-class regex over the 30 KB of a newsletter takes as long as an
RSA signature. With RSA-2048 the private-key operation (about 0.5 ms) is then
most of the cost; with Ed25519 it is some 40 µs. ``bench/dkim.py``
measures it against dkimpy's ``dkim.sign`` (some 15 times slower with RSA,
5 with Ed25519), which the tests use to verify every kind of signature made.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Literal

import idna
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x448, x25519

from mailer.errors import ConfigError, MessageError

__all__ = [
    "DkimKey",
    "DkimSigner",
    "OVERSIGNED_HEADERS",
    "SIGNED_HEADERS",
    "body_hash",
    "check_domain",
    "check_selector",
    "load_key",
    "relaxed_body",
    "relaxed_header",
    "smtp_form",
]

DkimKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
"""The private keys DKIM signs with."""

SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
)
"""Headers signed when the message has them (each copy of one)."""

OVERSIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
"""Headers listed in ``h=`` once more than the message has them: none may be added."""

MIN_RSA_BITS = 1024
"""RFC 8301 section 3.2: signers MUST use RSA keys of at least 1024 bits."""

_WIDTH = 78
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
"""What aiosmtplib (and most SMTP clients) turn into CRLF."""
_WSP_RUN = re.compile(rb"[ \t]+")
_SPACES = re.compile(rb"  +")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_FIELD_NAME = re.compile(rb"[!-9;-~]+")


def smtp_form(data: bytes) -> bytes:
    """``data`` as SMTP carries it: every line ending CRLF, the last one too.

    >>> smtp_form(b"a\\nb\\rc\\r\\nd")
    b'a\\r\\nb\\r\\nc\\r\\nd\\r\\n'
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _LINE_END.sub(b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """One header field in relaxed form (RFC 6376 section 3.4.2): the name in
    lower case, the value unfolded, runs of spaces and tabs made one space,
    none around the colon or at the end.

    >>> relaxed_header(b"Subject ", b" Hello \\t  there\\r\\n  world  ")
    b'subject:Hello there world\\r\\n'
    """
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    """A body (CRLF line endings) in relaxed form (RFC 6376 section 3.4.4):
    no spaces or tabs at line ends, other runs of them made one space, no
    empty lines at the end, and a final CRLF unless nothing is left.

    >>> relaxed_body(b"a  b\\t\\r\\nc \\r\\n\\r\\n \\r\\n")
    b'a b\\r\\nc\\r\\n'
    >>> relaxed_body(b"\\r\\n\\r\\n")
    b''
    """
    # Plain byte searches and replaces: a built message seldom has a tab or a
    # space before a line break, and `[ \t]+` as a regex scans 30 KB forty times
    # slower than `  +` (which starts from a literal).
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    if b"  " in body:
        body = _SPACES.sub(b" ", body)
    if b" \r\n" in body:  # after the line above, at most one space ends a line
        body = body.replace(b" \r\n", b"\r\n")
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    if end == 0:
        return b""
    if end == len(body):
        return body + b"\r\n"
    return body if end + 2 == len(body) else body[: end + 2]


def body_hash(body: bytes) -> str:
    """``bh=``: the base64 SHA-256 of the relaxed body.

    >>> body_hash(b"")  # RFC 6376 section 3.4.4: an empty body hashes nothing
    '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
    """
    return base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode("ascii")


def check_selector(selector: object, where: str = "DKIM selector") -> str:
    """A DKIM selector: DNS labels of letters, digits and hyphens.

    >>> check_selector("mail2026.eu")
    'mail2026.eu'
    >>> check_selector("bad selector", "delivery.dkim_selector")
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: delivery.dkim_selector: expected DNS labels such as "mail2026", got 'bad selector'
    """
    if not isinstance(selector, str) or not _SELECTOR.fullmatch(selector):
        raise ConfigError(f'{where}: expected DNS labels such as "mail2026", got {selector!r}')
    return selector


def check_domain(domain: object, where: str = "DKIM domain") -> str:
    """A DKIM signing domain in ASCII (internationalised names as A-labels).

    >>> check_domain("Bücher.example")
    'xn--bcher-kva.example'
    """
    try:
        text = domain.rstrip(".") if isinstance(domain, str) else ""
        ascii_domain = idna.encode(text, uts46=True).decode("ascii") if text else ""
    except (idna.IDNAError, UnicodeError):
        ascii_domain = ""
    if not _DOMAIN.fullmatch(ascii_domain):
        raise ConfigError(f"{where}: expected a domain such as shop.example, got {domain!r}")
    return ascii_domain


def load_key(path: str | PathLike[str]) -> DkimKey:
    """The unencrypted RSA or Ed25519 private key of a PEM file; every
    failure is a :class:`~mailer.errors.ConfigError` naming the file.

    >>> load_key("/nonexistent/dkim.pem")
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: /nonexistent/dkim.pem: cannot read the DKIM key: No such file or directory
    """
    where = Path(path)
    try:
        data = where.read_bytes()
    except OSError as err:
        raise ConfigError(f"{where}: cannot read the DKIM key: {err.strerror}") from err
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as err:  # cryptography's way of saying "it has a password"
        raise ConfigError(f"{where}: the DKIM key is encrypted; give the key without a passphrase") from err
    except (ValueError, UnsupportedAlgorithm) as err:
        raise ConfigError(f"{where}: not a PEM private key (expected -----BEGIN PRIVATE KEY----- "
                          "or -----BEGIN RSA PRIVATE KEY-----)") from err  # fmt: skip
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(f"{where}: the DKIM key has {key.key_size} bits; RSA keys need at least "
                              f"{MIN_RSA_BITS} (2048 advised)")  # fmt: skip
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    kinds = ((ec.EllipticCurvePrivateKey, "an elliptic-curve (ECDSA)"), (dsa.DSAPrivateKey, "a DSA"),
             (ed448.Ed448PrivateKey, "an Ed448"), (x25519.X25519PrivateKey, "an X25519"),
             (x448.X448PrivateKey, "an X448"))  # fmt: skip
    kind = next((name for cls, name in kinds if isinstance(key, cls)), "another kind of")
    raise ConfigError(f"{where}: {kind} key; DKIM signs with an RSA key (rsa-sha256) "
                      "or an Ed25519 key (ed25519-sha256)")  # fmt: skip


class DkimSigner:
    """Signs messages for one domain and selector with one key, parsed once.

    >>> import tempfile
    >>> from cryptography.hazmat.primitives.asymmetric import ed25519
    >>> pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
    ...     serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    >>> with tempfile.NamedTemporaryFile(suffix=".pem") as file:
    ...     _ = file.write(pem); file.flush()
    ...     signer = DkimSigner(file.name, domain="shop.example", selector="mail")
    >>> signed = signer.sign(b"From: news@shop.example\\r\\nSubject: Hi\\r\\n\\r\\nHello\\r\\n", at=1767225600)
    >>> print("\\n".join(signed.decode().splitlines()[:3]))
    DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=shop.example;
     s=mail; t=1767225600; h=from:subject:from:sender:reply-to:to:cc:subject:date:
     list-unsubscribe:list-unsubscribe-post;
    >>> signed.endswith(b"\\r\\nFrom: news@shop.example\\r\\nSubject: Hi\\r\\n\\r\\nHello\\r\\n")
    True
    >>> signer.dns_record().startswith("v=DKIM1; k=ed25519; p=")
    True
    """

    def __init__(
        self,
        key_file: str | PathLike[str],
        *,
        domain: str,
        selector: str,
        headers: Iterable[str] = SIGNED_HEADERS,
        oversign: Iterable[str] = OVERSIGNED_HEADERS,
    ) -> None:
        self.key_file = Path(key_file)
        """The PEM file the key was read from."""
        self.domain = check_domain(domain)
        """``d=``, in ASCII."""
        self.selector = check_selector(selector)
        """``s=``: the key is published at ``<selector>._domainkey.<domain>``."""
        self.headers = tuple(name.lower() for name in headers)
        self.oversign = tuple(name.lower() for name in oversign)
        if "from" not in self.headers:
            raise ConfigError("DKIM: the From header must be signed (RFC 6376 section 5.4)")
        self._key: DkimKey = load_key(self.key_file)
        self.algorithm: Literal["rsa-sha256", "ed25519-sha256"] = (
            "rsa-sha256" if isinstance(self._key, rsa.RSAPrivateKey) else "ed25519-sha256"
        )
        self._tags = f"v=1; a={self.algorithm}; c=relaxed/relaxed; d={self.domain}; s={self.selector}"
        self._names = tuple(name.encode("ascii") for name in self.headers)

    def __repr__(self) -> str:
        return f"DkimSigner({str(self.key_file)!r}, domain={self.domain!r}, selector={self.selector!r})"

    def dns_record(self) -> str:
        """The TXT record to publish at ``<selector>._domainkey.<domain>``."""
        public = self._key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            kind = "rsa"
            raw = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            kind = "ed25519"
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode('ascii')}"

    def sign(self, data: bytes, *, at: float | None = None) -> bytes:
        """``data`` in SMTP form (see :func:`smtp_form`) with a ``DKIM-Signature``
        header in front; ``at`` is the signing time (default: now).

        Raises :class:`~mailer.errors.MessageError` for a message without a
        From header or with a header line that is not ``Name: value``.
        """
        data = smtp_form(data)
        fields, body = _split(data)
        if not any(name == b"from" for name, _ in fields):
            raise MessageError("DKIM: the message has no From header to sign")
        present = [name for name, _ in fields]
        names = [name.decode("ascii") for name in self._names for _ in range(present.count(name))]
        names += self.oversign
        signed = bytearray()
        used: dict[str, int] = {}
        for name in names:
            wanted = name.encode("ascii")
            i = used.get(name, len(fields))
            while i > 0:  # RFC 6376 section 5.4.2: the last copy first, then the one above it
                i -= 1
                if fields[i][0] == wanted:
                    signed += relaxed_header(wanted, fields[i][1])
                    break
            used[name] = i
        stamp = int(time.time() if at is None else at)
        head = _fold([*self._tags.split("; "), f"t={stamp}", *_h_pieces(names), f"bh={body_hash(body)}", "b="])
        _, _, value = head.partition(":")
        signed += relaxed_header(b"dkim-signature", value.encode("ascii"))[:-2]  # hashed without its CRLF
        signature = self._signature(bytes(signed))
        return (head + _fold_b64(head, base64.b64encode(signature).decode("ascii")) + "\r\n").encode("ascii") + data

    def _signature(self, signed: bytes) -> bytes:
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463 section 3: Ed25519 signs the SHA-256 of the data (PureEdDSA over the hash).
        return self._key.sign(hashlib.sha256(signed).digest())


def _split(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The header fields (lower-case name, raw value with its folds) and the body."""
    end = data.find(b"\r\n\r\n")
    if data.startswith(b"\r\n"):
        head, body = b"", data[2:]
    elif end < 0:
        head, body = data[:-2], b""
    else:
        head, body = data[:end], data[end + 4 :]
    fields: list[tuple[bytes, bytes]] = []
    for number, line in enumerate(head.split(b"\r\n") if head else (), 1):
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise MessageError("DKIM: the message starts with a folded header line")
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
            continue
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise MessageError(f"DKIM: header line {number} is not 'Name: value': {line[:40]!r}")
        fields.append((name.lower(), value))
    return fields, body


def _h_pieces(names: list[str]) -> list[str]:
    """``h=`` as pieces :func:`_fold` may break between (after a colon)."""
    pieces = [f"{name}:" for name in names]
    pieces[0] = "h=" + pieces[0]
    pieces[-1] = pieces[-1][:-1]
    return pieces


def _fold(tags: list[str]) -> str:
    """``DKIM-Signature:`` and ``tags`` ("; " between them), folded at ``_WIDTH``;
    pieces of ``h=`` (ending in ``:``) are joined without a space."""
    lines = ["DKIM-Signature:"]
    glue = " "
    for i, tag in enumerate(tags):
        piece = tag if tag.endswith(":") or i == len(tags) - 1 else tag + ";"
        if len(lines[-1]) + len(glue) + len(piece) <= _WIDTH:
            lines[-1] += glue + piece
        else:
            lines.append(" " + piece)
        glue = "" if tag.endswith(":") else " "
    return "\r\n".join(lines)


def _fold_b64(head: str, value: str) -> str:
    """The ``b=`` value, continuing ``head``'s last line and folded after it."""
    room = max(0, _WIDTH - (len(head) - head.rfind("\n") - 1))
    chunks = [value[:room]]
    chunks += [value[i : i + _WIDTH - 1] for i in range(room, len(value), _WIDTH - 1)]
    return "\r\n ".join(chunks) if chunks[0] else "\r\n " + "\r\n ".join(chunks[1:])
