"""Compose short-syntax strings: ports, volumes, durations, users, booleans.

Pure functions; a malformed string raises ``ValueError`` with a message for the user.
Text inside an unresolved ``${...}`` never splits a field (``${DIR:?unset}:/data``).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_PORT_RANGE = 1024  # ports expanded from one range entry; the rest are not modelled
PROTOCOLS = ("tcp", "udp", "sctp")
PROPAGATIONS = ("shared", "slave", "private", "rshared", "rslave", "rprivate")
_TRUE = ("y", "yes", "true", "on")
_FALSE = ("n", "no", "false", "off")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def mask(text: str) -> str:
    """``text`` with every ``${...}`` replaced by ``_`` of the same length (positions kept)."""
    if "${" not in text:
        return text
    out = list(text)
    depth = 0
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            out[i] = out[i + 1] = "_"
            i += 2
            continue
        if depth:
            if text[i] == "}":
                depth -= 1
            out[i] = "_"
        i += 1
    return "".join(out)


def split_masked(text: str, sep: str, maxsplit: int = -1, right: bool = False) -> list[str]:
    """``str.split`` / ``rsplit`` that ignores separators inside ``${...}``."""
    masked = mask(text)
    parts = masked.rsplit(sep, maxsplit) if right else masked.split(sep, maxsplit)
    out: list[str] = []
    pos = 0
    for part in parts:
        out.append(text[pos : pos + len(part)])
        pos += len(part) + len(sep)
    return out


def unresolved(text: str) -> bool:
    return "${" in text or bool(re.search(r"\$[A-Za-z_]", text))


# --- scalars ------------------------------------------------------------------------


def to_bool(value: Any) -> bool:
    """A Compose boolean: YAML bool or, after interpolation, ``true``/``yes``/``on``..."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"expected a boolean, got {_show(value)}")


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    raise ValueError(f"expected an integer, got {_show(value)}")


def to_text(value: Any) -> str:
    """A scalar as Compose turns it into a string (``true``, ``0.5``, ``512``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() or abs(value) >= 1e-4 else repr(value)
    if isinstance(value, str | int):
        return str(value)
    raise ValueError(f"expected a scalar, got {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def duration_seconds(value: Any) -> int:
    """A Go duration (``1m30s``, ``500ms``) or a number of seconds, rounded up to seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"negative duration {value}")
        return math.ceil(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a duration such as 30s or 1m30s, got {_show(value)}")
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    total = 0.0
    pos = 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 30s, 1m30s)")
    return math.ceil(total - 1e-9)


# --- user -----------------------------------------------------------------------------


def parse_user(text: str) -> tuple[int | None, int | None]:
    """``uid[:gid]`` or ``name[:group]`` -> numeric uid and gid when known (root is 0)."""
    user, _, group = text.strip().partition(":")

    def num(part: str) -> int | None:
        if part.isdigit():
            return int(part)
        return 0 if part == "root" else None

    return num(user), num(group) if group else None


# --- ports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortSpec:
    container_port: int | None
    host_port: int | None  # 0: published on a host port that the file does not fix
    host_ip: str | None
    protocol: str  # upper case


def parse_port_range(text: str, what: str, allow_zero: bool) -> tuple[int, int] | None:
    """``80`` or ``8000-8005`` -> (first, last); None for an unresolved variable."""
    t = text.strip()
    if unresolved(t):
        return None
    first, dash, last = t.partition("-")
    try:
        lo = int(first)
        hi = int(last) if dash else lo
    except ValueError:
        raise ValueError(f"invalid {what} port {t!r}") from None
    low = 0 if allow_zero else 1
    if not (low <= lo <= 65535 and low <= hi <= 65535) or hi < lo:
        raise ValueError(f"invalid {what} port {t!r} (ports are {low}-65535)")
    return lo, hi


def parse_host_ip(text: str) -> str | None:
    t = text.strip().strip("[]")
    if not t:
        return None
    if unresolved(t):
        return t
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        raise ValueError(f"invalid host IP {t!r}") from None


def parse_protocol(text: str) -> str:
    p = text.strip().lower() or "tcp"
    if p not in PROTOCOLS and not unresolved(p):
        raise ValueError(f"invalid protocol {text!r} (tcp, udp or sctp)")
    return p.upper()


