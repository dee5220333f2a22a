"""Compose privileges: capabilities, ``security_opt`` and the namespace modes.

Docker's defaults when the file is silent: no capabilities added (Docker's default set
applies, so ``capabilities`` is located at the service for "not dropped" rules), the
default seccomp profile (``RuntimeDefault``) and AppArmor profile (``runtime/default``),
privilege escalation allowed (``None``), and the host user namespace shared (no remap).
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model import Val
from mamori.sources.compose_syntax import split_opt, to_bool
from mamori.sources.compose_view import ServiceView


@dataclass(slots=True)
class Security:
    """``security_opt`` and its Docker defaults, filled while reading the entries."""

    no_new_privs: Val[bool | None]
    seccomp: Val[str | None]
    apparmor: Val[str | None]
    selinux_type: Val[str | None]
    selinux_disabled: Val[bool]
    proc_mount: Val[str | None]


def caps(v: ServiceView, key: str) -> tuple[Val[str], ...]:
    out: list[Val[str]] = []
    for item, ptr in v.items(key):
        if not isinstance(item, str) or not item.strip():
            v.error(ptr, f"`{key}` entries must be capability names")
            continue
        cap = item.strip().upper()
        out.append(Val(cap.removeprefix("CAP_"), v.loc(ptr)))
    return tuple(out)


def security(v: ServiceView) -> Security:
    sec = Security(
        no_new_privs=v.default(None),
        seccomp=v.default("RuntimeDefault"),
        apparmor=v.default("runtime/default"),
        selinux_type=v.default(None),
        selinux_disabled=v.default(False),
        proc_mount=v.default("Default"),
    )
    other: list[str] = []
    for item, ptr in v.items("security_opt"):
        if not isinstance(item, str):
            v.error(ptr, "`security_opt` entries must be strings")
            continue
        loc = v.loc(ptr)
        name, value = split_opt(item)
        low = (value or "").lower()
        if name == "no-new-privileges":
            try:
                on = True if not value else to_bool(value)
            except ValueError:
                v.error(ptr, f"`security_opt`: no-new-privileges expects true or false, got {value!r}")
                continue
            sec.no_new_privs = Val(not on, loc)
        elif name == "seccomp" and value:
            if low == "unconfined":
                sec.seccomp = Val("Unconfined", loc)
            elif low in ("builtin", "default", "runtime/default", "docker/default"):
                sec.seccomp = Val("RuntimeDefault", loc)
            else:
                sec.seccomp = Val(f"Localhost/{value}", loc)
        elif name == "apparmor" and value:
            if low == "unconfined":
                sec.apparmor = Val("unconfined", loc)
            elif low in ("docker-default", "runtime/default"):
                sec.apparmor = Val("runtime/default", loc)
            else:
                sec.apparmor = Val(f"localhost/{value}", loc)
        elif name == "label" and value:
            sub, subval = split_opt(value)
            if low == "disable":
                sec.selinux_disabled = Val(True, loc)
            elif sub == "type" and subval:
                sec.selinux_type = Val(subval, loc)
            else:
                other.append(item)
        elif name == "systempaths" and low == "unconfined":
            sec.proc_mount = Val("Unmasked", loc)
        else:
            other.append(item)
    if other:
        got = v.get("security_opt")
        v.extra["security_opt_other"] = Val(tuple(other), v.loc(got[1]) if got else v.sloc)
    return sec


def namespaces(v: ServiceView) -> dict[str, Val[bool]]:
    out: dict[str, Val[bool]] = {}
    for key in ("pid", "ipc", "uts", "userns_mode", "cgroup"):
        mode = v.text(key)
        if mode.value is not None:
            v.extra[f"{key.removesuffix('_mode')}_mode" if key != "cgroup" else "cgroup"] = Val(
                mode.value, mode.loc)
        if key == "userns_mode":
            # Docker shares the host user namespace unless the daemon remaps users.
            out[key] = Val(True, mode.loc, mode.explicit) if mode.value in (None, "host") else Val(False, mode.loc)
        elif key != "cgroup":
            out[key] = Val(mode.value == "host", mode.loc, mode.explicit)
    return out
