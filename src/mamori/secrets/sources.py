"""Where a container's secrets actually are: mounted files, ``NAME_FILE``, the environment, providers.

Each source answers ``read(name)`` with the bytes and an :class:`Origin`, or ``None`` when it
does not hold the name, and ``version(name)`` with a token that changes when the value may
have changed (file identity and mtime, the Kubernetes ``..data`` target), so a store can
re-read a rotated secret without re-reading unchanged ones. Providers (Vault, a cloud secret
manager) implement :class:`SecretProvider` and are wrapped by :class:`ProviderSource`.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mamori.secrets.value import MAX_SECRET, Origin, SourceKind

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$")  # a file name without separators, no leading dot
DOCKER_SECRETS_DIR = "/run/secrets"
K8S_DATA_LINK = "..data"  # kubelet's AtomicWriter: NAME -> ..data/NAME, ..data -> ..2026_11_26_...


class SecretError(Exception):
    """A secret could not be read (the message names the secret and location, never the value)."""


class SecretNotFound(SecretError, KeyError):
    def __init__(self, name: str, tried: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.tried = tried

    def __str__(self) -> str:
        return f"secret {self.name!r} not found (tried: {', '.join(self.tried) or 'no source'})"


def check_name(name: str) -> str:
    if not NAME.match(name) or ".." in name:
        raise SecretError(f"invalid secret name {name[:80]!r}: letters, digits, '.', '_', '-' only")
    return name


def env_name(name: str) -> str:
    """``db-password`` -> ``DB_PASSWORD`` (the environment variable the same secret would use)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


@dataclass(frozen=True, slots=True)
class Found:
    value: bytes
    origin: Origin
    version: Hashable | None


@runtime_checkable
class SecretSource(Protocol):
    """One place secrets may be; ``label`` says which, for error messages and search orders."""

    label: str

    def read(self, name: str) -> Found | None: ...

    def version(self, name: str) -> Hashable | None:
        """A token that changes when ``name`` may have changed; ``None`` when unknown (the store re-reads)."""
        ...


@runtime_checkable
class SecretProvider(Protocol):
    """The small interface a remote secret manager implements: one value by name, with an optional version."""

    label: str

    def fetch(self, name: str) -> tuple[bytes, str] | None:
        """(value, version) or ``None`` when the provider has no such secret; raise SecretError when unreachable."""
        ...


