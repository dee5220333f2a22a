"""Compose privileges: capabilities, ``security_opt`` and the namespace modes.

Docker's defaults when the file is silent: no capabilities added (Docker's default set
applies, so ``capabilities`` is located at the service for "not dropped" rules), the
default seccomp profile (``RuntimeDefault``) and AppArmor profile (``runtime/default``),
privilege escalation allowed (``None``), and the host user namespace shared (no remap).
"""

from __future__ import annotations

from mamori.model import Val
from mamori.sources.compose_view import ServiceView
from mamori.sources.security_opt import Security


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
    sec = Security.defaults(v.default)
    for item, ptr in v.items("security_opt"):
        if not isinstance(item, str):
            v.error(ptr, "`security_opt` entries must be strings")
            continue
        problem = sec.read(item, v.loc(ptr))
        if problem:
            v.error(ptr, f"`security_opt`: {problem}")
    if sec.other:
        got = v.get("security_opt")
        v.extra["security_opt_other"] = Val(tuple(sec.other), v.loc(got[1]) if got else v.sloc)
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
