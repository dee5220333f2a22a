"""Registry authentication: ``WWW-Authenticate`` challenges, Basic and Bearer token flows.

Credentials are never sent over plain HTTP except to a loopback address, and never logged.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mamori.image.errors import ImageError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_MAX_HEADER = 8192


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls) -> Credentials | None:
        user = os.environ.get("MAMORI_REGISTRY_USERNAME")
        pw = os.environ.get("MAMORI_REGISTRY_PASSWORD")
        return cls(user, pw or "") if user else None


MAX_DOCKER_CONFIG = 1 << 20
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def docker_config_credentials(registry: str) -> Credentials | None:
    """``auths.<registry>.auth`` of ``$DOCKER_CONFIG/config.json`` (else ``~/.docker/config.json``).

    Credential helpers (``credsStore``, ``credHelpers``) are not run; such entries are skipped.
    """
    import base64
    import binascii
    import json
    from pathlib import Path

    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    try:
        with open(os.path.join(base, "config.json"), "rb") as fh:
            raw = fh.read(MAX_DOCKER_CONFIG + 1)
        doc = json.loads(raw) if len(raw) <= MAX_DOCKER_CONFIG else None
    except (OSError, ValueError):
        return None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    keys = DOCKER_HUB_KEYS if registry == "docker.io" else (registry, f"https://{registry}", f"http://{registry}")
    for key in keys:
        entry = auths.get(key)
        token = entry.get("auth") if isinstance(entry, dict) else None
        if isinstance(token, str) and token:
            try:
                user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return Credentials(user, password) if sep and user else None
    return None


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: "basic", "bearer"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse an RFC 7235 ``WWW-Authenticate`` value; several challenges may share one header."""
    if len(header) > _MAX_HEADER:
        raise ImageError("WWW-Authenticate header is too long")
    out: list[Challenge] = []
    i, n = 0, len(header)
    current: Challenge | None = None
    while i < n:
        while i < n and header[i] in " \t,":
            i += 1
        m = _TOKEN.match(header, i)
        if not m:
            if i < n:
                raise ImageError(f"malformed WWW-Authenticate header near {header[i:i + 20]!r}")
            break
        word, j = m.group(0), m.end()
        k = j
        while k < n and header[k] in " \t":
            k += 1
        if k < n and header[k] == "=" and current is not None:
            k += 1
            while k < n and header[k] in " \t":
                k += 1
            value, i = _value(header, k)
            current.params[word.lower()] = value
            continue
        current = Challenge(word.lower(), {})
        out.append(current)
        i = j
    return out


def _value(header: str, i: int) -> tuple[str, int]:
    if i < len(header) and header[i] == '"':
        buf: list[str] = []
        i += 1
        while i < len(header):
            c = header[i]
            if c == "\\" and i + 1 < len(header):
                buf.append(header[i + 1])
                i += 2
                continue
            if c == '"':
                return "".join(buf), i + 1
            buf.append(c)
            i += 1
        raise ImageError("unterminated quoted string in WWW-Authenticate header")
    m = _TOKEN.match(header, i)
    if not m:
        raise ImageError("missing value in WWW-Authenticate header")
    return m.group(0), m.end()


def basic_header(creds: Credentials) -> str:
    import base64

    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_realm(realm: str, sending_credentials: bool) -> None:
    """A token realm must be http(s); credentials go over plain HTTP only to loopback."""
    parts = urlsplit(realm)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageError(f"token realm {realm[:200]!r} is not an http(s) URL")
    if sending_credentials and parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ImageError(f"refusing to send credentials to the plain-HTTP token realm {parts.hostname}")
