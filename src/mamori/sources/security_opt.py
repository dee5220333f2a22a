"""Docker ``security_opt`` / ``HostConfig.SecurityOpt`` entries, read the same way for every source.

Compose files and Engine API requests carry the same option strings, so one reader keeps a
Compose service and the equivalent ``docker run`` from ever being judged differently.
Docker's defaults apply where nothing is said: the runtime's seccomp profile
(``RuntimeDefault``), AppArmor ``runtime/default``, privilege escalation not disabled
(``None``), SELinux labelling on, ``/proc`` masked. The docker CLI sends a seccomp profile
file's JSON inline (``seccomp={...}``); it is kept as ``Localhost/<inline profile>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mamori.model import Loc, Val
from mamori.sources.compose_syntax import split_opt, to_bool

MAX_SHOWN = 200


@dataclass(slots=True)
class Security:
    """The options read so far, starting from Docker's defaults; ``other`` keeps what is not modelled."""

    no_new_privs: Val[bool | None]
    seccomp: Val[str | None]
    apparmor: Val[str | None]
    selinux_type: Val[str | None]
    selinux_disabled: Val[bool]
    proc_mount: Val[str | None]
    other: list[str] = field(default_factory=list)

    @classmethod
    def defaults(cls, default: Callable[[Any], Val[Any]]) -> Security:
        """``default(value)`` makes a non-explicit Val located where the options belong."""
        return cls(no_new_privs=default(None), seccomp=default("RuntimeDefault"), apparmor=default("runtime/default"),
                   selinux_type=default(None), selinux_disabled=default(False), proc_mount=default("Default"))

    def read(self, item: str, loc: Loc) -> str | None:
        """Apply one option; returns what is wrong with it, or None."""
        name, value = split_opt(item)
        low = (value or "").lower()
        if name == "no-new-privileges":
            try:
                on = True if not value else to_bool(value)
            except ValueError:
                return f"no-new-privileges expects true or false, got {(value or '')[:20]!r}"
            self.no_new_privs = Val(not on, loc)
        elif name == "seccomp" and value:
            if low == "unconfined":
                self.seccomp = Val("Unconfined", loc)
            elif low in ("builtin", "default", "runtime/default", "docker/default"):
                self.seccomp = Val("RuntimeDefault", loc)
            else:
                self.seccomp = Val("Localhost/<inline profile>" if low.startswith("{") else
                                   f"Localhost/{value[:MAX_SHOWN]}", loc)
        elif name == "apparmor" and value:
            if low == "unconfined":
                self.apparmor = Val("unconfined", loc)
            elif low in ("docker-default", "runtime/default"):
                self.apparmor = Val("runtime/default", loc)
            else:
                self.apparmor = Val(f"localhost/{value[:MAX_SHOWN]}", loc)
        elif name == "label" and value:
            sub, subval = split_opt(value)
            if low == "disable":
                self.selinux_disabled = Val(True, loc)
            elif sub == "type" and subval:
                self.selinux_type = Val(subval, loc)
            else:
                self.other.append(item[:MAX_SHOWN])
        elif name == "systempaths" and low == "unconfined":
            self.proc_mount = Val("Unmasked", loc)
        else:
            self.other.append(item[:MAX_SHOWN])
        return None
