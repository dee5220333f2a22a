"""Compose storage: ``volumes`` (short and long syntax), ``tmpfs``, ``secrets``, ``configs``, ``devices``.

A bind source is anything Compose treats as a path (``./x``, ``/x``, ``~/x``, ``C:\\x``); an
unresolved variable source that is not a declared volume is taken as a host path. A named
volume declared with ``driver_opts: {o: bind, device: /x}`` is a host mount of ``/x``.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mamori.model import Loc, Mount, Val, Volume
from mamori.sources.compose_syntax import is_path, parse_volume, to_bool, to_text
from mamori.sources.compose_view import ServiceView, as_dict
from mamori.sources.yamldoc import escape


def mounts(v: ServiceView) -> tuple[list[Mount], list[Volume]]:
    """The service's mounts and the top-level volumes, secrets and configs they use."""
    mounts: list[Mount] = []
    volumes: dict[str, Volume] = {}
    undeclared: list[str] = []
    for item, ptr in v.items("volumes"):
        try:
            mount = _volume_mount(v, item, ptr)
        except ValueError as exc:
            v.error(ptr, f"`volumes`: {exc}")
            continue
        mounts.append(mount)
        if mount.shared_name is not None and mount.shared_name not in volumes:
            vol = _declared_volume(v, mount.shared_name, ptr)
            volumes[mount.shared_name] = vol
            if mount.shared_name not in v.p.volumes:
                undeclared.append(mount.shared_name)
    if undeclared:
        v.extra["undeclared_volumes"] = Val(tuple(undeclared), v.sloc)
    v.extra["volumes_declared"] = Val(tuple(v.p.volumes), v.doc.loc("/volumes"), explicit="volumes" in v.p.data)
    for item, ptr in v.items("tmpfs", scalar_ok=True):
        if not isinstance(item, str) or not item.strip():
            v.error(ptr, "`tmpfs` entries must be container paths")
            continue
        mounts.append(Mount(item.split(":", 1)[0].strip(), "tmpfs", None, False, v.loc(ptr)))
    for key, kind in (("secrets", "secret"), ("configs", "config")):
        for item, ptr in v.items(key):
            smount, svol = _secret_mount(v, key, kind, item, ptr)
            if smount is not None:
                mounts.append(smount)
            if svol is not None and f"{kind}:{svol.name}" not in volumes:
                volumes[f"{kind}:{svol.name}"] = svol
    return mounts, list(volumes.values())


def _volume_mount(v: ServiceView, item: Any, ptr: str) -> Mount:
    loc = v.loc(ptr)
    if isinstance(item, str):
        spec = parse_volume(item)
        if spec.source is None:
            return Mount(spec.target, "volume", None, spec.read_only, loc, propagation=spec.propagation)
        return _classify(v, spec.source, spec.target, spec.read_only, spec.propagation, loc, None)
    if not isinstance(item, dict):
        raise ValueError("an entry must be a string or a mapping")
    target = item.get("target")
    if not isinstance(target, str) or not target:
        raise ValueError("long syntax needs a `target` path")
    vtype = str(item.get("type") or "").lower()
    source = item.get("source")
    source = to_text(source) if source is not None and not isinstance(source, dict | list) else None
    try:
        read_only = to_bool(item["read_only"]) if item.get("read_only") is not None else False
    except ValueError as exc:
        raise ValueError(f"read_only: {exc}") from None
    prop = as_dict(item.get("bind")).get("propagation")
    propagation = str(prop) if prop is not None else None
    if not vtype:
        vtype = "bind" if source and is_path(source) else "volume"
    if vtype == "tmpfs":
        return Mount(target, "tmpfs", None, read_only, loc)
    if vtype in ("bind", "npipe"):
        if not source:
            raise ValueError(f"a {vtype} mount needs a `source`")
        return Mount(target, "host", _norm_host(source), read_only, loc, propagation=propagation)
    if vtype in ("volume", "cluster"):
        if not source:
            return Mount(target, "volume", None, read_only, loc)
        return _classify(v, source, target, read_only, propagation, loc, "volume")
    if vtype == "image":
        return Mount(target, "other", source, True, loc)
    raise ValueError(f"unknown mount type {vtype!r} (bind, volume, tmpfs, npipe, image)")


