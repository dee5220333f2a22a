"""``HostConfig.SecurityOpt`` of an Engine API request (the option reader is shared with Compose)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamori.model import Val
from mamori.sources.gojson import Obj
from mamori.sources.security_opt import Security

if TYPE_CHECKING:
    from mamori.sources.docker_api import Reader


def security(r: Reader, host: Obj | None, hb: str) -> Security:
    """``HostConfig.SecurityOpt`` read by the same reader as Compose's ``security_opt``."""
    sec = Security.defaults(lambda value: Val(value, r.loc(f"{hb}/SecurityOpt"), explicit=False))
    for item, ptr in r.strings(host, "SecurityOpt", hb):
        problem = sec.read(item, r.loc(ptr))
        if problem:
            r.error(ptr, problem)
    if sec.other:
        r.extra["security_opt_other"] = Val(tuple(sec.other), r.loc(f"{hb}/SecurityOpt"))
    return sec
