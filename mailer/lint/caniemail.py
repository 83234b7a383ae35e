"""The caniemail.com support data: which email clients support which HTML and CSS features.

caniemail.com publishes its tests as one JSON file (``/api/data.json``, also
``data/caniemail.json`` in the npm package ``caniemail``)::

    {"api_version": "1.0.4", "last_update_date": "2025-09-09 18:08:06 +0000",
     "nicenames": {"family": {"gmail": "Gmail"}, "platform": {"ios": "iOS"}, ...},
     "data": [{"slug": "css-display-flex", "title": "display:flex", "category": "css",
               "stats": {"gmail": {"ios": {"2019-02": "y", "2020-11": "a #1"}}},
               "notes_by_num": {"1": "Not supported with non Google accounts."}, ...}]}

A support value is ``y`` (yes), ``n`` (no), ``a`` (partly) or ``u``
(unknown), optionally followed by note numbers (``"a #1 #3"``). The versions
of a platform are listed oldest first: the latest tested one is the *last
key* (``"16.80"`` after ``"2019-02"`` for Outlook on macOS), which is why the
order of the JSON object is kept rather than the keys sorted.

The file is the users' to fetch and keep current; :func:`load_caniemail`
reads it from a path they configure (it is not bundled), and
:func:`parse_caniemail` checks its shape so that a broken file fails once,
clearly, instead of somewhere in a check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Literal, cast

from mailer.errors import ConfigError
from mailer.lint.clients import ClientTarget, default_targets

__all__ = ["CanIEmail", "Feature", "Support", "Verdict", "load_caniemail", "parse_caniemail"]

Support = Literal["y", "n", "a", "u"]

SUPPORT_WORDS: dict[str, str] = {"y": "supported", "a": "partial", "n": "not supported", "u": "unknown"}

_SUPPORT = re.compile(r"\s*([ynau])((?:\s+#\d+)*)\s*")
_NOTE = re.compile(r"#(\d+)")
_DOWNLOAD = "download https://www.caniemail.com/api/data.json, or run 'npm pack caniemail' and take data/caniemail.json"


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one client platform, at its latest tested version, supports a feature.

    >>> verdict = Verdict("gmail", "android", "2020-11", "a", ("Not supported with non Google accounts.",),
    ...                   client="Gmail Android")
    >>> verdict.label
    'Gmail Android 2020-11'
    >>> verdict.describe()
    'Gmail Android 2020-11: partial (note: Not supported with non Google accounts.)'
    """

    family: str
    platform: str
    version: str
    support: Support
    notes: tuple[str, ...] = ()
    client: str = ""
    """The family and platform as people say them (``"Outlook Windows"``)."""

    @property
    def label(self) -> str:
        """The client and its version (``"Outlook Windows 2019"``)."""
        return f"{self.client or f'{self.family} {self.platform}'} {self.version}"

    def describe(self) -> str:
        """The label, the verdict and its notes, as a line a designer reads."""
        text = f"{self.label}: {SUPPORT_WORDS[self.support]}"
        if self.notes:
            text += f" ({'note' if len(self.notes) == 1 else 'notes'}: {'; '.join(self.notes)})"
        return text


@dataclass(frozen=True, slots=True, eq=False)
class Feature:
    """One feature of the data: ``stats`` is family → platform → version → support value."""

    slug: str
    title: str
    category: str
    stats: Mapping[str, Mapping[str, Mapping[str, str]]]
    notes_by_num: Mapping[str, str]
    url: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    notes: str = ""


