"""DKIM signing, checked against dkimpy: every signature must pass `dkim.verify`
with the test key served as its DNS record, over the sample newsletter,
hostile header values, folded headers, encoded subjects and odd bodies."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import dkim
import pytest
from aiosmtplib.protocol import normalize_message_line_endings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.content.dkim import DkimSigner, body_hash, load_key, relaxed_body, relaxed_header, smtp_form
from mailer.content.mime import MessageTemplate, message_id
from mailer.errors import ConfigError, HeaderInjectionError, MessageError
from tests.conftest import FIXTURES, prepared_sample, shared_path

DOMAIN, SELECTOR = "shop.example", "mail2026"
SENT = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
AT = 1772357400  # the signing time the tests fix
REQUIRED = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
            "list-unsubscribe", "list-unsubscribe-post"}  # fmt: skip
TEMPLATE = MessageTemplate(from_address="news@shop.example", from_name="Shop GmbH",
                           headers={"List-ID": "Shop news <news.shop.example>"})  # fmt: skip
PLAIN = (
    b"From: Shop <news@shop.example>\r\n"
    b"To: ann@example.com\r\n"
    b"Subject: Hello\r\n"
    b"Date: Sun, 01 Mar 2026 09:30:00 +0000\r\n"
    b"Message-ID: <1@shop.example>\r\n"
    b"List-Unsubscribe: <https://shop.example/u/1>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Ann,\r\n\r\nnew in this week.\r\n"
)


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dkim")
    paths = {"rsa": folder / "rsa.pem", "ed25519": folder / "ed25519.pem"}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths["rsa"].write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))  # fmt: skip
    paths["ed25519"].write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    return paths


@pytest.fixture(scope="module")
def signer(keys: dict[str, Path]) -> DkimSigner:
    return DkimSigner(keys["rsa"], domain=DOMAIN, selector=SELECTOR)


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def any_signer(request: pytest.FixtureRequest, keys: dict[str, Path]) -> DkimSigner:
    return DkimSigner(keys[request.param], domain=DOMAIN, selector=SELECTOR)


def dns_for(signer: DkimSigner) -> Callable[..., bytes | None]:
    """dkimpy's DNS lookup, answering only for the signer's selector and domain."""
    record = signer.dns_record().encode()
    name = f"{signer.selector}._domainkey.{signer.domain}.".encode()
    return lambda qname, timeout=5: record if qname == name else None


def verifies(message: bytes, signer: DkimSigner) -> bool:
    return bool(dkim.verify(message, dnsfunc=dns_for(signer)))


def tags(message: bytes) -> dict[str, str]:
    """The DKIM-Signature's tags, whitespace removed."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    field = re.match(r"DKIM-Signature:(.*?)(?:\r\n(?![ \t])|\Z)", head, re.S)
    assert field, head[:200]
    return {k.strip(): re.sub(r"\s+", "", v) for k, v in (t.split("=", 1) for t in field[1].split(";") if t.strip())}


def reference_bh(message: bytes) -> str:
    """The ``bh=`` dkimpy computes for ``message`` (relaxed/relaxed)."""
    signature = dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), reference_key(),
                          canonicalize=(b"relaxed", b"relaxed"), include_headers=[b"from"])  # fmt: skip
    return tags(signature)["bh"]


@functools.cache
def reference_key() -> bytes:
    """A key for dkimpy's own signatures (its RSA is pure Python: 1024 bits is enough for bh=)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())  # fmt: skip


def build(**overrides: object) -> bytes:
    values: dict[str, object] = {
        "to_address": "anna@example.com", "to_name": "Anna Müller", "subject": "Ihre Empfehlungen für März ❄️",
        "text": "Hallo Anna,\n\nneue Winterjacken: 49,99 €.\n",
        "html": '<p style="color:#333">Hallo   Anna,</p>\n\t<p>neue Winterjacken: 49,99 €.</p>\n',
        "message_id": message_id("spring", "c-1", "shop.example"), "date": SENT,
        "unsubscribe_url": "https://shop.example/u/c-1?t=abc", "unsubscribe_mailto": "unsubscribe+c-1@shop.example",
    }  # fmt: skip
    values.update(overrides)
    return TEMPLATE.build(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def newsletters(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The sample newsletter (~31 KB) to every fixture customer: every locale and currency."""
    from mailer.inputs.customers import iter_customers

    with prepared_sample(tmp_path_factory.mktemp("state")) as prepared:
        return [prepared.compose(c).data for c in prepared.choices(iter_customers(FIXTURES / "customers.csv"))]


def blns() -> list[str]:
    strings = json.loads(shared_path("hostile/blns.json").read_text(encoding="utf-8"))
    return [s for s in strings if isinstance(s, str)]


