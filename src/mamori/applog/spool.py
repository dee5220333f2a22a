"""The local buffer for events the collector has not acknowledged: JSON lines on disk, size-capped.

Layout of a spool directory (one per logger; a second process takes the next free slot)::

    lock                  flock(2)-held while a logger owns the slot
    seg-000001.jsonl      one collector entry per line, appended and fsync'ed per batch
    seg-000002.jsonl      a new segment every ``segment_bytes``
    cursor                "<segment> <byte offset>": what the collector has acknowledged

Replay reads from the cursor, sends, and moves the cursor (written atomically) only after the
collector answered 200, so an event is sent once - unless the process dies between the answer
and the cursor write, when it is sent again on the next start (every event carries
``event.id`` for that case). Nothing is ever dropped silently: when the cap is reached the new
events are refused and the caller counts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore[assignment]

_SEG = re.compile(r"seg-(\d{6,12})\.jsonl")
MAX_SLOTS = 64


class SpoolError(OSError):
    """A spool directory that cannot be used; raised when the logger is created."""


class Spool(Protocol):
    """Where events wait while the collector is unreachable."""

    def append(self, lines: list[bytes]) -> tuple[int, int]:
        """Store the lines that fit; returns how many were refused by the cap and how many failed to write."""
        ...

    def peek(self, max_items: int, max_bytes: int) -> tuple[list[bytes], int, int]:
        """The oldest lines (each a JSON object), the opaque amount to :meth:`ack`, and lines skipped as unreadable."""
        ...

    def ack(self, amount: int) -> None: ...

    def __len__(self) -> int: ...

    @property
    def size_bytes(self) -> int: ...

    def close(self) -> None: ...


class MemorySpool:
    """The buffer without a disk: bounded the same way, lost when the process ends."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lines: deque[bytes] = deque()
        self._bytes = 0

    def append(self, lines: list[bytes]) -> tuple[int, int]:
        refused = 0
        for line in lines:
            if self._bytes + len(line) > self.max_bytes:
                refused += 1
                continue
            self._lines.append(line)
            self._bytes += len(line)
        return refused, 0

    def peek(self, max_items: int, max_bytes: int) -> tuple[list[bytes], int, int]:
        out: list[bytes] = []
        used = 0
        for line in self._lines:
            if len(out) >= max_items or (out and used + len(line) > max_bytes):
                break
            out.append(line)
            used += len(line)
        return out, len(out), 0

    def ack(self, amount: int) -> None:
        for _ in range(amount):
            self._bytes -= len(self._lines.popleft())

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        pass