class CanIEmail:
    """The support data, by feature slug, with the names people know clients by.

    >>> data = parse_caniemail({"nicenames": {"family": {"outlook": "Outlook"}, "platform": {"windows": "Windows"}},
    ...     "data": [{"slug": "css-display-flex", "title": "display:flex", "category": "css",
    ...               "stats": {"outlook": {"windows": {"2016": "n", "2019": "n #1"}}},
    ...               "notes_by_num": {"1": "Use tables."}}]})
    >>> [v.describe() for v in data.verdicts("css-display-flex")]
    ['Outlook Windows 2019: not supported (note: Use tables.)']
    >>> data.platforms
    {'outlook': ('windows',)}
    """

    def __init__(
        self,
        features: Mapping[str, Feature],
        *,
        nicenames: Mapping[str, Mapping[str, str]] | None = None,
        last_update_date: str = "",
        api_version: str = "",
        source: str | None = None,
    ) -> None:
        self.features: dict[str, Feature] = dict(features)
        self.nicenames: dict[str, dict[str, str]] = {k: dict(v) for k, v in (nicenames or {}).items()}
        self.last_update_date = last_update_date
        self.api_version = api_version
        self.source = source
        """The file the data was read from, when it was."""
        platforms: dict[str, dict[str, None]] = {}
        for feature in self.features.values():
            for family, by_platform in feature.stats.items():
                platforms.setdefault(family, {}).update(dict.fromkeys(by_platform))
        self.platforms: dict[str, tuple[str, ...]] = {f: tuple(p) for f, p in platforms.items()}
        """Every client family of the data and its platforms, in the data's order."""
        self._verdicts: dict[tuple[str, tuple[ClientTarget, ...]], tuple[Verdict, ...]] = {}

    def __repr__(self) -> str:
        return f"<CanIEmail {len(self.features)} features, updated {self.last_update_date or 'unknown'}>"

    def client_name(self, family: str, platform: str) -> str:
        """``"Outlook Windows"`` for ``("outlook", "windows")``; a platform named
        after its family stands alone (``"Outlook.com"``)."""
        family_name = self.nicenames.get("family", {}).get(family, family)
        platform_name = self.nicenames.get("platform", {}).get(platform, platform)
        return platform_name if platform_name.startswith(family_name) else f"{family_name} {platform_name}"

    def verdicts(self, slug: str, clients: Sequence[ClientTarget] | None = None) -> list[Verdict]:
        """The verdict of each targeted platform (default: :data:`~mailer.lint.clients.DEFAULT_CLIENTS`)
        at its latest tested version; platforms the feature was not tested on are left out.

        A note number the feature does not explain reads as a pointer to its page.
        """
        targets = default_targets() if clients is None else tuple(clients)
        key = (slug, targets)
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts[key] = tuple(self._judge(slug, targets))
        return list(found)

    def _judge(self, slug: str, targets: tuple[ClientTarget, ...]) -> list[Verdict]:
        try:
            feature = self.features[slug]
        except KeyError:
            raise KeyError(f"no feature {slug!r} in the caniemail data") from None
        verdicts: list[Verdict] = []
        seen: set[tuple[str, str]] = set()
        for target in targets:
            by_platform = feature.stats.get(target.family, {})
            for platform in target.platforms(list(by_platform)):
                versions = by_platform[platform]
                if not versions or (target.family, platform) in seen:
                    continue
                seen.add((target.family, platform))
                version = list(versions)[-1]
                value = versions[version]
                match = cast(re.Match[str], _SUPPORT.fullmatch(value))
                notes = tuple(
                    feature.notes_by_num.get(number, f"note #{number} is not in the data; see {feature.url or slug}")
                    for number in _NOTE.findall(match.group(2))
                )
                verdicts.append(Verdict(target.family, platform, version, cast(Support, match.group(1)), notes,
                                        client=self.client_name(target.family, platform)))  # fmt: skip
        return verdicts