def expand_ports(container: tuple[int, int] | None, host: tuple[int, int] | None, published: bool,
                 host_ip: str | None, protocol: str) -> list[PortSpec]:
    """Pair a container range with a host range the way Docker does, bounded."""
    if container is None:
        hp = host[0] if host else (0 if published else None)
        return [PortSpec(None, hp, host_ip, protocol)]
    c_lo, c_hi = container
    count = c_hi - c_lo + 1
    if host is not None and host[1] - host[0] + 1 != count:
        if count != 1:
            raise ValueError("host and container port ranges differ in length")
        return [PortSpec(c_lo, host[0], host_ip, protocol)]
    out = []
    for i in range(min(count, MAX_PORT_RANGE)):
        hp = host[0] + i if host is not None else (0 if published else None)
        out.append(PortSpec(c_lo + i, hp, host_ip, protocol))
    return out


def parse_port(spec: str) -> list[PortSpec]:
    """``[[ip:]host:]container[/proto]`` with ranges and ``[ipv6]`` -> published ports."""
    text = spec.strip()
    if not text:
        raise ValueError("empty port")
    proto = "tcp"
    parts = split_masked(text, "/", 1, right=True)
    if len(parts) == 2:
        text, proto = parts
    protocol = parse_protocol(proto)
    ip_text = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            raise ValueError(f"invalid port {spec!r}")
        ip_text = text[1:end]
        fields = split_masked(text[end + 2 :], ":")
        if len(fields) != 2:
            raise ValueError(f"invalid port {spec!r}")
        host_text, cont_text = fields
    else:
        fields = split_masked(text, ":")
        if len(fields) == 1:
            host_text, cont_text = "", fields[0]
        elif len(fields) == 2:
            host_text, cont_text = fields
        else:
            ip_text = ":".join(fields[:-2])
            host_text, cont_text = fields[-2], fields[-1]
    container = parse_port_range(cont_text, "container", allow_zero=False)
    host = parse_port_range(host_text, "host", allow_zero=True) if host_text.strip() else None
    return expand_ports(container, host, True, parse_host_ip(ip_text), protocol)


def parse_expose(spec: str) -> list[PortSpec]:
    """``3000``, ``3000-3005``, ``8080/udp`` -> ports that are not published."""
    parts = split_masked(spec.strip(), "/", 1, right=True)
    protocol = parse_protocol(parts[1] if len(parts) == 2 else "tcp")
    container = parse_port_range(parts[0], "exposed", allow_zero=False)
    return expand_ports(container, None, False, None, protocol)


# --- volumes --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    source: str | None
    target: str
    read_only: bool
    propagation: str | None
    options: tuple[str, ...]


def is_drive(text: str) -> bool:
    return len(text) >= 2 and text[0].isascii() and text[0].isalpha() and text[1] == ":"


def is_path(source: str) -> bool:
    """A bind-mount source as Compose recognises it (``.``, ``/``, ``~``, ``\\\\``, ``C:``)."""
    return source.startswith((".", "/", "~", "\\\\")) or (is_drive(source) and source[2:3] in ("\\", "/"))


def parse_volume(spec: str) -> VolumeSpec:
    """``[source:]target[:options]`` as compose-go parses it (Windows drives kept whole)."""
    text = spec.strip()
    if not text:
        raise ValueError("empty volume")
    masked = mask(text)
    fields: list[str] = []
    start = 0
    i = 0
    while i < len(masked):
        if masked[i] == ":":
            if i - start == 1 and is_drive(masked[start : i + 2]) and masked[i + 1 : i + 2] in ("\\", "/"):
                i += 1  # a Windows drive letter: C:\data
                continue
            fields.append(text[start:i])
            start = i + 1
        i += 1
    fields.append(text[start:])
    if any(not f for f in fields):
        raise ValueError(f"invalid volume {spec!r}: empty section between colons")
    if len(fields) > 3:
        raise ValueError(f"invalid volume {spec!r}: too many colons")
    if len(fields) == 1:
        return VolumeSpec(None, fields[0], False, None, ())
    source, target = fields[0], fields[1]
    options = tuple(o.strip() for o in fields[2].split(",")) if len(fields) == 3 else ()
    read_only = False
    propagation = None
    for opt in options:
        if opt == "ro":
            read_only = True
        elif opt == "rw":
            read_only = False
        elif opt in PROPAGATIONS:
            propagation = opt
    return VolumeSpec(source, target, read_only, propagation, options)


# --- security_opt ---------------------------------------------------------------------


def split_opt(text: str) -> tuple[str, str | None]:
    """``name:value`` or ``name=value`` (Docker accepts both) -> (name, value)."""
    t = text.strip()
    cut = min((i for i in (t.find(":"), t.find("=")) if i >= 0), default=-1)
    if cut < 0:
        return t.lower(), None
    return t[:cut].strip().lower(), t[cut + 1 :].strip()