# What dkimpy accepts


def test_the_sample_newsletter_verifies_with_dkimpy(any_signer: DkimSigner, newsletters: list[bytes]) -> None:
    assert len(newsletters) >= 20 and all(len(m) > 25_000 for m in newsletters)
    for message in newsletters:
        signed = any_signer.sign(message)
        assert signed.endswith(message)
        assert verifies(signed, any_signer)


def test_a_signature_does_not_verify_with_another_key(signer: DkimSigner, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    assert not verifies(signer.sign(PLAIN), DkimSigner(other, domain=DOMAIN, selector=SELECTOR))


def test_tags_name_the_domain_selector_time_and_algorithm(any_signer: DkimSigner) -> None:
    found = tags(any_signer.sign(PLAIN, at=AT))
    assert (found["v"], found["c"], found["d"], found["s"], found["t"]) == ("1", "relaxed/relaxed", DOMAIN, SELECTOR,
                                                                            str(AT))  # fmt: skip
    assert found["a"] == ("rsa-sha256" if any_signer.algorithm == "rsa-sha256" else "ed25519-sha256")


def test_the_signing_time_defaults_to_now(signer: DkimSigner) -> None:
    import time

    before = int(time.time())
    assert before <= int(tags(signer.sign(PLAIN))["t"]) <= time.time()


def test_h_covers_rfc_8058_one_click_and_oversigns_from(signer: DkimSigner) -> None:
    h = tags(signer.sign(build()))["h"].split(":")
    assert REQUIRED | {"list-id", "reply-to"} <= set(h)
    assert h.count("from") == 2 and h.count("list-unsubscribe") == 2 and h.count("list-unsubscribe-post") == 2


def test_the_signature_header_folds_to_78_characters(any_signer: DkimSigner, newsletters: list[bytes]) -> None:
    signed = any_signer.sign(newsletters[0])
    field = signed[: signed.index(b"\r\nFrom:")]
    assert field.startswith(b"DKIM-Signature: v=1;")
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert all(line.startswith(b" ") for line in field.split(b"\r\n")[1:])


def test_signed_bytes_are_what_smtp_sends(signer: DkimSigner, newsletters: list[bytes]) -> None:
    signed = signer.sign(newsletters[0])
    assert normalize_message_line_endings(signed) == signed


# What a signature protects


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.replace(b"Subject: Hello", b"Subject: Hellp"),
        lambda m: m.replace(b"\r\n\r\nHello Ann", b"\r\nFrom: evil@attacker.example\r\n\r\nHello Ann"),
        lambda m: m.replace(b"\r\n\r\nHello Ann", b"\r\nReply-To: evil@attacker.example\r\n\r\nHello Ann"),
        lambda m: m.replace(b"\r\n\r\nHello Ann", b"\r\nList-Unsubscribe: <https://evil.example/>\r\n\r\nHello Ann"),
        lambda m: m.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b""),
        lambda m: m.replace(b"new in this week", b"new in this weak"),
        lambda m: m + b"P.S. one more line\r\n",
    ],
    ids=["subject", "second-from", "added-reply-to", "second-list-unsubscribe", "one-click-removed", "body",
         "body-appended"],  # fmt: skip
)
def test_a_changed_message_fails(signer: DkimSigner, tamper: Callable[[bytes], bytes]) -> None:
    signed = signer.sign(PLAIN)
    assert verifies(signed, signer)
    changed = tamper(signed)
    assert changed != signed and not verifies(changed, signer)


def test_relaxed_canonicalisation_survives_refolding_and_whitespace_changes(signer: DkimSigner) -> None:
    signed = signer.sign(build(subject="Ein sehr langer Betreff " * 6))
    head, body = signed.split(b"\r\n\r\n", 1)
    moved = head.replace(b"\r\n ", b"\r\n\t  ").replace(b": ", b":   ") + b"\r\n\r\n"
    moved += body.replace(b"\r\n", b"  \r\n").replace(b" ", b" \t") + b"\r\n\r\n"
    assert verifies(moved, signer)


# Hostile and unusual messages


@pytest.mark.parametrize("field", ["subject", "to_name"])
def test_hostile_names_and_subjects_built_by_mime_verify(signer: DkimSigner, field: str) -> None:
    signed = 0
    for string in blns():
        try:
            message = build(**{field: string})
        except HeaderInjectionError:
            continue  # the builder refuses control characters; nothing to sign
        assert verifies(signer.sign(message), signer), string
        signed += 1
    assert signed > 400


def header_text(strings: list[str]) -> Iterator[str]:
    """The strings a raw header can hold (RFC 5322: no control characters but tab)."""
    for string in strings:
        if not re.search("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]", string):
            yield string


