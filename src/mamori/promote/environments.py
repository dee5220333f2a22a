"""``environments:`` in mamori.yaml: where each environment's images live and the gates to enter it.

::

    environments:
      dev:
        repository: registry.example:5000/dev/app
      prod:
        repository: registry.example:5000/prod/app
        ca-file: certs/registry-ca.pem      # or insecure: true (loopback registries only)
        gates:
          signers: {keys: [build.pub], required: [build]}   # same keys as trust.signatures
          attestations: [sbom, vuln]                         # verified attestation types
          max-severity: high                                 # worst finding in the vuln attestation
          approval: {signers: [qa]}                          # or `true`: any trusted approver
          attesters: {keys: [qa.pub, build.pub]}             # who may attest; default: signers

Parsed at load time (unknown keys are errors); key files are read when a promotion runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mamori.attest import predicates, statement
from mamori.attest.errors import AttestError

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
ENV_KEYS = {"repository", "insecure", "ca-file", "gates"}
GATE_KEYS = {"signers", "attestations", "max-severity", "approval", "attesters"}
SIGNER_KEYS = {"keys", "pki", "roots", "intermediates", "crls", "identities", "required", "min-signatures"}
MAX_ENVIRONMENTS = 64


class EnvConfigError(Exception):
    """A bad ``environments`` entry; ``pointer`` is the JSON pointer of the offending value."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer


@dataclass(frozen=True, slots=True)
class SignerSpec:
    """Who is trusted, with the meaning of ``trust.signatures`` (paths already absolute)."""

    keys: tuple[str, ...] = ()
    pki: str | None = None
    roots: tuple[str, ...] = ()
    intermediates: tuple[str, ...] = ()
    crls: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    min_signatures: int = 1


@dataclass(frozen=True, slots=True)
class Gates:
    signers: SignerSpec | None = None
    attestations: tuple[str, ...] = ()  # predicate type URIs
    max_severity: str | None = None
    approval: bool = False
    approvers: tuple[str, ...] = ()  # verified signer identities accepted for the approval
    attesters: SignerSpec | None = None

    def empty(self) -> bool:
        return self.signers is None and not self.attestations and self.max_severity is None and not self.approval


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    repository: str  # registry/repository, no tag
    gates: Gates = Gates()
    insecure: bool = False
    ca_file: str | None = None