def read_bounded(path: str) -> bytes:
    """A regular file's bytes, refusing devices, FIFOs and anything over MAX_SECRET."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise SecretError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretError(f"{path} is not a regular file")
        if st.st_size > MAX_SECRET:
            raise SecretError(f"{path} is larger than {MAX_SECRET} bytes")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_SECRET:
                raise SecretError(f"{path} is larger than {MAX_SECRET} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _strip(value: bytes) -> bytes:
    """One trailing newline (``echo x > file``, ``kubectl create secret --from-file``) is not part of the value."""
    if value.endswith(b"\r\n"):
        return value[:-2]
    return value[:-1] if value.endswith(b"\n") else value


def _file_version(path: str) -> Hashable | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class DirectorySource:
    """``DIR/NAME`` files: Docker and Compose secrets (``/run/secrets``) or any mounted directory."""

    def __init__(self, path: str = DOCKER_SECRETS_DIR, *, label: str = "", strip_newline: bool = True) -> None:
        self.path = path
        self.label = label or f"dir:{path}"
        self.strip_newline = strip_newline

    def _path(self, name: str) -> str:
        return os.path.join(self.path, check_name(name))

    def read(self, name: str) -> Found | None:
        path = self._path(name)
        if not os.path.lexists(path):
            return None
        version = self.version(name)
        value = read_bounded(path)
        return Found(_strip(value) if self.strip_newline else value, Origin(SourceKind.FILE, path), version)

    def version(self, name: str) -> Hashable | None:
        return _file_version(self._path(name))


class KubernetesSource(DirectorySource):
    """A Kubernetes Secret volume: reads through the ``..data`` link so one read sees one generation.

    The kubelet writes a new timestamped directory, then renames a new ``..data`` symlink over
    the old one; ``NAME`` is a symlink to ``..data/NAME``. Reading ``DIR/<target of ..data>/NAME``
    after resolving the link once avoids mixing two generations, and the link target is part of
    the version, so an update is seen even when mtimes are equal.
    """

    def __init__(self, path: str, *, label: str = "", strip_newline: bool = False) -> None:
        super().__init__(path, label=label or f"kubernetes:{path}", strip_newline=strip_newline)

    def _generation(self) -> str | None:
        try:
            return os.readlink(os.path.join(self.path, K8S_DATA_LINK))
        except OSError:
            return None

    def read(self, name: str) -> Found | None:
        check_name(name)
        for _ in range(3):  # the old generation may be deleted between readlink and open: retry
            gen = self._generation()
            path = os.path.join(self.path, gen, name) if gen and "/" not in gen else self._path(name)
            if not os.path.lexists(path):
                if gen and self._generation() != gen:
                    continue
                return None
            try:
                value = read_bounded(path)
            except SecretError:
                if gen and self._generation() != gen:
                    continue
                raise
            origin = Origin(SourceKind.KUBERNETES, self._path(name), gen or "")
            return Found(_strip(value) if self.strip_newline else value, origin, (gen, _file_version(path)))
        raise SecretError(f"{self._path(name)} kept changing while being read")

    def version(self, name: str) -> Hashable | None:
        gen = self._generation()
        path = os.path.join(self.path, gen, check_name(name)) if gen and "/" not in gen else self._path(name)
        return (gen, _file_version(path))


class EnvFileSource:
    """``NAME_FILE=/path``: the convention of the official images (postgres, mysql, ...)."""

    label = "env-file"

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = environ

    def _path(self, name: str) -> tuple[str, str | None]:
        var = env_name(check_name(name)) + "_FILE"
        env = self.environ if self.environ is not None else os.environ
        return var, env.get(var)

    def read(self, name: str) -> Found | None:
        var, path = self._path(name)
        if not path:
            return None
        version = _file_version(path)
        return Found(_strip(read_bounded(path)), Origin(SourceKind.ENV_FILE, f"${var}={path}"), version)

    def version(self, name: str) -> Hashable | None:
        path = self._path(name)[1]
        return (path, _file_version(path)) if path else None


class EnvSource:
    """``NAME`` in the environment: allowed, reported as weaker (the returned value's origin says so)."""

    label = "env"

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = environ

    def read(self, name: str) -> Found | None:
        var = env_name(check_name(name))
        env = self.environ if self.environ is not None else os.environ
        value = env.get(var)
        if value is None:
            return None
        raw = value.encode("utf-8", "surrogateescape")
        if len(raw) > MAX_SECRET:
            raise SecretError(f"${var} is larger than {MAX_SECRET} bytes")
        return Found(raw, Origin(SourceKind.ENV, f"${var}"), None)

    def version(self, name: str) -> Hashable | None:
        return None


class ProviderSource:
    """Adapts a :class:`SecretProvider` to a source; a value is re-fetched at most every ``ttl`` seconds."""

    def __init__(self, provider: SecretProvider, *, ttl: float = 30.0) -> None:
        self.provider = provider
        self.label = provider.label
        self.ttl = max(ttl, 0.001)

    def read(self, name: str) -> Found | None:
        got = self.provider.fetch(name)
        if got is None:
            return None
        value, version = got
        if len(value) > MAX_SECRET:
            raise SecretError(f"{self.label} {name}: larger than {MAX_SECRET} bytes")
        return Found(value, Origin(SourceKind.PROVIDER, f"{self.label} {name}", version), self.version(name))

    def version(self, name: str) -> Hashable | None:
        return int(time.monotonic() // self.ttl)  # a new "version" every ttl seconds: re-fetch then


def default_sources(environ: dict[str, str] | None = None) -> list[SecretSource]:
    """Mounted files first, then ``NAME_FILE``, then the environment (the weakest).

    ``$MAMORI_SECRETS_DIRS`` (``:``-separated) adds Kubernetes Secret volumes before
    ``/run/secrets``; a directory holding a ``..data`` link is read as one.
    """
    env = environ if environ is not None else os.environ
    out: list[SecretSource] = []
    for d in filter(None, env.get("MAMORI_SECRETS_DIRS", "").split(":")):
        out.append(KubernetesSource(d) if os.path.lexists(os.path.join(d, K8S_DATA_LINK)) else DirectorySource(d))
    out += [DirectorySource(DOCKER_SECRETS_DIR), EnvFileSource(environ), EnvSource(environ)]
    return out
