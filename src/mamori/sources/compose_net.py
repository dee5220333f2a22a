"""Compose networking: ``ports`` (short and long syntax), ``expose`` and ``networks``."""

from __future__ import annotations

from typing import Any

from mamori.model import Port, Val
from mamori.sources.compose_syntax import (
    PortSpec,
    expand_ports,
    parse_expose,
    parse_host_ip,
    parse_port,
    parse_port_range,
    parse_protocol,
    to_text,
)
from mamori.sources.compose_view import ServiceView, as_dict


def ports(v: ServiceView) -> list[Port]:
    """Published ``ports`` then ``expose``d ones, one Port per port of a range."""
    out: list[Port] = []
    for key, parse in (("ports", parse_port), ("expose", parse_expose)):
        for item, ptr in v.items(key):
            try:
                if isinstance(item, dict) and key == "ports":
                    specs = _long_port(item)
                elif isinstance(item, str | int) and not isinstance(item, bool):
                    specs = parse(str(item))
                else:
                    raise ValueError("an entry must be a port string or number")
            except ValueError as exc:
                v.error(ptr, f"`{key}`: {exc}")
                continue
            loc = v.loc(ptr)
            out.extend(Port(s.container_port, loc, s.host_port, s.host_ip, s.protocol) for s in specs)
    return out


def _long_port(item: dict[str, Any]) -> list[PortSpec]:
    target = item.get("target")
    if target is None or isinstance(target, dict | list | bool):
        raise ValueError("long syntax needs a `target` port")
    container = parse_port_range(to_text(target), "container", allow_zero=False)
    published = item.get("published")
    host = parse_port_range(to_text(published), "host", allow_zero=True) if published not in (None, "") else None
    ip = item.get("host_ip")
    return expand_ports(container, host, True, parse_host_ip(str(ip)) if ip else None,
                        parse_protocol(str(item.get("protocol") or "tcp")))


def networks(v: ServiceView, network_mode: Val[str | None]) -> tuple[str, ...]:
    """Network names; the project's ``default`` network when neither networks nor a mode is set."""
    got = v.get("networks")
    if got is None:
        if network_mode.value is None:
            v.extra["networks_default"] = v.default(True)
            names: tuple[str, ...] = ("default",)
        else:
            names = ()
    else:
        value, ptr = got
        if isinstance(value, dict):
            names = tuple(str(k) for k in value)
        elif isinstance(value, list):
            names = tuple(str(x) for x in value if isinstance(x, str | int))
        else:
            v.error(ptr, "`networks` must be a list or a mapping")
            names = ()
    config: dict[str, dict[str, object]] = {}
    for n in names:
        decl = as_dict(v.p.networks.get(n))
        ext = decl.get("external")
        config[n] = {
            "declared": n in v.p.networks,
            "driver": decl.get("driver"),
            "internal": decl.get("internal") is True or decl.get("internal") == "true",
            "external": ext is not None and ext is not False and ext != "false",
        }
    if config:
        v.extra["network_config"] = Val(config, v.loc(got[1]) if got else v.sloc, got is not None)
    return names