def load_caniemail(path: str | PathLike[str]) -> CanIEmail:
    """Read caniemail.com's ``data.json`` from ``path``.

    A missing or unreadable file, invalid JSON (with its line and column) or
    data of the wrong shape is a :class:`~mailer.errors.ConfigError` that
    names the file and what is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no caniemail data there; {_DOWNLOAD}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the caniemail data: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the caniemail data is not UTF-8 text ({err.reason} at byte {err.start})") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}, line {err.lineno}, column {err.colno}: not valid JSON: {err.msg}") from err
    return parse_caniemail(data, source=str(path))


def parse_caniemail(data: Any, *, source: str | None = None) -> CanIEmail:
    """The support data from the decoded JSON, its shape checked.

    ``source`` names the file in errors.

    >>> parse_caniemail({"data": [{"slug": "html-div", "title": "<div>", "category": "html",
    ...                            "stats": {"gmail": {"ios": {"2020-01": "maybe"}}}}]}, source="data.json")
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: data.json: data[0] ('html-div'): stats.gmail.ios.2020-01 is 'maybe', expected y, n, a or u, optionally with note numbers ('a #1')
    """
    where = source or "caniemail data"

    def fail(reason: str) -> ConfigError:
        return ConfigError(f"{where}: {reason}")

    if not isinstance(data, dict):
        raise fail(f"expected a JSON object with a 'data' list (caniemail's API format), got {_kind(data)}")
    features_data = data.get("data")
    if not isinstance(features_data, list):
        raise fail(f"'data' must be a list of features, got {_kind(features_data)}")
    nicenames = data.get("nicenames") or {}
    if not isinstance(nicenames, dict) or not all(_strings(v) for v in nicenames.values()):
        raise fail("'nicenames' must be an object of objects of names (family, platform, support, category)")
    features: dict[str, Feature] = {}
    for index, item in enumerate(features_data):
        feature = _feature(item, lambda reason: fail(f"data[{index}]{_slug(item)}: {reason}"))
        if feature.slug in features:
            raise fail(f"data[{index}]: feature {feature.slug!r} appears twice")
        features[feature.slug] = feature
    return CanIEmail(
        features,
        nicenames=nicenames,
        last_update_date=str(data.get("last_update_date") or ""),
        api_version=str(data.get("api_version") or ""),
        source=source,
    )


def _feature(item: Any, fail: Callable[[str], ConfigError]) -> Feature:
    if not isinstance(item, dict):
        raise fail(f"expected a feature object, got {_kind(item)}")
    for key in ("slug", "title", "category"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise fail(f"{key!r} must be a non-empty string, got {_kind(item.get(key))}")
    stats = item.get("stats")
    if not isinstance(stats, dict):
        raise fail(f"'stats' must be an object of client → platform → version → support, got {_kind(stats)}")
    for family, by_platform in stats.items():
        if not isinstance(by_platform, dict):
            raise fail(f"stats.{family} must be an object of platforms, got {_kind(by_platform)}")
        for platform, versions in by_platform.items():
            if not isinstance(versions, dict):
                raise fail(f"stats.{family}.{platform} must be an object of versions, got {_kind(versions)}")
            for version, value in versions.items():
                if not isinstance(value, str) or not _SUPPORT.fullmatch(value):
                    raise fail(f"stats.{family}.{platform}.{version} is {value!r}, expected y, n, a or u, "
                               "optionally with note numbers ('a #1')")  # fmt: skip
    notes_by_num = item.get("notes_by_num") or {}
    if not _strings(notes_by_num):
        raise fail("'notes_by_num' must be an object of note number → text")
    for key in ("url", "description", "keywords", "notes"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise fail(f"{key!r} must be a string, got {_kind(item[key])}")
    return Feature(
        slug=item["slug"],
        title=item["title"],
        category=item["category"],
        stats=stats,
        notes_by_num=notes_by_num,
        url=item.get("url") or "",
        description=item.get("description") or "",
        keywords=tuple(k.strip() for k in (item.get("keywords") or "").split(",") if k.strip()),
        notes=item.get("notes") or "",
    )


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _slug(item: Any) -> str:
    slug = item.get("slug") if isinstance(item, dict) else None
    return f" ({slug!r})" if isinstance(slug, str) else ""


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
