"""Which mount a path is on, from /proc/self/mountinfo: is plaintext going to memory or to a disk?"""

from __future__ import annotations

import os
from dataclasses import dataclass

MOUNTINFO = "/proc/self/mountinfo"
MAX_MOUNTINFO = 4 << 20


@dataclass(frozen=True, slots=True)
class MountInfo:
    target: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountInfo]:
    mounts: list[MountInfo] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 1:
            continue
        options = tuple(fields[5].split(",")) + tuple(tail[2].split(",") if len(tail) > 2 else ())
        mounts.append(MountInfo(_unescape(fields[4]), tail[0], options))
    return mounts


def mount_of(path: str, mountinfo: str = MOUNTINFO) -> MountInfo | None:
    """The mount ``path`` (symlinks resolved) lives on: the last-mounted longest prefix; None if unknown."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            text = fh.read(MAX_MOUNTINFO)
    except OSError:
        return None
    real = os.path.realpath(path)
    best: MountInfo | None = None
    for m in parse_mountinfo(text):  # later lines are later mounts: on a tie the later one covers the earlier
        t = m.target.rstrip("/") or "/"
        inside = real == t or real.startswith(t.rstrip("/") + "/")
        if inside and (best is None or len(t) >= len(best.target.rstrip("/") or "/")):
            best = m
    return best
