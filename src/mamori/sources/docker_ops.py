"""Docker Engine API operations other than container create, as Workloads the rules can judge.

* ``POST /containers/{id}/exec`` -> a Workload of kind ``Exec`` with one container (role
  ``service``, whose missing image no rule reports) that has only what an exec can set:
  ``Privileged``, ``User``, ``Env`` and the command. Everything else is None (not
  expressible), so only rules about those settings speak: MAM-PRIV-001 for
  ``--privileged``, MAM-PRIV-009 for ``--user root``, the secret rules for ``-e``. An empty
  ``User`` runs as the container's user, decided at create, so it is not modelled;
  ``root_exec_allowed`` (the policy's ``enforcement.docker.allow-root-exec``) leaves a root
  ``User`` out of the model too, which is the one adapter-level switch.
* ``POST /images/create?fromImage=`` -> a Workload of kind ``ImagePull`` whose container has
  only the image: the image rules (registry allowlist above all) judge it.
* ``POST /volumes/create`` with a ``local`` driver binding a host directory -> a Workload
  of kind ``Volume`` with a host mount of that directory (the Compose source reads a named
  volume declared with ``driver_opts: {o: bind, device: /x}`` the same way): a later
  ``-v name:/data`` shows only the name, so the host path is judged when the volume is made.
"""

from __future__ import annotations

from typing import Any

from mamori.model import Container, EnvVar, Identity, InputError, Loc, Mount, Role, ScanSet, SourceKind, Val, Workload
from mamori.sources.docker_api import MAX_ITEMS, MAX_TEXT, bind_device, norm_host
from mamori.sources.gojson import as_obj, entries, field
from mamori.sources.imageref import parse_image_ref

EXEC_KIND = "Exec"
PULL_KIND = "ImagePull"
VOLUME_KIND = "Volume"


def root_user(user: str) -> bool:
    """``root``, ``0``, ``root:x`` or ``0:x`` (Docker resolves the name inside the container)."""
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0")


def load_exec(body: Any, *, container: str, file: str = "docker-api", root_exec_allowed: bool = False) -> ScanSet:
    """An exec create body. Raises JsonError when a field is set twice (see :mod:`~mamori.sources.gojson`)."""
    out = ScanSet(files=[file])
    obj = as_obj(body)
    if obj is None:
        out.errors.append(InputError(file, 0, "an exec body must be a JSON object"))
        return out

    def get(name: str, kind: type, what: str) -> tuple[Any, Loc] | None:
        got = field(obj, name)
        if got is None or got[1] is None:
            return None
        value = got[1]
        if not isinstance(value, kind) or (isinstance(value, str) and len(value) > MAX_TEXT):
            out.errors.append(InputError(file, 0, f"/{name}: must be {what}"))
            return None
        return value, Loc(file, 0, f"/{name}")

    priv = get("Privileged", bool, "true or false")
    user_got = get("User", str, "a string")
    user: Val[str | None] | None = None
    if user_got is not None and user_got[0].strip() and not (root_exec_allowed and root_user(user_got[0])):
        user = Val(user_got[0].strip(), user_got[1])
    env: list[EnvVar] = []
    env_got = get("Env", list, "a list of strings")
    for i, item in enumerate((env_got[0] if env_got else [])[:MAX_ITEMS]):
        if isinstance(item, str) and len(item) <= MAX_TEXT:
            name, eq, value = item.partition("=")
            if name.strip():
                env.append(EnvVar(name.strip(), value if eq else None, Loc(file, 0, f"/Env/{i}"), origin="environment"))
    cmd_got = get("Cmd", list, "a list of strings")
    command = tuple(c for c in (cmd_got[0] if cmd_got else [])[:MAX_ITEMS] if isinstance(c, str))
    top = Loc(file, 0, "")
    c = Container(
        name=container,
        role=Role.SERVICE,  # not EPHEMERAL: MAM-IMG-001 reports an ephemeral container without an image
        loc=top,
        image=Val(None, top, explicit=False),
        user=user,
        privileged=Val(priv[0], priv[1]) if priv else Val(False, Loc(file, 0, "/Privileged"), explicit=False),
        env=tuple(env),
        command=command,
    )
    out.workloads.append(Workload(Identity(SourceKind.DOCKER, file, EXEC_KIND, container), top, (c,)))
    return out


def pull_reference(from_image: str, tag: str | None) -> str:
    """The reference the daemon pulls: a ``tag`` parameter replaces the tag, or is a digest (moby's handler)."""
    ref = from_image.strip()
    if not tag:
        return ref
    name = ref.partition("@")[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name = name[:colon]
    return f"{name}@{tag}" if ":" in tag else f"{name}:{tag}"


def load_pull(reference: str, *, file: str = "docker-api") -> ScanSet:
    """An image pull of ``reference`` (from :func:`pull_reference`)."""
    out = ScanSet(files=[file])
    loc = Loc(file, 0, "?fromImage")
    ref = parse_image_ref(reference)
    c = Container(name=ref.raw[:256], role=Role.CONTAINER, loc=loc, image=Val(ref, loc))
    out.workloads.append(Workload(Identity(SourceKind.DOCKER, file, PULL_KIND, ref.raw[:256]), loc, (c,)))
    return out


def volume_driver(body: Any) -> tuple[str, str, dict[str, str]]:
    """``(name, driver, options)`` of a volume create body; the empty driver is ``local``."""
    obj = as_obj(body)
    if obj is None:
        raise ValueError("a volume create body must be a JSON object")
    values: dict[str, Any] = {}
    for key in ("Name", "Driver", "DriverOpts"):
        got = field(obj, key)
        values[key] = got[1] if got is not None else None
    name, driver = values["Name"] or "", values["Driver"] or "local"
    if not isinstance(name, str) or not isinstance(driver, str):
        raise ValueError("volume Name and Driver must be strings")
    opts = {k: v for k, v in entries(values["DriverOpts"]) if isinstance(v, str)}
    return name[:256], driver[:256], opts


def load_volume(name: str, driver: str, opts: dict[str, str], *, file: str = "docker-api") -> ScanSet:
    """A volume that binds a host directory, as a host mount; no Workload for any other volume."""
    out = ScanSet(files=[file])
    device = bind_device(driver, opts)
    if device is None:
        return out
    loc = Loc(file, 0, "/DriverOpts/device")
    shown = name or "(unnamed)"
    mount = Mount(target=device, kind="host", source=norm_host(device), read_only=False, loc=loc,
                  shared_name=name or None)
    c = Container(name=shown, role=Role.SERVICE, loc=loc, image=Val(None, loc, explicit=False), mounts=(mount,))
    out.workloads.append(Workload(Identity(SourceKind.DOCKER, file, VOLUME_KIND, shown), loc, (c,)))
    return out

