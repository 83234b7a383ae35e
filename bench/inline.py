"""CSS inliners on a compiled layout: css-inline (chosen) against premailer.

Inlining runs once per layout in `mailer`, so its speed matters less than in
a per-recipient pipeline; still, the two are measured on the same MJML output
(the newsletter with its `<mj-style inline="inline">` rules) and checked to
keep `@media` rules in `<style>`.

    python bench/inline.py [--n 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import css_inline  # noqa: E402
import premailer  # noqa: E402
from mjml import mjml2html  # noqa: E402

from mailer.content.layouts import DEFAULT_LAYOUTS_DIR, LayoutLibrary, _split_inline_css, _strip_markers  # noqa: E402
from mailer.content.render import make_environment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    library = LayoutLibrary(DEFAULT_LAYOUTS_DIR, environment_factory=make_environment)
    _, structure, *_ = library._expand("newsletter")
    mjml_source, css = _split_inline_css(_strip_markers(structure))
    html = mjml2html(mjml_source, fonts={})
    with_style = html.replace("</head>", f"<style>{css}</style></head>")

    inliner = css_inline.CSSInliner(inline_style_tags=False, keep_style_tags=True, extra_css=css,
                                    load_remote_stylesheets=False)
    started = time.perf_counter()
    for _ in range(args.n):
        fast = inliner.inline(html)
    fast_ms = (time.perf_counter() - started) / args.n * 1e3

    started = time.perf_counter()
    for _ in range(args.n):
        slow = premailer.transform(with_style, keep_style_tags=True, disable_validation=True,
                                   cssutils_logging_level=50)
    slow_ms = (time.perf_counter() - started) / args.n * 1e3

    print(f"layout HTML: {len(html) / 1024:.1f} KB")
    print(f"css-inline : {fast_ms:7.2f} ms per layout; @media kept: {'@media' in fast}")
    print(f"premailer  : {slow_ms:7.2f} ms per layout; @media kept: {'@media' in slow}")
    print(f"ratio      : css-inline is {slow_ms / fast_ms:.0f}x premailer")


if __name__ == "__main__":
    main()
