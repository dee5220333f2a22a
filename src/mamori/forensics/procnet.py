"""Sockets of a container's network namespace from the host: ``/proc/<pid>/net/{tcp,tcp6,udp,udp6}``.

The files are read through the container's init process (its namespace, not the host's), which
needs a daemon on this machine, in this PID namespace, and root. Each reason it cannot be read
is returned, never swallowed. Addresses are little-endian hex per 32-bit word, as the kernel
prints them.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

TABLES = ("tcp", "tcp6", "udp", "udp6")
MAX_TABLE = 16 * 1024 * 1024
MAX_ROWS = 100_000
TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
              "0B": "CLOSING", "0C": "NEW_SYN_RECV"}


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    raw: bytes | None
    reason: str | None  # why raw is None


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    # each 32-bit word is in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.IPv4Address(words) if len(words) == 4 else ipaddress.IPv6Address(words)
    return str(ip), int(port, 16)


def parse(table: str, raw: bytes) -> list[dict[str, Any]]:
    """Rows of one table; malformed lines are skipped (the raw file is kept as evidence anyway)."""
    rows: list[dict[str, Any]] = []
    for line in raw.decode("ascii", "replace").splitlines()[1:MAX_ROWS + 1]:
        f = line.split()
        if len(f) < 10:
            continue
        try:
            local, remote = _addr(f[1]), _addr(f[2])
        except ValueError:
            continue
        state = TCP_STATES.get(f[3], f[3]) if table.startswith("tcp") else ("UNCONN" if f[3] == "07" else f[3])
        rows.append({"proto": table, "local": local[0], "local_port": local[1], "remote": remote[0],
                     "remote_port": remote[1], "state": state, "uid": f[7], "inode": f[9]})
    return rows


def _belongs(pid: int, container_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            return container_id in fh.read(64 * 1024)
    except OSError:
        return False


def read_tables(pid: int, container_id: str, local_daemon: bool) -> tuple[list[Table], str | None]:
    """The raw tables, and a note when the process could not be confirmed as the container's."""
    if not local_daemon:
        why = "the Docker daemon is not on this machine (not a unix socket), so its /proc is not readable here"
        return [Table(t, None, why) for t in TABLES], None
    if pid <= 0:
        return [Table(t, None, "the container is not running (no init pid)") for t in TABLES], None
    note = None if _belongs(pid, container_id) else (
        f"pid {pid}'s cgroup does not name the container: the daemon may run in another PID namespace")
    out = []
    for t in TABLES:
        path = f"/proc/{pid}/net/{t}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(MAX_TABLE + 1)
        except OSError as exc:
            out.append(Table(t, None, f"cannot read {path}: {exc.strerror or exc}"))
            continue
        if len(data) > MAX_TABLE:
            out.append(Table(t, None, f"{path} is larger than {MAX_TABLE} bytes"))
            continue
        out.append(Table(t, data, None))
    return out, note