class DiskSpool:
    """Segmented JSON-lines files in one directory, owned by this process through ``lock``."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = 1024 * 1024) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.segment_bytes = max(4096, min(segment_bytes, max_bytes))
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            _check_owner(self.dir)
            self._lock = open(self.dir / "lock", "a+b")  # noqa: SIM115 - held for the spool's lifetime
        except OSError as exc:
            raise SpoolError(f"cannot use spool directory {self.dir}: {exc}") from None
        if fcntl is not None:
            try:
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                raise SpoolError(f"spool directory {self.dir} is in use by another process") from None
        self._segments = sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := _SEG.fullmatch(p.name)))
        self._next = (self._segments[-1] + 1) if self._segments else 1
        self._head_offset = self._read_cursor()
        self._sizes = {n: self._path(n).stat().st_size for n in self._segments}
        self._repair_tail()
        self._count = self._count_lines()
        self._tail: Any = None
        self.last_error: str | None = None

    # -- layout ------------------------------------------------------------------------------
    def _path(self, n: int) -> Path:
        return self.dir / f"seg-{n:06d}.jsonl"

    def _read_cursor(self) -> int:
        try:
            name, offset = (self.dir / "cursor").read_text(encoding="ascii").split()
            n = int(_SEG.fullmatch(name).group(1))  # type: ignore[union-attr]
            off = int(offset)
        except (OSError, ValueError, AttributeError):
            return 0
        self._next = max(self._next, n)
        self._segments = [s for s in self._segments if s >= n]  # older segments were acknowledged
        for stale in sorted(p for p in self.dir.iterdir() if (m := _SEG.fullmatch(p.name)) and int(m.group(1)) < n):
            with contextlib.suppress(OSError):
                stale.unlink()
        return off if self._segments and self._segments[0] == n else 0

    def _repair_tail(self) -> None:
        """Cut a half-written last line (a crash mid-append) so later appends start on a line."""
        if not self._segments:
            return
        last = self._segments[-1]
        size = self._sizes[last]
        if size == 0:
            return
        with open(self._path(last), "r+b") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            keep = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= 65536 else size)
            fh.truncate(keep)
            self._sizes[last] = keep

    def _count_lines(self) -> int:
        total = 0
        for i, n in enumerate(self._segments):
            with open(self._path(n), "rb") as fh:
                if i == 0:
                    fh.seek(self._head_offset)
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(65536), b""))
        return total

    def _write_cursor(self) -> None:
        tmp = self.dir / "cursor.tmp"
        head = self._segments[0] if self._segments else self._next  # all acknowledged: point past them
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{self._path(head).name} {self._head_offset}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / "cursor")

    # -- the Spool protocol ------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values()) - self._head_offset

    def __len__(self) -> int:
        return self._count

    def append(self, lines: list[bytes]) -> tuple[int, int]:
        refused = 0
        room = self.max_bytes - self.size_bytes
        keep: list[bytes] = []
        for line in lines:
            if len(line) > room:
                refused += 1
            else:
                keep.append(line)
                room -= len(line)
        before_sizes, before_segments, before_next = dict(self._sizes), list(self._segments), self._next
        try:
            for line in keep:
                fh = self._tail_file(len(line))
                fh.write(line)
                self._sizes[self._segments[-1]] += len(line)
            if self._tail is not None:
                self._tail.flush()
                os.fsync(self._tail.fileno())
        except OSError as exc:  # a full or failing disk: undo the whole batch so the files stay line-aligned
            self.last_error = f"spool write failed: {exc.strerror or exc}"
            self._undo(before_sizes, before_segments, before_next)
            return refused, len(keep)
        self._count += len(keep)
        return refused, 0

    def _undo(self, sizes: dict[int, int], segments: list[int], nxt: int) -> None:
        with contextlib.suppress(OSError):
            if self._tail is not None:
                self._tail.close()
        self._tail = None
        for n in self._segments:
            with contextlib.suppress(OSError):
                if n not in sizes:
                    self._path(n).unlink()
                elif self._sizes[n] != sizes[n]:
                    os.truncate(self._path(n), sizes[n])
        self._sizes, self._segments, self._next = sizes, segments, nxt

    def _tail_file(self, need: int) -> Any:
        last = self._segments[-1] if self._segments else None
        if last is None or (self._sizes[last] > 0 and self._sizes[last] + need > self.segment_bytes):
            self._close_tail()
            self._segments.append(self._next)
            self._sizes[self._next] = 0
            self._next += 1
        if self._tail is None:
            fd = os.open(self._path(self._segments[-1]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._tail = os.fdopen(fd, "ab")  # kept open for appends; audit events may hold personal data
        return self._tail

    def _close_tail(self) -> None:
        if self._tail is not None:
            self._tail.flush()
            os.fsync(self._tail.fileno())
            self._tail.close()
            self._tail = None

    def peek(self, max_items: int, max_bytes: int) -> tuple[list[bytes], int, int]:
        if not self._segments:
            return [], 0, 0
        if self._tail is not None:
            self._tail.flush()
        head = self._segments[0]
        out: list[bytes] = []
        used = bad = 0
        with open(self._path(head), "rb") as fh:
            fh.seek(self._head_offset)
            while len(out) < max_items:
                line = fh.readline(self.segment_bytes + 1)
                if not line.endswith(b"\n"):
                    break
                if out and used + len(line) > max_bytes:
                    break
                used += len(line)
                try:
                    doc = json.loads(line)
                except ValueError:
                    doc = None
                if isinstance(doc, dict):
                    out.append(line)
                else:
                    bad += 1
        if not out and not bad and len(self._segments) > 1 and self._head_offset < self._sizes[head]:
            return [], self._sizes[head] - self._head_offset, 1  # an unterminated line before a newer segment
        return out, used, bad

    def ack(self, amount: int) -> None:
        """Move past ``amount`` bytes of the head segment (as returned by :meth:`peek`)."""
        if not self._segments or amount <= 0:
            return
        head = self._segments[0]
        with open(self._path(head), "rb") as fh:
            fh.seek(self._head_offset)
            self._count -= fh.read(amount).count(b"\n")
        self._head_offset += amount
        if self._head_offset >= self._sizes[head]:
            if len(self._segments) == 1:
                self._close_tail()
            self._segments.pop(0)
            del self._sizes[head]
            self._head_offset = 0
            self._write_cursor()  # first: a crash now leaves a cursor past the old segment
            with contextlib.suppress(OSError):
                self._path(head).unlink()
        else:
            self._write_cursor()

    def close(self) -> None:
        self._close_tail()
        if fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        self._lock.close()


def _check_owner(path: Path) -> None:
    """Refuse a spool directory another user could read or swap (a shared /tmp): not a symlink,
    owned by this user, writable by nobody else."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise SpoolError(f"spool directory {path} is not a plain directory")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SpoolError(f"spool directory {path} belongs to another user")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SpoolError(f"spool directory {path} is writable by other users")


def open_slot(base: Path, name: str, max_bytes: int, segment_bytes: int = 1024 * 1024,
              opener: Callable[[Path, int, int], DiskSpool] = DiskSpool) -> DiskSpool:
    """The first free ``<base>/<name>.<n>`` slot, so worker processes of one service each own one
    and a restarted process picks up what a dead one left."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64] or "applog"
    last: SpoolError | None = None
    for n in range(MAX_SLOTS):
        try:
            return opener(base / f"{safe}.{n}", max_bytes, segment_bytes)
        except SpoolError as exc:
            if "in use" not in str(exc):
                raise
            last = exc
    raise SpoolError(f"all {MAX_SLOTS} spool slots under {base} are in use") from last
