"""Safe defaults for the mutating admission webhook, as an RFC 6902 JSON Patch.

Only fields a workload left unset are filled; an explicit value is never changed. Every
default applied is one human line (returned as an admission warning), and every default
deliberately *not* applied says why, so nothing changes silently. Pure: no I/O, the same
object and policy always give the same patch, and a mutated object gives an empty one.

Choices worth knowing (docs/admission.md has the user-facing version):

* ``allowPrivilegeEscalation: false`` is not set on a container that is privileged or adds
  ``CAP_SYS_ADMIN``: the API server rejects that combination, so the patch would turn an
  admissible object into a rejected one.
* ``capabilities.drop: [ALL]`` keeps the container's own ``add`` list (the runtime applies
  drop first, then add). The policy's ``allow.capabilities`` are the capabilities the
  organisation accepts; those that the runtime grants by default are added back, so an
  application that relied on them (NET_BIND_SERVICE for port 80, SETUID for a server that
  changes user) keeps working: the effective set becomes *default ∩ allowed*, plus the
  container's own ``add``. A capability outside the runtime's default set is never added
  (that would grant more than before), nor NET_RAW (MAM-CAP-007 flags adding it back
  whatever the allowlist says), nor one the container already drops. A privileged
  container has every capability whatever it drops, so it is left alone.
* The pod-level ``seccompProfile: RuntimeDefault`` is added when the pod sets none, no
  legacy seccomp annotation exists (the API server rejects a field that disagrees with the
  annotation), and at least one container has no profile of its own: a container-level
  profile overrides the pod's, so the default never changes a container that chose one.
* Pods declaring ``spec.os.name: windows`` get no Linux-only field (the API server forbids
  them there); ``runAsNonRoot`` is not forced on a pod that explicitly runs as UID 0.
* ``default_labels`` go on the object's labels and, for workloads, on the pod template's
  labels too: the labels are about what runs (placement, network and cost selectors), and a
  template label reaches every pod the controller creates. Adding a template label never
  breaks the selector, which only has to be a subset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mamori.policy.config import Policy
from mamori.sources.kubernetes import POD_SPEC

# Capabilities containerd and Docker grant a container by default (moby oci/caps/defaults.go).
RUNTIME_DEFAULT_CAPS = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
NEVER_ADDED_BACK = frozenset({"NET_RAW"})
LEGACY_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
LEGACY_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
CONTAINER_KEYS = (("initContainers", "init container"), ("containers", "container"),
                  ("ephemeralContainers", "ephemeral container"))
MAX_CONTAINERS = 1000  # the API server's 3 MiB object limit allows far fewer real ones
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True, slots=True)
class Mutation:
    """The JSON Patch to return, one line per default applied, one per default skipped."""

    patch: list[dict[str, Any]] = field(default_factory=list)
    applied: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the admission response should tell the user: applied and skipped defaults."""
        return self.applied + self.skipped


def escape(key: str) -> str:
    """RFC 6901: ``~`` becomes ``~0`` and ``/`` becomes ``~1`` (order matters)."""
    return key.replace("~", "~0").replace("/", "~1")


def cap_name(text: object) -> str:
    return str(text).strip().upper().removeprefix("CAP_")


def valid_label(key: str, value: str) -> bool:
    """A label the API server accepts: ``[prefix/]name`` and a value of at most 63 characters."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.fullmatch(prefix)):
        return False
    return bool(_NAME.fullmatch(name)) and (value == "" or bool(_NAME.fullmatch(value)))


def _get(data: Any, pointer: str) -> Any:
    cur = data
    for part in pointer.strip("/").split("/") if pointer else []:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


class _Builder:
    """Collects patch operations and the lines that explain them."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.ops: list[dict[str, Any]] = []
        self.applied: list[str] = []
        self.skipped: list[str] = []

    def add(self, path: str, value: Any) -> None:
        self.ops.append({"op": "add", "path": path, "value": value})

    def did(self, where: str, what: str) -> None:
        self.applied.append(f"{self.subject}{where}: {what}")

    def skip(self, where: str, what: str) -> None:
        self.skipped.append(f"{self.subject}{where}: {what}")

    def fill(self, ptr: str, current: Any, values: dict[str, Any]) -> None:
        """Add ``values`` to the object at ``ptr``: the whole object if it is missing, else key by key."""
        if not values:
            return
        if not isinstance(current, dict):
            self.add(ptr, values)
            return
        for key, value in values.items():
            self.add(f"{ptr}/{escape(key)}", value)


