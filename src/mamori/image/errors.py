"""One exception type for every way an image cannot be read, so callers print one clear line."""

from __future__ import annotations


class ImageError(Exception):
    """The image cannot be read or is not what it claims to be (bad digest, hostile layer, auth)."""