def test_hostile_raw_header_values_verify(signer: DkimSigner) -> None:
    strings = list(header_text(blns()))
    assert len(strings) > 400
    for string in strings:
        value = string.encode("utf-8")
        message = PLAIN.replace(b"Subject: Hello", b"Subject: " + value).replace(b"To: ", b"To: " + value + b" ")
        message = message.replace(b"\r\n\r\n", b"\r\nX-Note:" + value + b"\r\n\r\n", 1)
        assert verifies(signer.sign(message), signer), string


def test_hostile_bodies_verify_and_agree_with_dkimpy_on_bh(signer: DkimSigner) -> None:
    strings = blns()
    for i in range(0, len(strings), 25):
        body = "\r\n".join(strings[i : i + 25]).encode("utf-8", "surrogatepass")
        message = PLAIN.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body + b"\r\n"
        signed = signer.sign(message)
        assert verifies(signed, signer), strings[i : i + 25]
        assert tags(signed)["bh"] == reference_bh(smtp_form(message))


@pytest.mark.parametrize(
    "folded",
    [
        b"Subject: a very long subject\r\n that goes on\r\n\tand on  \r\n",
        b"Subject:\r\n Hello\r\n",
        b"SUBJECT:  Hello   there \t\r\n",
        b"Subject: =?utf-8?b?RsO8ciBTaWU=?=\r\n =?utf-8?b?IOKdhO+4jw==?=\r\n",
    ],
    ids=["continued", "empty-first-line", "upper-case-and-spaces", "encoded-words"],
)
def test_folded_headers_verify(signer: DkimSigner, folded: bytes) -> None:
    message = PLAIN.replace(b"Subject: Hello\r\n", folded)
    assert verifies(signer.sign(message), signer)


def test_non_ascii_subjects_verify_raw_and_encoded(signer: DkimSigner) -> None:
    for subject in ("Für Sie ❄️", "Ваши рекомендации", "ご注文ありがとうございます" * 4, "مرحبا", "Zoë 🎉 " * 10):
        assert verifies(signer.sign(build(subject=subject)), signer)  # RFC 2047 encoded-words
        raw = PLAIN.replace(b"Subject: Hello", b"Subject: " + subject.encode())  # RFC 6532 raw UTF-8
        assert verifies(signer.sign(raw), signer)


@pytest.mark.parametrize(
    "body",
    [
        b"Hello\r\n",
        b"Hello",  # no final CRLF
        b"Hello \t",  # no final CRLF, trailing space
        b"Hello\n\nbare LF\n",
        b"Hello\rlone CR\r\n",
        b"",
        b"\r\n\r\n\r\n",
        b"a  b \r\n\t c\t\r\n \r\n\r\n",
        b".\r\n..leading dots\r\n.\r\n",
        b"From the shop\r\n",
    ],
    ids=["crlf", "no-final-crlf", "no-final-crlf-trailing-space", "bare-lf", "lone-cr", "empty", "only-blank-lines",
         "whitespace", "dots", "from-line"],  # fmt: skip
)
def test_odd_bodies_verify_and_are_sent_as_signed(any_signer: DkimSigner, body: bytes) -> None:
    message = PLAIN.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    signed = any_signer.sign(message)
    assert verifies(signed, any_signer)
    assert normalize_message_line_endings(signed) == signed  # SMTP changes nothing that was signed


@pytest.mark.parametrize(
    "body",
    [b"Hello\r\n", b"Hello", b"Hello\r\n\r\n\r\n", b"", b"\r\n", b"a  b\t\r\nc \r\n", b"x\tx  x\r\n  \r\n"],
    ids=["crlf", "no-final-crlf", "blank-lines-at-end", "empty", "one-crlf", "spaces", "tabs-and-blank-line"],
)
def test_bh_agrees_with_dkimpy(signer: DkimSigner, body: bytes) -> None:
    message = PLAIN.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    assert tags(signer.sign(message))["bh"] == reference_bh(message)


def test_bh_agrees_with_dkimpy_on_the_sample_newsletter(signer: DkimSigner, newsletters: list[bytes]) -> None:
    for message in newsletters[:5]:
        assert tags(signer.sign(message))["bh"] == reference_bh(message)


def test_bare_lf_and_crlf_messages_sign_alike(signer: DkimSigner) -> None:
    lf = PLAIN.replace(b"\r\n", b"\n")
    assert signer.sign(lf, at=AT) == signer.sign(PLAIN, at=AT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(max_size=120), name=st.text(max_size=60), text=st.text(max_size=300))
def test_any_message_the_builder_makes_verifies(signer: DkimSigner, subject: str, name: str, text: str) -> None:
    try:
        message = build(subject=subject, to_name=name, text=text, html=text)
    except MessageError:
        return  # refused by the builder (control characters, lone surrogates)
    assert verifies(signer.sign(message), signer)