def mutate(obj: dict[str, Any], policy: Policy, *, namespace: str | None = None) -> Mutation:
    """The safe defaults ``policy.enforcement.mutate`` asks for, as a JSON Patch against ``obj``.

    ``namespace`` is the admission request's namespace; it wins over the object's, which a
    client may omit. Objects in an exempt namespace and kinds without a pod spec get an
    empty patch.
    """
    if not isinstance(obj, dict):
        return Mutation()
    kind = obj.get("kind")
    spec_ptr = POD_SPEC.get(kind) if isinstance(kind, str) else None
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns = namespace or (meta.get("namespace") if isinstance(meta.get("namespace"), str) else None)
    if spec_ptr is None or (ns is not None and ns in policy.enforcement.exempt_namespaces):
        return Mutation()
    spec = _get(obj, spec_ptr)
    if not isinstance(spec, dict):
        return Mutation()
    name = meta.get("name") or (f"{meta.get('generateName')}*" if meta.get("generateName") else "<unnamed>")
    b = _Builder("/".join(str(p) for p in (kind, ns, name) if p))
    m = policy.enforcement.mutate
    tmpl_ptr = spec_ptr.rsplit("/", 1)[0]
    pod_meta = meta if kind == "Pod" else _get(obj, tmpl_ptr + "/metadata")
    pod_meta = pod_meta if isinstance(pod_meta, dict) else {}
    linux = _dict(spec.get("os")).get("name") != "windows"
    if not linux and (m.no_privilege_escalation or m.drop_capabilities or m.seccomp_runtime_default
                      or m.read_only_root):
        b.skip("", "Linux-only defaults not applied: the pod declares os.name=windows")
    containers = list(_containers(spec, spec_ptr))
    if linux:
        for ptr, label, c in containers:
            _container_defaults(b, policy, ptr, f" {label} {c.get('name') or '<unnamed>'}", c)
    _pod_defaults(b, policy, spec, spec_ptr, pod_meta, containers, linux)
    _labels(b, m.default_labels, obj.get("metadata"), "/metadata", "label")
    if kind != "Pod":
        _labels(b, m.default_labels, _get(obj, tmpl_ptr + "/metadata"), tmpl_ptr + "/metadata", "pod template label")
    return Mutation(b.ops, tuple(b.applied), tuple(b.skipped))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _containers(spec: dict[str, Any], spec_ptr: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(pointer, role label, container) for every container that is a mapping, at most MAX_CONTAINERS."""
    out = []
    for key, label in CONTAINER_KEYS:
        items = spec.get(key)
        if isinstance(items, list):
            out += [(f"{spec_ptr}/{key}/{i}", label, c) for i, c in enumerate(items) if isinstance(c, dict)]
    return out[:MAX_CONTAINERS]


def _container_defaults(b: _Builder, policy: Policy, ptr: str, where: str, c: dict[str, Any]) -> None:
    m = policy.enforcement.mutate
    raw = c.get("securityContext")
    if raw is not None and not isinstance(raw, dict):
        b.skip(where, "securityContext is not a mapping; no default applied")
        return
    sc: dict[str, Any] = raw or {}
    sc_ptr = f"{ptr}/securityContext"
    privileged = sc.get("privileged") is True
    caps = sc.get("capabilities")
    adds = caps.get("add") if isinstance(caps, dict) else None
    added = [str(x) for x in adds] if isinstance(adds, list) else []
    values: dict[str, Any] = {}
    if m.no_privilege_escalation and sc.get("allowPrivilegeEscalation") is None:
        if privileged:
            b.skip(where, "allowPrivilegeEscalation left unset: the container is privileged")
        elif any(cap_name(x) == "SYS_ADMIN" for x in added):
            b.skip(where, "allowPrivilegeEscalation left unset: the container adds CAP_SYS_ADMIN")
        else:
            values["allowPrivilegeEscalation"] = False
            b.did(where, "set securityContext.allowPrivilegeEscalation=false")
    if m.read_only_root and sc.get("readOnlyRootFilesystem") is None:
        values["readOnlyRootFilesystem"] = True
        b.did(where, "set securityContext.readOnlyRootFilesystem=true")
    cap_values: dict[str, Any] = {}
    if m.drop_capabilities:
        cap_values = _capabilities(b, policy, where, privileged, caps, added)
    if cap_values and not isinstance(caps, dict):
        values["capabilities"] = cap_values
        cap_values = {}
    b.fill(sc_ptr, raw, values)
    if cap_values:
        _extend(b, f"{sc_ptr}/capabilities", _dict(caps), cap_values)


def _capabilities(b: _Builder, policy: Policy, where: str, privileged: bool, caps: Any,
                  added: list[str]) -> dict[str, Any]:
    """What to add to ``capabilities``: ``drop: [ALL]`` and the allowed runtime defaults to keep."""
    if caps is not None and not isinstance(caps, dict):
        b.skip(where, "capabilities is not a mapping; nothing dropped")
        return {}
    caps = caps or {}
    drop = caps.get("drop")
    if drop is not None and not isinstance(drop, list):
        b.skip(where, "capabilities.drop is not a list; nothing dropped")
        return {}
    if caps.get("add") is not None and not isinstance(caps.get("add"), list):
        b.skip(where, "capabilities.add is not a list; nothing dropped")
        return {}
    dropped = {cap_name(x) for x in drop or []}
    if "ALL" in dropped:
        return {}
    if privileged:
        b.skip(where, "capabilities left as they are: a privileged container has all of them")
        return {}
    have = {cap_name(x) for x in added}
    keep = sorted(c for c in policy.settings.allowed_capabilities
                  if c in RUNTIME_DEFAULT_CAPS and c not in NEVER_ADDED_BACK and c not in dropped and c not in have)
    out: dict[str, Any] = {"drop": ["ALL"]}
    what = "set securityContext.capabilities.drop=[ALL]"
    if have:
        what += f" (its add list stays: {', '.join(sorted(have))})"
    b.did(where, what)
    if keep:
        out["add"] = keep
        b.did(where, f"kept allowed default capabilities by adding back {', '.join(keep)}")
    return out


def _extend(b: _Builder, ptr: str, caps: dict[str, Any], values: dict[str, Any]) -> None:
    """Append to existing ``drop``/``add`` lists by index, or add the missing list whole."""
    for key, items in values.items():
        current = caps.get(key)
        if isinstance(current, list):
            for i, item in enumerate(items):
                b.add(f"{ptr}/{key}/{len(current) + i}", item)
        else:
            b.add(f"{ptr}/{key}", items)


def _pod_defaults(b: _Builder, policy: Policy, spec: dict[str, Any], spec_ptr: str, pod_meta: dict[str, Any],
                  containers: list[tuple[str, str, dict[str, Any]]], linux: bool) -> None:
    m = policy.enforcement.mutate
    raw = spec.get("securityContext")
    if raw is not None and not isinstance(raw, dict):
        if m.seccomp_runtime_default or m.run_as_non_root:
            b.skip("", "pod securityContext is not a mapping; no pod default applied")
        return
    psc: dict[str, Any] = raw or {}
    values: dict[str, Any] = {}
    if linux and m.seccomp_runtime_default and psc.get("seccompProfile") is None:
        annotations = _dict(pod_meta.get("annotations"))
        legacy = [k for k in annotations if k == LEGACY_SECCOMP_POD or str(k).startswith(LEGACY_SECCOMP_CONTAINER)]
        own = [c for _, _, c in containers if _dict(c.get("securityContext")).get("seccompProfile") is not None]
        if legacy:
            b.skip("", f"seccompProfile left unset: the legacy annotation {legacy[0]} sets seccomp")
        elif containers and len(own) < len(containers):
            values["seccompProfile"] = {"type": "RuntimeDefault"}
            b.did("", "set pod securityContext.seccompProfile.type=RuntimeDefault")
    if m.run_as_non_root and psc.get("runAsNonRoot") is None:
        root = psc.get("runAsUser") == 0 or any(
            _dict(c.get("securityContext")).get("runAsUser") == 0 for _, _, c in containers)
        if root:
            b.skip("", "runAsNonRoot left unset: the pod explicitly runs as UID 0")
        else:
            values["runAsNonRoot"] = True
            b.did("", "set pod securityContext.runAsNonRoot=true")
    b.fill(f"{spec_ptr}/securityContext", raw, values)


def _labels(b: _Builder, defaults: dict[str, str], meta: Any, meta_ptr: str, what: str) -> None:
    """Missing default labels; ``meta`` is the raw metadata (None: absent, created whole)."""
    if not defaults:
        return
    if meta is not None and not isinstance(meta, dict):
        b.skip("", f"metadata for {what}s is not a mapping; no default label added")
        return
    labels = meta.get("labels") if meta is not None else None
    if labels is not None and not isinstance(labels, dict):
        b.skip("", f"{what}s are not a mapping; no default label added")
        return
    missing: dict[str, str] = {}
    for key, value in defaults.items():
        if labels is not None and key in labels:
            continue
        if not valid_label(key, value):
            b.skip("", f"default {what} {key}={value} is not a valid Kubernetes label; not added")
            continue
        missing[key] = value
        b.did("", f"set {what} {key}={value}")
    if not missing:
        return
    if meta is None:
        b.add(meta_ptr, {"labels": missing})
    elif labels is None:
        b.add(f"{meta_ptr}/labels", missing)
    else:
        for key, value in missing.items():
            b.add(f"{meta_ptr}/labels/{escape(key)}", value)
