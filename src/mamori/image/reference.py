"""Image references: the Syft/Grype schemes, Docker names, and platforms.

``docker:NAME`` (daemon), ``docker-archive:PATH``, ``oci-dir:PATH[:TAG]``, ``registry:REF``; a bare
reference means "the daemon, then the registry".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mamori.image.errors import ImageError

SCHEMES = ("docker", "docker-archive", "oci-dir", "registry")
DEFAULT_REGISTRY = "docker.io"
_NAME = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_HOST = re.compile(r"^(\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]+)(:[0-9]{1,5})?$")
_MAX_REF = 1024


@dataclass(frozen=True, slots=True)
class Source:
    """Where to read an image from: one of SCHEMES, or ``""`` for daemon-then-registry."""

    scheme: str
    target: str


@dataclass(frozen=True, slots=True)
class DockerRef:
    """A parsed Docker reference; ``registry`` keeps its port, ``repository`` is the full path."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_source(ref: str) -> Source:
    if not ref or len(ref) > _MAX_REF:
        raise ImageError("image reference is empty or too long")
    scheme, sep, rest = ref.partition(":")
    if sep and scheme in SCHEMES and not rest.startswith("//"):
        if not rest:
            raise ImageError(f"{scheme}: needs a target")
        return Source(scheme, rest)
    return Source("", ref)


def parse_docker_ref(ref: str) -> DockerRef:
    """Parse ``[host[:port]/]name[:tag][@digest]`` the way the Docker CLI does."""
    if not ref or len(ref) > _MAX_REF or any(c.isspace() for c in ref):
        raise ImageError(f"invalid image reference {ref[:100]!r}")
    name, _, digest = ref.partition("@")
    registry = DEFAULT_REGISTRY
    first, slash, remainder = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, remainder
        if not _HOST.match(registry):
            raise ImageError(f"invalid registry host {registry!r}")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ImageError(f"invalid tag {tag!r}")
    if registry == DEFAULT_REGISTRY and "/" not in name:
        name = f"library/{name}"
    if not _NAME.match(name):
        raise ImageError(f"invalid repository name {name!r}")
    if digest:
        from mamori.image.digest import parse

        parse(digest)
    return DockerRef(registry, name, tag if tag or digest else "latest", digest or None)


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(re.fullmatch(r"[a-z0-9_]{1,32}", p) for p in parts):
        raise ImageError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
