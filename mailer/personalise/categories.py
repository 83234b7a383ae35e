"""Category paths as small integers: one code per path prefix.

A product of ``Women > Dresses > Midi Dresses`` belongs to three prefixes,
``Women``, ``Women > Dresses`` and the full path; :class:`Categories` gives each
prefix a code, so a purchase can count toward every level at once and a
product's affinity can be read at every level. Paths shorter than the depth
selection looks at are filled with their deepest prefix (``Women > Knitwear``
stands for itself at level three), so every product has a code at every level.

:func:`path_matches` is how configuration names categories: a plain name
matches a level of the path (``Baby`` matches ``Baby > Toys`` and
``Kids > Baby``), a name with ``>`` matches a prefix, both case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["Categories", "join_path", "path_matches", "split_path"]

SEPARATOR = " > "


def split_path(text: str | Sequence[str]) -> tuple[str, ...]:
    """A category path as its levels, trimmed; accepts text or a sequence.

    >>> split_path("Home >Kitchen> Cookware ")
    ('Home', 'Kitchen', 'Cookware')
    >>> split_path(("Women", " Dresses"))
    ('Women', 'Dresses')
    """
    parts = text.split(">") if isinstance(text, str) else text
    return tuple(p for part in parts if (p := part.strip()))


def join_path(path: Sequence[str]) -> str:
    """A category path as text.

    >>> join_path(("Women", "Dresses"))
    'Women > Dresses'
    """
    return SEPARATOR.join(path)


def path_matches(path: Sequence[str], names: Iterable[str]) -> bool:
    """Whether any of ``names`` names a level (or, with ``>``, a prefix) of ``path``.

    >>> path_matches(("Kids", "Baby", "Toys"), ["baby"])
    True
    >>> path_matches(("Health & Beauty", "Skincare"), ["Health"])
    False
    >>> path_matches(("Home", "Pharmacy", "Plasters"), ["Home > Pharmacy"]), path_matches(("Home",), ["Home > Pharmacy"])
    (True, False)
    """
    folded = [p.casefold() for p in path]
    for name in names:
        wanted = [p.casefold() for p in split_path(name)]
        if not wanted:
            continue
        if len(wanted) == 1:
            if wanted[0] in folded:
                return True
        elif folded[: len(wanted)] == wanted:
            return True
    return False


class Categories:
    """A growing vocabulary of category prefixes, each with a code, depth and parent.

    >>> cats = Categories(depth=3)
    >>> cats.encode(("Women", "Dresses")).tolist()
    [0, 1, 1]
    >>> cats.names, cats.depth_of.tolist(), cats.parent.tolist()
    (('Women', 'Women > Dresses'), [1, 2], [-1, 0])
    >>> cats.encode(()).tolist(), cats.lookup(("women",)).tolist()
    ([-1, -1, -1], [-1, -1, -1])
    """

    def __init__(self, *, depth: int) -> None:
        self.depth = depth
        self._codes: dict[tuple[str, ...], int] = {}
        self._names: list[str] = []
        self._depths: list[int] = []
        self._parents: list[int] = []

    def __len__(self) -> int:
        return len(self._names)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._names)

    @property
    def depth_of(self) -> np.ndarray:
        """Each code's level, 1 for a top-level category."""
        return np.asarray(self._depths, dtype=np.int8)

    @property
    def parent(self) -> np.ndarray:
        """Each code's parent code, -1 at the top."""
        return np.asarray(self._parents, dtype=np.int32)

    def code(self, path: Sequence[str]) -> int:
        """The code of exactly this prefix, -1 when unknown."""
        return self._codes.get(tuple(path), -1)

    def encode(self, path: Sequence[str]) -> np.ndarray:
        """Codes of ``path``'s first ``depth`` prefixes, adding new ones; filled past its end."""
        return self._codes_for(path, add=True)

    def lookup(self, path: Sequence[str]) -> np.ndarray:
        """As :meth:`encode`, without adding: unknown prefixes are -1 (and so are those below them)."""
        return self._codes_for(path, add=False)

    def _codes_for(self, path: Sequence[str], *, add: bool) -> np.ndarray:
        out = np.full(self.depth, -1, dtype=np.int32)
        parent = -1
        for level in range(min(len(path), self.depth)):
            key = tuple(path[: level + 1])
            code = self._codes.get(key)
            if code is None:
                if not add:
                    return out
                code = self._codes[key] = len(self._names)
                self._names.append(join_path(key))
                self._depths.append(level + 1)
                self._parents.append(parent)
            out[level:] = code
            parent = code
        return out
