"""The policy file (``.mamori.yaml`` / ``mamori.yaml`` / ``--config``).

One file serves the CLI scan and, later, the admission webhook and AuthZ plugin, so the
CI verdict and the runtime verdict are taken under the same policy. Unknown keys and bad
values are errors with file and line: a typo must not silently weaken a policy.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from mamori.model import Severity
from mamori.policy.enforcement import DockerEnforcement, Enforcement, Mode, Mutations
from mamori.policy.settings import Settings
from mamori.policy.trust import ApprovedDigests, ImageTrust
from mamori.sources.yamldoc import Doc, load_docs

if TYPE_CHECKING:
    from mamori.promote.environments import Environment

CONFIG_NAMES = (".mamori.yaml", ".mamori.yml", "mamori.yaml", "mamori.yml")


class ConfigError(Exception):
    """A policy file that cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Waiver:
    """Accept findings of ``rules`` where resource, path and container globs all match."""

    rules: tuple[str, ...]
    reason: str
    expires: date | None = None
    resource: str | None = None
    path: str | None = None
    container: str | None = None
    line: int = 0
    file: str = ""

    def matches(self, rule_id: str, resource: str, path: str, container: str | None) -> bool:
        if not any(r == "*" or fnmatch.fnmatchcase(rule_id, r) for r in self.rules):
            return False
        if self.resource and not fnmatch.fnmatchcase(resource, self.resource):
            return False
        if self.path and not (fnmatch.fnmatchcase(path, self.path) or fnmatch.fnmatchcase(
                os.path.normpath(path), os.path.normpath(self.path))):
            return False
        return not (self.container and not fnmatch.fnmatchcase(container or "", self.container))


@dataclass(frozen=True, slots=True)
class Policy:
    settings: Settings = field(default_factory=Settings)
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    fail_on: Severity | None = None
    source: str | None = None  # the file it was read from
    enforcement: Enforcement = field(default_factory=Enforcement)
    approved_digests: ApprovedDigests | None = None  # the built-in image-trust provider
    image_trust: ImageTrust | None = None  # signatures (and approvals) from `trust:`, when configured
    environments: tuple[Environment, ...] = ()  # promotion targets and their gates (mamori.promote)

    def enabled(self, rule_id: str, default: bool) -> bool:
        if any(fnmatch.fnmatchcase(rule_id, p) for p in self.disable):
            return False
        if any(fnmatch.fnmatchcase(rule_id, p) for p in self.enable):
            return True
        return default


_TOP = {"rules", "fail-on", "required-labels", "allow", "waivers", "monitoring-images", "log-drivers", "min-replicas",
        "classification-label", "sensitive-classifications", "enforcement",
        "trust", "environments"}


def find_config(start: str = ".") -> str | None:
    for name in CONFIG_NAMES:
        path = os.path.join(start, name)
        if os.path.isfile(path):
            return path
    return None


