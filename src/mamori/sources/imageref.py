"""Image references normalised the way Docker does, so rules compare like with like.

``nginx`` and ``docker.io/library/nginx`` are the same image; ``localhost:5000/app`` names a
registry, ``user/app`` does not. The rules are those of the distribution reference library
that the Docker CLI uses: the first path component is a registry only when it contains a
``.`` or a ``:``, is ``localhost``, or has upper-case letters.

Parsing never raises: sources meet hostile or templated text (``${REGISTRY}/app``) and a
best-effort reference is more useful to the rules than none; :func:`image_ref_problem`
says what is wrong with a reference when a caller wants to report it.
"""

from __future__ import annotations

import re

from mamori.model import ImageRef

DEFAULT_REGISTRY = "docker.io"
_LEGACY_REGISTRIES = {"index.docker.io", "registry-1.docker.io"}
MAX_REF_LENGTH = 4096
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Za-z=_-]{8,}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


def _split(raw: str) -> tuple[str, str | None, str | None]:
    name, at, digest = raw.partition("@")
    tag: str | None = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, (digest if at else None)


def _registry(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry, repository = first, rest
    else:
        registry, repository = DEFAULT_REGISTRY, name
    if registry in _LEGACY_REGISTRIES:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and repository and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def parse_image_ref(text: str) -> ImageRef:
    """Parse ``[registry/]repository[:tag][@digest]`` with Docker's defaults (never raises)."""
    raw = text.strip()[:MAX_REF_LENGTH]
    name, tag, digest = _split(raw)
    registry, repository = _registry(name)
    return ImageRef(raw=raw, registry=registry, repository=repository, tag=tag or None, digest=digest or None)


def image_ref_problem(text: str) -> str | None:
    """Why ``text`` is not a valid image reference, or None when it is one."""
    raw = text.strip()
    if not raw:
        return "empty image reference"
    if len(raw) > MAX_REF_LENGTH:
        return "image reference too long"
    if any(c.isspace() for c in raw):
        return "image reference contains whitespace"
    name, tag, digest = _split(raw)
    if digest is not None and not _DIGEST.match(digest):
        return "invalid digest"
    if tag is not None and not _TAG.match(tag):
        return "invalid tag"
    registry, repository = _registry(name)
    if not _PATH.match(repository):
        return "invalid repository name (lower-case letters, digits and . _ - / only)"
    if registry != DEFAULT_REGISTRY and not re.match(r"^[A-Za-z0-9.-]+(?::\d+)?$", registry):
        return "invalid registry host"
    return None
