"""``Secret``: a value that can be used but not accidentally shown.

``repr``, ``str``, f-strings, ``%`` formatting and therefore logging and traceback locals all
show ``Secret('db-password' from file /run/secrets/db-password, sha256:1a2b… (12 chars))`` -
the name, the source and a redacted fingerprint (:func:`mamori.secrets.redact.fingerprint`),
never the value. ``json.dumps`` raises ``TypeError`` (the default for unknown types; a
redacted dump would silently lose the value). Pickling and copying are refused so the value
cannot travel to disk or another process by accident. ``reveal()`` / ``reveal_bytes()`` give
the value explicitly.

The bytes live in one ``bytearray`` that is overwritten with zeros on ``close()``, on context
exit and (best effort) on garbage collection. This is best effort only: ``reveal()`` returns
an ordinary ``str``/``bytes`` that Python copies and never wipes, and the source (a file, an
HTTP response) may leave copies in freed memory.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import threading
import weakref
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import NoReturn

from mamori.secrets.redact import fingerprint

MAX_SECRET = 1 << 20  # 1 MiB: larger "secrets" are refused, whatever the source


class SourceKind(StrEnum):
    """Where a value came from; ``ENV`` is allowed but weaker (see :attr:`Origin.weak`)."""

    FILE = "file"  # a mounted file: Docker/Compose secret, any directory
    KUBERNETES = "kubernetes"  # a Kubernetes Secret volume (``..data`` symlink swap)
    ENV_FILE = "env-file"  # NAME_FILE names a file
    ENV = "env"  # the value itself is in an environment variable
    PROVIDER = "provider"  # Vault or another pluggable provider
    LITERAL = "literal"  # built in code (tests, a passphrase typed at a prompt)


@dataclass(frozen=True, slots=True)
class Origin:
    """The source of a value, safe to print: a kind and a location (a path, a variable name, a URL path)."""

    kind: SourceKind
    location: str
    version: str = ""  # the provider's version (Vault KV metadata.version), when it has one

    @property
    def weak(self) -> bool:
        """Environment variables leak: child processes, /proc/PID/environ, ``docker inspect``, crash reports."""
        return self.kind is SourceKind.ENV

    def __str__(self) -> str:
        return f"{self.kind.value} {self.location}" + (f" (version {self.version})" if self.version else "")


class SecretClosed(ValueError):
    """The value was wiped by ``close()``."""


_LIVE: dict[int, weakref.ref[Secret]] = {}  # values the log filter knows (by identity); see logfilter.py
_LIVE_LOCK = threading.Lock()


def live_secrets() -> list[Secret]:
    """The open secrets read through the library (for :class:`mamori.secrets.RedactingFilter`)."""
    with _LIVE_LOCK:
        refs = list(_LIVE.values())
    return [s for s in (r() for r in refs) if s is not None and not s.closed]


def _drop(key: int, _ref: object) -> None:
    _forget(key)


def _forget(key: int) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(key, None)


class Secret:
    """A secret value with a name and an origin; never shown, wiped on ``close()``."""

    __slots__ = ("__weakref__", "_buf", "_closed", "_fp", "_name", "_origin")

    def __init__(self, value: bytes | bytearray | str, *, name: str = "secret",
                 origin: Origin | None = None, track: bool = True) -> None:
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        if len(raw) > MAX_SECRET:
            raise ValueError(f"secret {name!r} is larger than {MAX_SECRET} bytes")
        self._buf = bytearray(raw)
        self._name = name
        self._origin = origin or Origin(SourceKind.LITERAL, "code")
        self._fp = fingerprint(raw.decode("utf-8", "surrogateescape"))
        self._closed = False
        if track:
            key = id(self)
            with _LIVE_LOCK:
                _LIVE[key] = weakref.ref(self, functools.partial(_drop, key))

    # --- using the value --------------------------------------------------------------------
    def reveal(self) -> str:
        """The value as text (UTF-8; undecodable bytes as surrogate escapes). A copy that is never wiped."""
        return self.reveal_bytes().decode("utf-8", "surrogateescape")

    def reveal_bytes(self) -> bytes:
        """The value as bytes. A copy that is never wiped."""
        if self._closed:
            raise SecretClosed(f"secret {self._name!r} was closed")
        return bytes(self._buf)

    def copy(self) -> Secret:
        """An independent Secret with its own buffer (closing one does not wipe the other)."""
        return Secret(self.reveal_bytes(), name=self._name, origin=self._origin)

    @property
    def name(self) -> str:
        return self._name

    @property
    def origin(self) -> Origin:
        return self._origin

    @property
    def source(self) -> SourceKind:
        return self._origin.kind

    @property
    def weak(self) -> bool:
        return self._origin.weak

    @property
    def fingerprint(self) -> str:
        return self._fp

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._buf)

    def __eq__(self, other: object) -> bool:
        """Constant-time comparison with another Secret, ``str`` or ``bytes``."""
        if isinstance(other, Secret):
            other_bytes = other.reveal_bytes()
        elif isinstance(other, str):
            other_bytes = other.encode("utf-8", "surrogateescape")
        elif isinstance(other, bytes | bytearray):
            other_bytes = bytes(other)
        else:
            return NotImplemented
        return hmac.compare_digest(self.reveal_bytes(), other_bytes)

    __hash__ = None  # type: ignore[assignment]  # a hash would be an oracle on the value

    # --- never shown ------------------------------------------------------------------------
    def __repr__(self) -> str:
        state = "closed" if self._closed else self._fp
        return f"Secret({self._name!r} from {self._origin}, {state})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled or copied (use reveal() explicitly)")

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled or copied (use reveal() explicitly)")

    # --- wiping -----------------------------------------------------------------------------
    def close(self) -> None:
        """Overwrite the buffer with zeros (best effort: copies made by ``reveal()`` are not reached)."""
        if not self._closed:
            self._buf[:] = bytes(len(self._buf))  # same length: overwritten in place, not reallocated
            with contextlib.suppress(BufferError):  # a live memoryview pins the size; the zeros stay
                self._buf.clear()
            self._closed = True
            _forget(id(self))

    def __enter__(self) -> Secret:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing left to report to
            self.close()
