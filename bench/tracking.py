"""Link tracking per message: `mailer.tracking.rewrite` against an `html.parser` round trip.

Renders the shipped newsletter (~27 KB of HTML, 19 links, 10 of them to track
with UTM parameters, the unsubscribe and preferences links left alone) for
every fixture customer, then, in one run and on the same messages:

* ``mailer``: :func:`mailer.tracking.rewrite.rewrite` (one search jumping
  between the constructs that matter, the ``<a>`` tags tokenised alone, only
  the changed spans rewritten);
* the naive way: ``html.parser.HTMLParser`` over the whole document, every
  token written back (attributes re-escaped), UTM merged with
  ``urllib.parse`` (``parse_qsl``/``urlencode``), honeypot and pixel added.

The composer renders the HTML part already quoted-printable encoded, so the
same comparison is made on those bytes: ``rewrite_encoded`` (only the
encoded lines holding a change are re-encoded) against decoding, rewriting
(either way) and encoding the whole part again.

Both sign with the same :class:`~mailer.tracking.links.LinkSigner`, so the
difference is the HTML work. Also timed: verifying a click path (what the
endpoint does per click) and classifying a message's hits.

    python bench/tracking.py [--n 20000] [--naive-n 1000]
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.content.mime import encoded_body, quoted_printable_piece  # noqa: E402
from mailer.content.render import decode_html  # noqa: E402
from mailer.inputs.customers import iter_customers  # noqa: E402
from mailer.prepared import prepare  # noqa: E402
from mailer.tokens import Signer, load_signing_key  # noqa: E402
from mailer.tracking.classify import classify  # noqa: E402
from mailer.tracking.hits import capture  # noqa: E402
from mailer.tracking.links import HONEYPOT, LinkSigner, MessageLinks, TrackingUrls  # noqa: E402
from mailer.tracking.rewrite import HONEYPOT_STYLE, RewriteOptions, rewrite, rewrite_encoded  # noqa: E402
from mailer.tracking.utm import Utm  # noqa: E402

FIXTURES = ROOT / "fixtures"
URLS = TrackingUrls("https://t.example-shop.test", LinkSigner([("2026a", b"bench key, thirty-two bytes long")]))
OPTIONS = RewriteOptions(
    utm=Utm(source="newsletter", campaign="autumn-newsletter-2026"),
    untracked_prefixes=("https://www.example-shop.test/email/unsubscribe/", "https://www.example-shop.test/email/preferences/"),
    honeypot="https://www.example-shop.test/",
)


def newsletters() -> list[tuple[str, bytes]]:
    """The sample newsletter's HTML part for every fixture customer: as text,
    and quoted-printable encoded as the composer renders it."""
    with tempfile.TemporaryDirectory() as state:
        with prepare(
            FIXTURES / "campaign.toml",
            feed=FIXTURES / "products.xml",
            layouts_dir=ROOT / "layouts",
            locales_dir=ROOT / "locales",
            signer=Signer(load_signing_key(state_dir=state)),
            key_file=Path(state) / "secret",
        ) as prepared:
            messages = [prepared.compose(c) for c in prepared.choices(iter_customers(FIXTURES / "customers.csv"))]
            return [(m.html, m.bodies.html_encoded or b"") for m in messages]


class NaiveRewriter(HTMLParser):
    """The round trip a user would write: parse everything, write everything back."""

    def __init__(self, links: MessageLinks, options: RewriteOptions) -> None:
        super().__init__(convert_charrefs=False)
        self.links = links
        self.options = options
        self.out: list[str] = []
        self.seen: dict[str, str] = {}
        self.tracked = 0

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: str) -> str:
        parts = [tag]
        for name, value in attrs:
            parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
        return "<" + " ".join(parts) + close

    def _track(self, url: str) -> str:
        if url in self.seen:
            return self.seen[url]
        index = len(self.seen) + 1
        utm = self.options.utm
        assert utm is not None
        scheme, netloc, path, query, fragment = urlsplit(url)
        pairs = parse_qsl(query, keep_blank_values=True)
        present = {name for name, _ in pairs}
        for name, value in (("utm_source", utm.source), ("utm_medium", utm.medium),
                            ("utm_campaign", utm.campaign), ("utm_content", str(index))):
            if name not in present:
                pairs.append((name, value))
        destination = urlunsplit((scheme, netloc, path, urlencode(pairs), fragment))
        tracked = self.seen[url] = self.links.click(index, destination)
        self.tracked += 1
        return tracked

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            attrs = [(n, v) for n, v in attrs if n != "data-track"]
            for i, (name, value) in enumerate(attrs):
                if name == "href" and value and value.startswith(("http://", "https://")) and not value.startswith(self.options.untracked_prefixes):
                    attrs[i] = (name, self._track(value))
                    break
        self.out.append(self._tag(tag, attrs, ">"))
        if tag == "body":
            url = self.links.click(HONEYPOT, str(self.options.honeypot))
            self.out.append(f'<a href="{url}" style="{HONEYPOT_STYLE}" aria-hidden="true" tabindex="-1"></a>')

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self._tag(tag, attrs, " />"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.out.append(f'<img src="{self.links.open()}" width="1" height="1" alt="">')
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")


def naive(page: str, links: MessageLinks) -> tuple[str, int]:
    rewriter = NaiveRewriter(links, OPTIONS)
    rewriter.feed(page)
    rewriter.close()
    return "".join(rewriter.out), rewriter.tracked


def fast(page: str, links: MessageLinks) -> tuple[str, int]:
    result = rewrite(page, links, OPTIONS)
    return result.html, len(result.links)


def naive_encoded(body: bytes, links: MessageLinks) -> tuple[bytes, int]:
    """What the composer would do without :func:`rewrite_encoded`: decode, round trip, encode it all."""
    page, tracked = naive(decode_html(body), links)
    return encoded_body(quoted_printable_piece(page)), tracked


def fast_then_encode(body: bytes, links: MessageLinks) -> tuple[bytes, int]:
    """Decode, :func:`rewrite`, encode it all."""
    result = rewrite(decode_html(body), links, OPTIONS)
    return encoded_body(quoted_printable_piece(result.html)), len(result.links)


def fast_encoded(body: bytes, links: MessageLinks) -> tuple[bytes, int]:
    result = rewrite_encoded(body, links, OPTIONS)
    return result.encoded, len(result.links)


def timed(step: Callable[[Any, MessageLinks], tuple[Any, int]], pages: list[Any], n: int) -> tuple[float, int]:
    """CPU seconds per message, the best of five rounds of ``n / 5`` messages
    (CPU time of this process: other work on a shared machine does not
    count, and only ever adds time), and the links tracked in the first message."""
    links_in_first = step(pages[0], URLS.personal(1))[1]
    rounds = []
    count = max(n // 5, 1)
    for round_ in range(5):
        start = time.process_time()
        for i in range(count):
            step(pages[i % len(pages)], URLS.personal(1_000_000 + round_ * count + i))
        rounds.append((time.process_time() - start) / count)
    return min(rounds), links_in_first


def per_call(action: Callable[[], object], n: int) -> float:
    """CPU seconds per call, the best of five rounds of ``n / 5`` calls."""
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(max(n // 5, 1)):
            action()
        rounds.append((time.process_time() - start) / max(n // 5, 1))
    return min(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages for mailer (default 20000)")
    parser.add_argument("--naive-n", type=int, default=1_000, help="messages for the naive way (default 1000)")
    args = parser.parse_args()

    bodies = newsletters()
    pages = [page for page, _ in bodies]
    encoded = [body for _, body in bodies]
    size = sum(map(len, pages)) / len(pages)
    print(f"{len(pages)} rendered newsletters, {size / 1024:.1f} KiB of HTML each on average")

    rows = [
        ("rewrite (HTML text)", *timed(fast, pages, args.n)),
        ("html.parser round trip", *timed(naive, pages, args.naive_n)),
        ("rewrite_encoded (QP body)", *timed(fast_encoded, encoded, args.n)),
        ("decode, rewrite, encode all", *timed(fast_then_encode, encoded, args.naive_n)),
        ("decode, html.parser, encode all", *timed(naive_encoded, encoded, args.naive_n)),
    ]
    assert len({links for _, _, links in rows}) == 1, rows
    print(f"links tracked per message: {rows[0][2]} (+ honeypot and pixel)")
    for label, seconds, _ in rows:
        print(f"{label:34} {seconds * 1e6:9.1f} µs/message {1 / seconds:9.0f} messages/s")
    print(f"rewrite is {rows[1][1] / rows[0][1]:.1f}x faster than the html.parser round trip")
    print(f"rewrite_encoded is {rows[4][1] / rows[2][1]:.1f}x faster than decode + html.parser + encode all, "
          f"{rows[3][1] / rows[2][1]:.1f}x faster than decode + rewrite + encode all")

    rewritten = [rewrite(page, URLS.personal(7 + i), OPTIONS) for i, page in enumerate(pages)]
    path = rewritten[0].links[3].tracked.removeprefix(URLS.base)
    resolve = per_call(lambda: URLS.resolve(path), 100_000)
    print(f"{'verify a click path':34} {resolve * 1e6:9.2f} µs/click")

    delivered = 1_790_000_000.0
    hits = [capture(at=delivered + 0.7, kind="open", message=1, user_agent="Mozilla/5.0", address="17.58.1.2")]
    hits += [capture(at=delivered + 1 + 0.1 * i, kind="click", message=1, link=i, user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/96",
                     address="20.93.14.7") for i in range(10)]
    hits += [capture(at=delivered + 3600, kind="click", message=1, link=4, user_agent="Mozilla/5.0 (iPhone) Safari/604.1",
                     address="81.2.69.160")]
    judge = per_call(lambda: classify(hits, delivered_at=delivered, links=9), 20_000)
    print(f"{'classify a message (12 hits)':34} {judge * 1e6:9.1f} µs/message")


if __name__ == "__main__":
    main()
