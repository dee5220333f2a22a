"""``HostConfig.SecurityOpt`` with Docker's defaults, read as the Compose source reads ``security_opt``.

Defaults when the request is silent: the runtime's seccomp profile (``RuntimeDefault``) and
AppArmor profile (``runtime/default``), privilege escalation not disabled (``None``), SELinux
labelling on, ``/proc`` masked. The docker CLI sends a seccomp profile file's JSON inline
(``seccomp={...}``); it is kept as ``Localhost/<inline profile>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mamori.model import Val
from mamori.sources.compose_syntax import split_opt, to_bool
from mamori.sources.gojson import Obj

if TYPE_CHECKING:
    from mamori.sources.docker_api import Reader


class Security:
    """``SecurityOpt`` with Docker's defaults, read like the Compose source reads ``security_opt``."""

    def __init__(self, r: Reader, host: Obj | None, hb: str) -> None:
        def default(name: str, value: Any) -> Val[Any]:
            return Val(value, r.loc(f"{hb}/SecurityOpt"), explicit=False)

        self.no_new_privs: Val[bool | None] = default("nnp", None)
        self.seccomp: Val[str | None] = default("seccomp", "RuntimeDefault")
        self.apparmor: Val[str | None] = default("apparmor", "runtime/default")
        self.selinux_type: Val[str | None] = default("selinux", None)
        self.selinux_disabled: Val[bool] = default("label", False)
        self.proc_mount: Val[str | None] = default("proc", "Default")
        other: list[str] = []
        for item, ptr in r.strings(host, "SecurityOpt", hb):
            loc = r.loc(ptr)
            name, value = split_opt(item)
            low = (value or "").lower()
            if name == "no-new-privileges":
                try:
                    on = True if not value else to_bool(value)
                except ValueError:
                    r.error(ptr, f"no-new-privileges expects true or false, got {(value or '')[:20]!r}")
                    continue
                self.no_new_privs = Val(not on, loc)
            elif name == "seccomp" and value:
                if low == "unconfined":
                    self.seccomp = Val("Unconfined", loc)
                elif low in ("builtin", "default", "runtime/default", "docker/default"):
                    self.seccomp = Val("RuntimeDefault", loc)
                else:  # the CLI sends the profile's JSON text inline
                    self.seccomp = Val("Localhost/<inline profile>" if low.startswith("{") else
                                       f"Localhost/{value[:200]}", loc)
            elif name == "apparmor" and value:
                if low == "unconfined":
                    self.apparmor = Val("unconfined", loc)
                elif low in ("docker-default", "runtime/default"):
                    self.apparmor = Val("runtime/default", loc)
                else:
                    self.apparmor = Val(f"localhost/{value[:200]}", loc)
            elif name == "label" and value:
                sub, subval = split_opt(value)
                if low == "disable":
                    self.selinux_disabled = Val(True, loc)
                elif sub == "type" and subval:
                    self.selinux_type = Val(subval, loc)
                else:
                    other.append(item[:200])
            elif name == "systempaths" and low == "unconfined":
                self.proc_mount = Val("Unmasked", loc)
            else:
                other.append(item[:200])
        if other:
            r.extra["security_opt_other"] = Val(tuple(other), r.loc(f"{hb}/SecurityOpt"))
