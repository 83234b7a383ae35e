"""mailer.lint.images: the image format of an address."""

from __future__ import annotations

import pytest

from mailer.lint.images import IMAGE_FORMAT_SLUGS, image_formats


@pytest.mark.parametrize(("url", "slugs"), [
    ("https://cdn.test/a.png", ("image-png",)),
    ("https://cdn.test/a.JPEG?v=2", ("image-jpg",)),
    ("https://cdn.test/a.jpg#frag", ("image-jpg",)),
    ("//cdn.test/anim.gif", ("image-gif",)),
    ("hero.avif", ("image-avif",)),
    ("https://cdn.test/icon.svg", ("image-svg",)),
    ("https://cdn.test/clip.mp4", ("image-mp4",)),
    ("https://cdn.test/photo.heic", ("image-heif",)),
    ("data:image/webp;base64,UklGRg==", ("image-base64", "image-webp")),
    ("data:;base64,AAAA", ("image-base64",)),
    ("data:image/svg+xml,%3Csvg%2F%3E", ("image-svg",)),
    ("https://cdn.test/image?id=7", ()),
    ("https://cdn.test/file.txt", ()),
    ("https://cdn.test/v1.2/image", ()),
    ("http://[::1", ()),
])  # fmt: skip
def test_format_from_extension_or_media_type(url: str, slugs: tuple[str, ...]) -> None:
    assert image_formats(url) == slugs


def test_every_slug_given_is_listed() -> None:
    assert {"image-png", "image-jpg", "image-base64", "image-mp4"} <= IMAGE_FORMAT_SLUGS
    assert all(slug.startswith("image-") for slug in IMAGE_FORMAT_SLUGS)
