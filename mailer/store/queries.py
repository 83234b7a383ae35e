"""Named SQL blocks, read from one ``.sql`` file per backend.

>>> blocks = parse_queries('''
... -- name: hello
... -- Say hello.
... SELECT 'hello';
... ''')
>>> blocks["hello"].sql, blocks["hello"].doc
("SELECT 'hello';", 'Say hello.')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    doc: str
    sql: str


def parse_queries(text: str) -> dict[str, Query]:
    """The blocks of a ``.sql`` file by name (the text before the first block is its preamble)."""
    parts = _NAME.split(text)
    queries: dict[str, Query] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        doc_lines: list[str] = []
        lines = body.strip("\n").splitlines()
        while lines and lines[0].startswith("--"):
            doc_lines.append(lines.pop(0)[2:].strip())
        queries[name] = Query(name, " ".join(doc_lines).strip(), "\n".join(lines).strip())
    return queries


@cache
def load_queries(backend: str) -> dict[str, Query]:
    """The queries of ``queries_<backend>.sql`` in this package."""
    text = resources.files(__package__).joinpath(f"queries_{backend}.sql").read_text(encoding="utf-8")
    return parse_queries(text)
