"""Email addresses as bounce and complaint reports write them.

Reports name recipients in many ways: ``rfc822; <Ann@Example.COM>``,
``"Ann" <ann@example.com>``, ``ann@example.com<mailto:ann@example.com>``,
``<ann@example.com>:``. Everything here returns the bare ``local@domain``,
lower-cased (mailbox providers treat local parts case-insensitively in
practice, and a suppression list must match whatever case a report used).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_LOCAL_CHAR = r"[\w!#$%&'*+/=?^`{|}~-]"
_LOCAL = rf"{_LOCAL_CHAR}+(?:\.{_LOCAL_CHAR}+)*"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})+"
ADDRESS_PATTERN = rf"(?<![\w.!#$%&'*+/=?^`{{|}}~-]){_LOCAL}@{_DOMAIN}(?![\w-]|\.[^\W_])"
"""An address with a dotted domain inside running text (no groups), to build patterns with."""
ADDRESS = re.compile(f"({ADDRESS_PATTERN})")
""":data:`ADDRESS_PATTERN` compiled, the address in group 1."""
_TYPED = re.compile(r"^\s*[\w-]+\s*;\s*")
MAX_ADDRESS = 254
"""RFC 5321 section 4.5.3.1.3: the longest path, less its angle brackets."""


def normalise(address: str) -> str:
    """``address`` lower-cased, without angle brackets and white space.

    >>> normalise(" <Ann.Lee@Example.COM> ")
    'ann.lee@example.com'
    """
    return address.strip().strip("<>").strip().lower()


def find_addresses(text: str) -> Iterator[str]:
    """Every address in ``text``, normalised, in order (repeats included).

    >>> list(find_addresses("550 5.1.1 <Ann@shop.test>... User unknown; cc bob@x.example"))
    ['ann@shop.test', 'bob@x.example']
    """
    for match in ADDRESS.finditer(text):
        address = match.group(1)
        if len(address) <= MAX_ADDRESS:
            yield address.lower()


def field_address(value: str) -> str | None:
    """The address of a report field such as ``Final-Recipient: rfc822; <a@b.c>``.

    A value without a dotted domain (``rfc822; ann@localhost``) is taken as
    written when it holds exactly one ``@`` and no white space.

    >>> field_address("RFC822; <Ann@Example.com>"), field_address("rfc822;ann@localhost")
    ('ann@example.com', 'ann@localhost')
    >>> field_address("rfc822; |/usr/bin/procmail") is None
    True
    """
    value = _TYPED.sub("", value, count=1)
    found = next(find_addresses(value), None)
    if found is not None:
        return found
    bare = normalise(value)
    if bare.count("@") == 1 and not re.search(r"[\s<>()\[\],;:\"\\]", bare) and len(bare) <= MAX_ADDRESS:
        local, _, domain = bare.partition("@")
        if local and domain:
            return bare
    return None


def unique(addresses: Iterable[str]) -> tuple[str, ...]:
    """``addresses`` without repeats, first occurrence kept.

    >>> unique(["a@b.c", "d@e.f", "a@b.c"])
    ('a@b.c', 'd@e.f')
    """
    return tuple(dict.fromkeys(addresses))
