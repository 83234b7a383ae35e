"""Image formats: which caniemail ``image-*`` feature an image address uses.

Mail clients differ in the formats they show (WebP, AVIF, SVG...) and in
whether they show images embedded as ``data:`` URIs at all. The format is
read from the ``data:`` media type, else from the file extension of the
address's path.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["IMAGE_FORMAT_SLUGS", "image_formats"]

_EXTENSIONS: dict[str, str] = {
    "png": "image-png",
    "apng": "image-apng",
    "jpg": "image-jpg",
    "jpeg": "image-jpg",
    "jpe": "image-jpg",
    "jfif": "image-jpg",
    "gif": "image-gif",
    "webp": "image-webp",
    "svg": "image-svg",
    "svgz": "image-svg",
    "avif": "image-avif",
    "bmp": "image-bmp",
    "ico": "image-ico",
    "tif": "image-tiff",
    "tiff": "image-tiff",
    "heic": "image-heif",
    "heif": "image-heif",
    "hdr": "image-hdr",
    "mp4": "image-mp4",
    "m4v": "image-mp4",
}
_MEDIA_TYPES: dict[str, str] = {
    "image/png": "image-png",
    "image/apng": "image-apng",
    "image/jpeg": "image-jpg",
    "image/jpg": "image-jpg",
    "image/gif": "image-gif",
    "image/webp": "image-webp",
    "image/svg+xml": "image-svg",
    "image/avif": "image-avif",
    "image/bmp": "image-bmp",
    "image/x-icon": "image-ico",
    "image/vnd.microsoft.icon": "image-ico",
    "image/tiff": "image-tiff",
    "image/heic": "image-heif",
    "image/heif": "image-heif",
    "video/mp4": "image-mp4",
}

IMAGE_FORMAT_SLUGS: frozenset[str] = frozenset({*_EXTENSIONS.values(), *_MEDIA_TYPES.values(), "image-base64"})
"""Every slug :func:`image_formats` can give."""


def image_formats(url: str) -> tuple[str, ...]:
    """The caniemail slugs of the image at ``url``: its format, and ``image-base64`` for base64 data URIs.

    >>> image_formats("https://cdn.shop.test/hero.WEBP?w=600#x")
    ('image-webp',)
    >>> image_formats("data:image/png;base64,iVBORw0KGgo=")
    ('image-base64', 'image-png')
    >>> image_formats("data:image/svg+xml;utf8,<svg/>")
    ('image-svg',)
    >>> image_formats("https://cdn.shop.test/image?id=4"), image_formats("")
    ((), ())
    """
    url = url.strip()
    if url[:5].lower() == "data:":
        header = url[5:].split(",", 1)[0].lower()
        media_type, *parameters = (part.strip() for part in header.split(";"))
        formats = (_MEDIA_TYPES[media_type],) if media_type in _MEDIA_TYPES else ()
        return ("image-base64", *formats) if "base64" in parameters else formats
    try:
        path = urlsplit(url).path
    except ValueError:
        return ()
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return ()
    found = _EXTENSIONS.get(name.rsplit(".", 1)[-1].lower())
    return (found,) if found else ()