def _strs(doc: Doc, ptr: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: expected a list of strings")
    return tuple(str(v) for v in value)


def _keys(doc: Doc, ptr: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: expected a mapping")
    for k in value:
        if k not in allowed:
            raise ConfigError(f"{doc.file}:{doc.line_of(f'{ptr}/{k}')}: unknown key {k!r} "
                              f"(expected one of {', '.join(sorted(allowed))})")
    return value


def _int(doc: Doc, ptr: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: expected a whole number, not {value!r}")
    return value


def _date(doc: Doc, ptr: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: {value!r} is not a date (YYYY-MM-DD)") from None


def _severity(doc: Doc, ptr: str, value: Any) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: {exc}") from None


def _bool(doc: Doc, ptr: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: expected true or false, not {value!r}")
    return value


def _mode(doc: Doc, ptr: str, value: Any) -> Mode:
    try:
        return Mode(str(value).strip().lower())
    except ValueError:
        raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: unknown mode {value!r} "
                          f"(expected one of {', '.join(m.value for m in Mode)})") from None


def _enforcement(doc: Doc, value: Any) -> Enforcement:
    top = _keys(doc, "/enforcement", value, {"mode", "deny-on", "rules", "exempt-namespaces", "mutate", "docker",
                                                       "existing-on-update"})
    base = Enforcement()
    modes = top.get("rules") or {}
    if not isinstance(modes, dict):
        raise ConfigError(f"{doc.file}:{doc.line_of('/enforcement/rules')}: expected a mapping of rule id to mode")
    mut = _keys(doc, "/enforcement/mutate", top.get("mutate"),
                {"no-privilege-escalation", "drop-capabilities", "seccomp-runtime-default", "run-as-non-root",
                 "read-only-root", "default-labels"})
    m0 = Mutations()
    labels = mut.get("default-labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str | int) for v in labels.values()):
        raise ConfigError(f"{doc.file}:{doc.line_of('/enforcement/mutate/default-labels')}: "
                          "expected a mapping of label to default value")
    mp = "/enforcement/mutate/"
    mutations = Mutations(
        no_privilege_escalation=_bool(doc, mp + "no-privilege-escalation", mut.get("no-privilege-escalation"),
                                      m0.no_privilege_escalation),
        drop_capabilities=_bool(doc, mp + "drop-capabilities", mut.get("drop-capabilities"), m0.drop_capabilities),
        seccomp_runtime_default=_bool(doc, mp + "seccomp-runtime-default", mut.get("seccomp-runtime-default"),
                                      m0.seccomp_runtime_default),
        run_as_non_root=_bool(doc, mp + "run-as-non-root", mut.get("run-as-non-root"), m0.run_as_non_root),
        read_only_root=_bool(doc, mp + "read-only-root", mut.get("read-only-root"), m0.read_only_root),
        default_labels={str(k): str(v) for k, v in labels.items()},
    )
    dk = _keys(doc, "/enforcement/docker", top.get("docker"), {"allow-plugins", "volume-drivers", "allow-root-exec"})
    d0 = DockerEnforcement()
    docker = DockerEnforcement(
        allowed_plugins=_strs(doc, "/enforcement/docker/allow-plugins", dk.get("allow-plugins")),
        volume_drivers=_strs(doc, "/enforcement/docker/volume-drivers", dk["volume-drivers"])
        if "volume-drivers" in dk else d0.volume_drivers,
        allow_root_exec=_bool(doc, "/enforcement/docker/allow-root-exec", dk.get("allow-root-exec"),
                              d0.allow_root_exec),
    )
    return Enforcement(
        mode=_mode(doc, "/enforcement/mode", top["mode"]) if "mode" in top else base.mode,
        rule_modes=tuple((str(k), _mode(doc, f"/enforcement/rules/{k}", v)) for k, v in modes.items()),
        deny_on=_severity(doc, "/enforcement/deny-on", top["deny-on"]) if top.get("deny-on") else None,
        exempt_namespaces=_strs(doc, "/enforcement/exempt-namespaces", top["exempt-namespaces"])
        if "exempt-namespaces" in top else base.exempt_namespaces,
        mutate=mutations,
        docker=docker,
        existing_on_update=_mode(doc, "/enforcement/existing-on-update", top["existing-on-update"])
        if "existing-on-update" in top else base.existing_on_update,
    )


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _trust(doc: Doc, value: Any) -> tuple[ApprovedDigests | None, ImageTrust | None]:
    """``trust.approved-images`` (digests) and ``trust.signatures`` (cosign-format signatures).

    With both, an image must be signed *and* approved. Paths in ``signatures`` are relative
    to the policy file.
    """
    top = _keys(doc, "/trust", value, {"approved-images", "signatures", "registry", "attestations"})
    approved = None
    if "approved-images" in top:
        digests = set()
        for i, ref in enumerate(_strs(doc, "/trust/approved-images", top["approved-images"])):
            digest = ref.rsplit("@", 1)[-1].lower()
            if not _DIGEST.fullmatch(digest):
                raise ConfigError(f"{doc.file}:{doc.line_of(f'/trust/approved-images/{i}')}: {ref!r} is not pinned "
                                  "by a sha256 digest (NAME@sha256:<64 hex> or sha256:<64 hex>)")
            digests.add(digest)
        approved = ApprovedDigests(frozenset(digests))
    signed: ImageTrust | None = None
    sig = top.get("signatures")
    mapping: dict[str, Any] | None = None
    base = os.path.dirname(os.path.abspath(doc.file))
    from mamori.image.options import RegistryOptions

    reg = _keys(doc, "/trust/registry", top.get("registry"), {"ca-file", "insecure"})
    options = RegistryOptions(ca_file=os.path.join(base, reg["ca-file"]) if reg.get("ca-file") else None,
                              insecure=_bool(doc, "/trust/registry/insecure", reg.get("insecure"), False))
    if sig is not None:
        if not isinstance(sig, dict):
            raise ConfigError(f"{doc.file}:{doc.line_of('/trust/signatures')}: expected a mapping")
        from mamori.sign.errors import SignError
        from mamori.sign.trust import from_config

        def rel(p: Any) -> Any:
            return os.path.join(base, p) if isinstance(p, str) and not os.path.isabs(p) else p

        mapping = dict(sig)
        for key in ("keys", "roots", "intermediates", "crls"):
            if isinstance(mapping.get(key), list):
                mapping[key] = [rel(p) for p in mapping[key]]
        if "pki" in mapping:
            mapping["pki"] = rel(mapping["pki"])
        if "gpg-keyring" in mapping:
            mapping["gpg-keyring"] = rel(mapping["gpg-keyring"])
        if isinstance(mapping.get("lookaside"), str) and not mapping["lookaside"].startswith("file://"):
            mapping["lookaside"] = rel(mapping["lookaside"])
        try:
            signed = from_config(mapping, options)
        except SignError as exc:
            raise ConfigError(f"{doc.file}:{doc.line_of('/trust/signatures')}: {exc}") from None
    attested: ImageTrust | None = None
    if top.get("attestations") is not None:
        from mamori.attest.errors import AttestError
        from mamori.attest.trust import from_config as attestation_trust

        att = top["attestations"]
        if not isinstance(att, dict):
            raise ConfigError(f"{doc.file}:{doc.line_of('/trust/attestations')}: expected a mapping")
        try:
            attested = attestation_trust(att, mapping, base, options)
        except AttestError as exc:
            raise ConfigError(f"{doc.file}:{doc.line_of('/trust/attestations')}: {exc}") from None
    providers = tuple(p for p in (signed, attested, approved) if p is not None)
    if len(providers) > 1:
        from mamori.sign.trust import AllOf

        return approved, AllOf(providers)
    return approved, providers[0] if providers else None


def _environments(doc: Doc, value: Any) -> tuple[Environment, ...]:
    """``environments:`` (mamori.promote.environments); paths are relative to the policy file."""
    if value is None:
        return ()
    from mamori.promote.environments import EnvConfigError, parse

    base = os.path.dirname(os.path.abspath(doc.file))
    try:
        return parse(value, lambda p: p if os.path.isabs(p) else os.path.join(base, p))
    except EnvConfigError as exc:
        raise ConfigError(f"{doc.file}:{doc.line_of(exc.pointer)}: {exc}") from None


def load_policy(path: str) -> Policy:
    """Read and validate a policy file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1024 * 1024)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    docs, errors = load_docs(path, text)
    if errors:
        raise ConfigError(str(errors[0]))
    if not docs or docs[0].data is None:
        return Policy(source=path)
    doc = docs[0]
    top = _keys(doc, "", doc.data, _TOP)
    rules = _keys(doc, "/rules", top.get("rules"), {"enable", "disable", "severity"})
    sev = rules.get("severity") or {}
    if not isinstance(sev, dict):
        raise ConfigError(f"{doc.file}:{doc.line_of('/rules/severity')}: expected a mapping of rule id to severity")
    allow = _keys(doc, "/allow", top.get("allow"), {"capabilities", "registries", "host-paths"})
    waivers = []
    raw_waivers = top.get("waivers") or []
    if not isinstance(raw_waivers, list):
        raise ConfigError(f"{doc.file}:{doc.line_of('/waivers')}: expected a list of waivers")
    for i, w in enumerate(raw_waivers):
        ptr = f"/waivers/{i}"
        wd = _keys(doc, ptr, w, {"rule", "rules", "reason", "expires", "resource", "path", "container"})
        ids = _strs(doc, ptr, wd.get("rules")) + _strs(doc, ptr, wd.get("rule"))
        if not ids:
            raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: a waiver needs `rule` or `rules`")
        reason = wd.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{doc.file}:{doc.line_of(ptr)}: a waiver needs a `reason`")
        waivers.append(Waiver(ids, reason.strip(), _date(doc, f"{ptr}/expires", wd.get("expires")),
                              wd.get("resource"), wd.get("path"), wd.get("container"), doc.line_of(ptr), path))
    trust = _trust(doc, top.get("trust"))
    base = Settings()
    settings = Settings(
        required_labels=_strs(doc, "/required-labels", top["required-labels"]) if "required-labels" in top
        else base.required_labels,
        allowed_capabilities=tuple(c.upper().removeprefix("CAP_") for c in _strs(doc, "/allow/capabilities",
                                                                                 allow.get("capabilities"))),
        allowed_registries=_strs(doc, "/allow/registries", allow.get("registries")),
        allowed_host_paths=_strs(doc, "/allow/host-paths", allow.get("host-paths")),
        monitoring_patterns=base.monitoring_patterns + _strs(doc, "/monitoring-images", top.get("monitoring-images")),
        central_log_drivers=_strs(doc, "/log-drivers", top["log-drivers"]) if "log-drivers" in top
        else base.central_log_drivers,
        min_replicas=_int(doc, "/min-replicas", top.get("min-replicas", base.min_replicas)),
        classification_label=str(top.get("classification-label", base.classification_label)),
        sensitive_classifications=tuple(v.lower() for v in _strs(doc, "/sensitive-classifications",
                                                                 top["sensitive-classifications"]))
        if "sensitive-classifications" in top else base.sensitive_classifications,
    )
    return Policy(
        settings=settings,
        enable=_strs(doc, "/rules/enable", rules.get("enable")),
        disable=_strs(doc, "/rules/disable", rules.get("disable")),
        severity={str(k): _severity(doc, f"/rules/severity/{k}", v) for k, v in sev.items()},
        waivers=tuple(waivers),
        fail_on=_severity(doc, "/fail-on", top["fail-on"]) if top.get("fail-on") else None,
        source=path,
        enforcement=_enforcement(doc, top.get("enforcement")),
        approved_digests=trust[0],
        image_trust=trust[1],
        environments=_environments(doc, top.get("environments")),
    )