# Canonical forms (RFC 6376 section 3.4)


def test_relaxed_header_matches_the_rfc_example() -> None:
    # RFC 6376 section 3.4.5, relaxed.
    assert relaxed_header(b"A", b" X\r\n") == b"a:X\r\n"
    assert relaxed_header(b"B ", b" Y\t\r\n\tZ  ") == b"b:Y Z\r\n"


def test_relaxed_body_matches_the_rfc_example() -> None:
    assert relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"


def test_body_hash_of_an_empty_body_is_the_hash_of_nothing() -> None:
    assert body_hash(b"") == body_hash(b"\r\n\r\n") == base64.b64encode(hashlib.sha256(b"").digest()).decode()


# Messages that cannot be signed


def test_a_message_without_from_is_refused(signer: DkimSigner) -> None:
    with pytest.raises(MessageError, match="no From header"):
        signer.sign(PLAIN.replace(b"From: Shop <news@shop.example>\r\n", b""))


def test_a_header_line_without_a_colon_is_refused(signer: DkimSigner) -> None:
    with pytest.raises(MessageError, match="header line 3 is not 'Name: value'"):
        signer.sign(PLAIN.replace(b"Subject: Hello", b"Subject Hello"))


# Keys, domains and selectors


def test_the_key_is_read_once(keys: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "key.pem"
    copy.write_bytes(keys["ed25519"].read_bytes())
    signer = DkimSigner(copy, domain=DOMAIN, selector=SELECTOR)
    copy.unlink()
    assert verifies(signer.sign(PLAIN), signer)


def test_a_missing_key_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path))}/absent.pem: cannot read the DKIM key"):
        DkimSigner(tmp_path / "absent.pem", domain=DOMAIN, selector=SELECTOR)


def test_an_unreadable_key_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "dkim.pem"
    folder.mkdir()  # unreadable as a file whatever the user (root reads files it has no permission for)
    with pytest.raises(ConfigError, match="dkim.pem: cannot read the DKIM key"):
        load_key(folder)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"not a key\n", "not a PEM private key"),
        (b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n", "not a PEM private key"),
    ],
    ids=["text", "public-key"],
)
def test_a_file_that_is_no_private_key_names_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"dkim.pem: {reason}"):
        load_key(path)


def test_an_elliptic_curve_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ConfigError, match=r"ec.pem: an elliptic-curve \(ECDSA\) key; DKIM signs with an RSA key"):
        load_key(path)


def test_an_encrypted_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "locked.pem"
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))  # fmt: skip
    with pytest.raises(ConfigError, match="locked.pem: the DKIM key is encrypted"):
        load_key(path)


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    # cryptography makes no keys under 1024 bits; build a 512-bit one from its primes.
    p = 0xE6DF5043D2F8B70BC1A80BFA07A3F2BF5CD475BBF8005F90F2FCA4D0365F8E6D
    q = 0xCD9A463E06671F5D580D8F931349DE68A1C2FD2895955C6828B212F3DCDA61BD
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(e, p * q))  # fmt: skip
    path = tmp_path / "short.pem"
    path.write_bytes(pem(numbers.private_key()))
    with pytest.raises(ConfigError, match="short.pem: the DKIM key has 512 bits; RSA keys need at least 1024"):
        load_key(path)


@pytest.mark.parametrize("selector", ["", "a b", "-x", "x_y", "x.", "ü"])
def test_a_bad_selector_is_refused(keys: dict[str, Path], selector: str) -> None:
    with pytest.raises(ConfigError, match="DKIM selector: expected DNS labels"):
        DkimSigner(keys["rsa"], domain=DOMAIN, selector=selector)


@pytest.mark.parametrize("domain", ["", "localhost", "shop example", "-shop.example", "shop..example"])
def test_a_bad_domain_is_refused(keys: dict[str, Path], domain: str) -> None:
    with pytest.raises(ConfigError, match="DKIM domain: expected a domain"):
        DkimSigner(keys["rsa"], domain=domain, selector=SELECTOR)


def test_an_internationalised_domain_signs_as_a_labels(keys: dict[str, Path]) -> None:
    signer = DkimSigner(keys["ed25519"], domain="bücher.example", selector=SELECTOR)
    signed = signer.sign(PLAIN)
    assert tags(signed)["d"] == "xn--bcher-kva.example" and verifies(signed, signer)


def test_the_dns_record_says_the_key_type(any_signer: DkimSigner) -> None:
    kind = "rsa" if any_signer.algorithm == "rsa-sha256" else "ed25519"
    assert any_signer.dns_record().startswith(f"v=DKIM1; k={kind}; p=")