def _strs(ptr: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EnvConfigError(ptr, "expected a list of strings")
    return tuple(value)


def _mapping(ptr: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EnvConfigError(ptr, "expected a mapping")
    for k in value:
        if k not in allowed:
            raise EnvConfigError(f"{ptr}/{k}", f"unknown key {k!r} (expected one of {', '.join(sorted(allowed))})")
    return value


def _signers(ptr: str, value: Any, rel: Any) -> SignerSpec:
    m = _mapping(ptr, value, SIGNER_KEYS)
    n = m.get("min-signatures", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        raise EnvConfigError(f"{ptr}/min-signatures", "expected a number 1..64")
    pki = m.get("pki")
    if pki is not None and not isinstance(pki, str):
        raise EnvConfigError(f"{ptr}/pki", "expected a directory path")
    spec = SignerSpec(keys=tuple(rel(p) for p in _strs(f"{ptr}/keys", m.get("keys"))),
                      pki=rel(pki) if pki else None,
                      roots=tuple(rel(p) for p in _strs(f"{ptr}/roots", m.get("roots"))),
                      intermediates=tuple(rel(p) for p in _strs(f"{ptr}/intermediates", m.get("intermediates"))),
                      crls=tuple(rel(p) for p in _strs(f"{ptr}/crls", m.get("crls"))),
                      identities=_strs(f"{ptr}/identities", m.get("identities")),
                      required=_strs(f"{ptr}/required", m.get("required")), min_signatures=n)
    if not spec.keys and not spec.pki and not spec.roots:
        raise EnvConfigError(ptr, "no trusted key or root: give `keys`, `pki` or `roots`")
    return spec


def _repository(ptr: str, value: Any) -> str:
    from mamori.image.errors import ImageError
    from mamori.image.reference import parse_docker_ref

    if not isinstance(value, str) or not value:
        raise EnvConfigError(ptr, "expected registry/repository")
    try:
        d = parse_docker_ref(value)
    except ImageError as exc:
        raise EnvConfigError(ptr, str(exc)) from None
    if d.digest or (d.tag and d.tag != "latest") or value.rsplit("/", 1)[-1].count(":"):
        raise EnvConfigError(ptr, "a repository without tag or digest (the image's tag is kept when promoting)")
    return f"{d.registry}/{d.repository}"


def _gates(ptr: str, value: Any, rel: Any) -> Gates:
    g = _mapping(ptr, value, GATE_KEYS)
    signers = _signers(f"{ptr}/signers", g["signers"], rel) if g.get("signers") is not None else None
    attesters = _signers(f"{ptr}/attesters", g["attesters"], rel) if g.get("attesters") is not None else None
    try:
        types = tuple(statement.predicate_type(t) for t in _strs(f"{ptr}/attestations", g.get("attestations")))
    except AttestError as exc:
        raise EnvConfigError(f"{ptr}/attestations", str(exc)) from None
    sev = g.get("max-severity")
    if sev is not None and (not isinstance(sev, str) or sev.lower() not in predicates.SEVERITIES):
        raise EnvConfigError(f"{ptr}/max-severity", f"expected one of {', '.join(predicates.SEVERITIES)}")
    approval = g.get("approval", False)
    approvers: tuple[str, ...] = ()
    if isinstance(approval, dict):
        approvers = _strs(f"{ptr}/approval/signers", _mapping(f"{ptr}/approval", approval, {"signers"}).get("signers"))
        approval = True
    elif not isinstance(approval, bool):
        raise EnvConfigError(f"{ptr}/approval", "expected true, false or {signers: [...]}")
    gates = Gates(signers, types, sev.lower() if sev else None, approval, approvers, attesters)
    if (gates.attestations or gates.max_severity or gates.approval) and not (attesters or signers):
        raise EnvConfigError(ptr, "attestation gates need `attesters` or `signers` to verify attestations with")
    return gates


def parse(value: Any, rel: Any) -> tuple[Environment, ...]:
    """``environments`` mapping -> environments; ``rel`` makes policy-relative paths absolute."""
    envs = _mapping("/environments", value, set(value) if isinstance(value, dict) else set())
    if len(envs) > MAX_ENVIRONMENTS:
        raise EnvConfigError("/environments", f"more than {MAX_ENVIRONMENTS} environments")
    out = []
    for name, body in envs.items():
        ptr = f"/environments/{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise EnvConfigError(ptr, "environment names are lower-case letters, digits, '.', '_' and '-'")
        e = _mapping(ptr, body, ENV_KEYS)
        if "repository" not in e:
            raise EnvConfigError(ptr, "an environment needs a `repository`")
        insecure = e.get("insecure", False)
        if not isinstance(insecure, bool):
            raise EnvConfigError(f"{ptr}/insecure", "expected true or false")
        ca = e.get("ca-file")
        if ca is not None and not isinstance(ca, str):
            raise EnvConfigError(f"{ptr}/ca-file", "expected a file path")
        gates = _gates(f"{ptr}/gates", e["gates"], rel) if e.get("gates") is not None else Gates()
        out.append(Environment(name, _repository(f"{ptr}/repository", e["repository"]), gates, insecure,
                               rel(ca) if ca else None))
    repos = [e.repository for e in out]
    dup = next((r for r in repos if repos.count(r) > 1), None)
    if dup:
        raise EnvConfigError("/environments", f"two environments share the repository {dup}")
    return tuple(out)


def find(envs: tuple[Environment, ...], name: str) -> Environment | None:
    return next((e for e in envs if e.name == name), None)


def of_repository(envs: tuple[Environment, ...], repository: str) -> Environment | None:
    return next((e for e in envs if e.repository == repository), None)
