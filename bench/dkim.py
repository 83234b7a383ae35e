"""DKIM signing per message: `mailer.content.dkim.DkimSigner` against dkimpy's `dkim.sign`.

Composes N messages of the sample newsletter (~31 KB each: the shipped
``newsletter`` layout, ``fixtures/campaign.toml``, customers from
``fixtures/customers.csv`` in every locale and currency they have), then signs
each one, in the same run:

* dkimpy, as its documentation shows: ``dkim.sign(message, selector, domain,
  pem)`` per message, relaxed/relaxed, with the same ``h=`` list (dkimpy reads
  the PEM and does RSA in pure Python on every call);
* ``DkimSigner``: the key parsed once, the message canonicalised and hashed
  once, the key operation in OpenSSL (``cryptography``).

Both with a fresh RSA-2048 key, and with Ed25519 (RFC 8463) when PyNaCl, which
dkimpy needs for it, is installed. Only the signing is timed; every signature
is checked with ``dkim.verify`` afterwards, untimed.

    python bench/dkim.py [--n 300] [--reference 60]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This script is bench/dkim.py, which would hide dkimpy (module `dkim`): keep its folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
dkim = importlib.import_module("dkim")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402

from mailer.content.dkim import DkimSigner, _split  # noqa: E402
from mailer.inputs.customers import iter_customers  # noqa: E402
from mailer.prepared import prepare  # noqa: E402
from mailer.tokens import Signer  # noqa: E402

FIXTURES = ROOT / "fixtures"
DOMAIN, SELECTOR = "example-shop.test", "mail2026"


def messages(n: int) -> list[bytes]:
    prepared = prepare(FIXTURES / "campaign.toml", feed=FIXTURES / "products.xml", layouts_dir=ROOT / "layouts",
                       locales_dir=ROOT / "locales", signer=Signer(b"k" * 32))  # fmt: skip
    base = list(iter_customers(FIXTURES / "customers.csv"))
    people = [dataclasses.replace(base[i % len(base)], id=f"B{i:07d}") for i in range(n)]
    with prepared:
        return [prepared.compose(choice).data for choice in prepared.choices(people)]


def write_keys(folder: Path) -> dict[str, tuple[Path, bytes]]:
    """RSA-2048 and Ed25519 keys as PEM files, with what dkimpy takes for each."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())  # fmt: skip
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())  # fmt: skip
    seed = ed_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())  # fmt: skip
    (folder / "rsa.pem").write_bytes(rsa_pem)
    (folder / "ed25519.pem").write_bytes(ed_pem)
    return {"rsa-sha256": (folder / "rsa.pem", rsa_pem),
            "ed25519-sha256": (folder / "ed25519.pem", base64.b64encode(seed))}  # fmt: skip


def h_list(signer: DkimSigner, message: bytes) -> list[bytes]:
    """The ``h=`` names the signer uses for ``message``, for dkimpy."""
    present = [name for name, _ in _split(message)[0]]
    names = [name for name in signer.headers for _ in range(present.count(name.encode()))]
    return [name.encode() for name in (*names, *signer.oversign)]


def timed(sign: Callable[[bytes], bytes], batch: list[bytes]) -> tuple[float, list[bytes]]:
    """Seconds per message spent in ``sign``, and what it returned."""
    out = []
    start = time.perf_counter()
    for message in batch:
        out.append(sign(message))
    return (time.perf_counter() - start) / len(batch), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="messages signed by DkimSigner (default 300)")
    parser.add_argument("--reference", type=int, default=60, help="of them, signed by dkimpy too (default 60)")
    args = parser.parse_args()
    batch = messages(args.n)
    print(f"{len(batch)} messages, {sum(map(len, batch)) / len(batch) / 1024:.1f} KiB each")
    try:
        import nacl  # noqa: F401  (dkimpy's Ed25519)

        algorithms = ["rsa-sha256", "ed25519-sha256"]
    except ImportError:
        algorithms = ["rsa-sha256"]
        print("PyNaCl is not installed: Ed25519 left out (pip install 'dkimpy[ed25519]')")
    with tempfile.TemporaryDirectory() as folder:
        keys = write_keys(Path(folder))
        for algorithm in algorithms:
            path, dkimpy_key = keys[algorithm]
            signer = DkimSigner(path, domain=DOMAIN, selector=SELECTOR)
            headers = h_list(signer, batch[0])  # the same for every message of the campaign
            record = signer.dns_record().encode()

            def reference(message: bytes) -> bytes:
                return bytes(dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), dkimpy_key,
                                 canonicalize=(b"relaxed", b"relaxed"), include_headers=headers,
                                 signature_algorithm=algorithm.encode())) + message  # fmt: skip

            ours, ours_out = timed(signer.sign, batch)
            theirs, theirs_out = timed(reference, batch[: args.reference])
            bad = sum(not dkim.verify(m, dnsfunc=lambda name, timeout=5: record) for m in ours_out + theirs_out)
            print(f"{algorithm}:")
            print(f"  dkimpy dkim.sign     {theirs * 1e6:9.1f} µs/message ({len(theirs_out)} messages)")
            print(f"  mailer DkimSigner    {ours * 1e6:9.1f} µs/message ({len(ours_out)} messages)")
            print(f"  DkimSigner is {theirs / ours:.1f}x faster; signatures failing dkim.verify: {bad}")
            if bad:
                raise SystemExit("a signature did not verify")


if __name__ == "__main__":
    main()
