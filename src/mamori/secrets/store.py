"""``SecretStore``: one call reads a named secret from the first source that has it.

The store caches what it read together with the source's version token; ``get`` re-reads
only when the token changed (a rotated file, a new Kubernetes generation), so hot paths can
call ``get`` freely. ``watch(name, callback)`` runs one polling thread per store that calls
back with the new value after a change. A value from the environment is returned, marked
weak, and a warning is logged once per name and process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from mamori.secrets.sources import SecretError, SecretNotFound, SecretSource, check_name, default_sources
from mamori.secrets.value import Secret

log = logging.getLogger("mamori.secrets")
_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


@dataclass(slots=True)
class _Entry:
    secret: Secret
    source: SecretSource
    version: Hashable | None
    digest: bytes  # to tell a real change from a touch when the version is unknown


@dataclass(slots=True)
class Watch:
    """A subscription; ``cancel()`` stops the callbacks."""

    name: str
    callback: Callable[[Secret], None]
    seen: bytes = b""  # digest of the value this subscriber last got
    active: bool = True

    def cancel(self) -> None:
        self.active = False


@dataclass(slots=True)
class _Watchers:
    by_name: dict[str, list[Watch]] = field(default_factory=dict)
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16, key=b"mamori-store").digest()


class SecretStore:
    """Reads secrets from ``sources`` in order (default: :func:`mamori.secrets.sources.default_sources`)."""

    def __init__(self, sources: Sequence[SecretSource] | None = None, *, poll_interval: float = 1.0) -> None:
        self.sources: list[SecretSource] = list(sources) if sources is not None else default_sources()
        self.poll_interval = poll_interval
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._watchers = _Watchers()

    # --- reading ----------------------------------------------------------------------------
    def get(self, name: str) -> Secret:
        """A fresh :class:`Secret` (the caller may close it) holding the current value of ``name``."""
        return self._current(name).secret.copy()

    def _current(self, name: str) -> _Entry:
        check_name(name)
        with self._lock:
            entry = self._cache.get(name)
            if entry is not None and entry.version is not None and entry.source.version(name) == entry.version:
                return entry
            fresh = self._read(name)
            if entry is not None:
                if fresh.digest == entry.digest:
                    fresh.secret.close()
                    entry.version = fresh.version
                    return entry
                entry.secret.close()
            self._cache[name] = fresh
            return fresh

    def _read(self, name: str) -> _Entry:
        tried: list[str] = []
        for source in self.sources:
            found = source.read(name)
            if found is None:
                tried.append(source.label)
                continue
            if found.origin.weak:
                _warn_weak(name, str(found.origin))
            secret = Secret(found.value, name=name, origin=found.origin)
            return _Entry(secret, source, found.version, _digest(found.value))
        raise SecretNotFound(name, tried)

    def refresh(self, name: str) -> bool:
        """Re-check ``name`` now and call back the subscribers that have not seen its value; True when any."""
        with self._lock:
            entry = self._current(name)
            due = [w for w in self._watchers.by_name.get(name, []) if w.active and w.seen != entry.digest]
            for w in due:
                w.seen = entry.digest
            values = [entry.secret.copy() for _ in due]
        for w, value in zip(due, values, strict=True):
            try:
                w.callback(value)
            except Exception:  # a subscriber's bug must not stop the others
                log.exception("secret watch callback for %r failed", name)
        return bool(due)

    # --- rotation ---------------------------------------------------------------------------
    def watch(self, name: str, callback: Callable[[Secret], None]) -> Watch:
        """Call ``callback(new_secret)`` after ``name`` changes (polled every ``poll_interval`` seconds)."""
        with self._lock:
            w = Watch(name, callback, self._current(name).digest)  # fails now when the secret does not exist
            self._watchers.by_name.setdefault(name, []).append(w)
            if self._watchers.thread is None:
                t = threading.Thread(target=self._poll, name="mamori-secrets-watch", daemon=True)
                self._watchers.thread = t
                t.start()
        return w

    def _poll(self) -> None:
        while not self._watchers.stop.wait(self.poll_interval):
            for name in list(self._watchers.by_name):
                if not any(w.active for w in self._watchers.by_name.get(name, [])):
                    continue
                try:
                    self.refresh(name)
                except SecretError as exc:  # removed or unreadable for a moment: keep the last value
                    log.warning("secret %r could not be re-read: %s", name, exc)

    def close(self) -> None:
        """Stop watching and wipe every cached value."""
        self._watchers.stop.set()
        t = self._watchers.thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)
        with self._lock:
            for entry in self._cache.values():
                entry.secret.close()
            self._cache.clear()

    def __enter__(self) -> SecretStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _warn_weak(name: str, where: str) -> None:
    with _WARNED_LOCK:
        if name in _WARNED:
            return
        _WARNED.add(name)
    log.warning("secret %r was read from the environment (%s): environment variables leak to child processes, "
                "/proc/PID/environ and `docker inspect`; mount it as a file (/run/secrets or a Secret volume) "
                "or use NAME_FILE", name, where)


_DEFAULT: SecretStore | None = None
_DEFAULT_LOCK = threading.Lock()


def default_store() -> SecretStore:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = SecretStore()
        return _DEFAULT


def get(name: str) -> Secret:
    """``mamori.secrets.get("db-password")``: the default store's value (files, NAME_FILE, environment)."""
    return default_store().get(name)
