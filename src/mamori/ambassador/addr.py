"""Listen and target addresses: ``HOST:PORT``, ``[V6]:PORT`` or ``unix:/path``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


class AddressError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Address:
    host: str | None = None
    port: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if self.host and ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.path is not None:
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host or "").is_loopback
        except ValueError:
            return False


def parse(text: str, *, unix: bool = True) -> Address:
    text = text.strip()
    if len(text) > 4096:
        raise AddressError("address too long")
    if text.startswith("unix:"):
        if not unix:
            raise AddressError(f"{text!r}: a unix socket is not allowed here")
        if len(text) == 5 or "\0" in text:
            raise AddressError(f"{text!r}: unix:/path/to/socket")
        return Address(path=text[5:])
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AddressError(f"{text!r}: expected [IPv6]:PORT")
        port_s = rest[1:]
    else:
        host, sep, port_s = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise AddressError(f"{text!r}: expected HOST:PORT (IPv6 as [ADDR]:PORT)")
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise AddressError(f"{text!r}: the port must be 0..65535")
    return Address(host=host, port=int(port_s))