def _classify(v: ServiceView, source: str, target: str, read_only: bool, propagation: str | None, loc: Loc,
             forced: str | None) -> Mount:
    """A short-syntax source: a host path, or a named volume (maybe a bind in disguise)."""
    named = forced == "volume" or not (is_path(source) or (source.startswith("$") and source not in v.p.volumes))
    if not named:
        return Mount(target, "host", _norm_host(source), read_only, loc, propagation=propagation)
    device = _bind_device(v.p.volumes.get(source))
    if device is not None:
        return Mount(target, "host", _norm_host(device), read_only, loc, shared_name=source,
                     propagation=propagation)
    return Mount(target, "volume", source, read_only, loc, shared_name=source, propagation=propagation)


def _declared_volume(v: ServiceView, name: str, use_ptr: str) -> Volume:
    decl = v.p.volumes.get(name)
    if name not in v.p.volumes:
        return Volume(name, "volume", None, v.loc(use_ptr))
    d = as_dict(decl)
    loc = v.doc.loc(f"/volumes/{escape(name)}")
    device = _bind_device(decl)
    if device is not None:
        return Volume(name, "hostPath", _norm_host(device), loc)
    ext = d.get("external")
    if ext is not None and ext is not False and ext != "false":
        return Volume(name, "external", None, loc)
    return Volume(name, "volume", None, loc)


def _secret_mount(v: ServiceView, key: str, kind: str, item: Any, ptr: str) -> tuple[Mount | None, Volume | None]:
    loc = v.loc(ptr)
    if isinstance(item, str):
        source, target = item, None
    elif isinstance(item, dict) and isinstance(item.get("source"), str):
        source = item["source"]
        t = item.get("target")
        target = to_text(t) if t is not None and not isinstance(t, dict | list) else None
    else:
        v.error(ptr, f"`{key}` entries must be names or mappings with a `source`")
        return None, None
    if not target:
        target = f"/run/secrets/{source}" if kind == "secret" else f"/{source}"
    elif kind == "secret" and not target.startswith("/"):
        target = f"/run/secrets/{target}"
    decls = v.p.secrets if kind == "secret" else v.p.configs
    vol: Volume | None = None
    if source in decls:
        # The file of a file-based secret is bind-mounted by Compose, but it is the intended
        # way to hand over a secret, so it is not a host path (kept in extra["secret_sources"]).
        d = as_dict(decls[source])
        vol = Volume(source, kind, None, v.doc.loc(f"/{key}/{escape(source)}"))
        origin = {k: d[k] for k in ("file", "environment", "external", "name", "content") if k in d}
        table = v.extra.setdefault("secret_sources", Val({}, v.doc.loc(f"/{key}"))).value
        if isinstance(table, dict):
            table[f"{kind}:{source}"] = origin
    return Mount(target, kind, source, True, loc), vol


def devices(v: ServiceView) -> list[Val[str]]:
    """Host device paths (the part before the first colon)."""
    out: list[Val[str]] = []
    for item, ptr in v.items("devices"):
        if isinstance(item, str) and item.strip():
            out.append(Val(item.split(":", 1)[0].strip(), v.loc(ptr)))
        elif isinstance(item, dict) and isinstance(item.get("source"), str):
            out.append(Val(item["source"], v.loc(ptr)))
        else:
            v.error(ptr, "`devices` entries must be HOST[:CONTAINER[:PERMS]] strings")
    return out


def _bind_device(decl: Any) -> str | None:
    """The host directory of a ``local`` volume declared as a bind mount, if it is one."""
    d = as_dict(decl)
    opts = as_dict(d.get("driver_opts"))
    device = opts.get("device")
    o = str(opts.get("o") or "")
    if isinstance(device, str) and "bind" in o.split(",") and d.get("driver") in (None, "local"):
        return device
    return None


def _norm_host(path: str) -> str:
    """Absolute host paths normalised (``//``, ``..``, trailing ``/``); relative ones as written."""
    if not path.startswith("/"):
        return path
    return "/" + posixpath.normpath(path).lstrip("/")
