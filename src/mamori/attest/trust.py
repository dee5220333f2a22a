"""Image trust from attestations: "approved for prod" (and any other required attestation) at admission.

Policy (``trust.attestations``)::

    attestations:
      require:
        - {type: approval, environment: prod, signers: [qa@example.com]}
        - {type: sbom}
      signers: {keys: [qa.pub]}    # who may attest; default: the trust.signatures mapping
      cache-ttl: 300

Verdicts are cached by manifest digest exactly like signature verdicts: the provider is a
:class:`mamori.sign.trust.SignatureTrust` whose verification step checks attestations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from mamori.attest import predicates, statement
from mamori.attest.errors import AttestError
from mamori.attest.verify import AttestReport, verify_attestations
from mamori.image.registry import RegistryOptions
from mamori.sign.trust import SignatureTrust
from mamori.sign.verifier import TrustPolicy, VerifyReport

KEYS = {"require", "signers", "cache-ttl"}
PATH_KEYS = ("keys", "roots", "intermediates", "crls")
# trust.signatures keys that say how many image signatures are needed, or concern GPG simple signing only
NOT_FOR_ATTESTATIONS = frozenset({"required", "min-signatures", "cache-ttl", "gpg-keyring", "lookaside",
                                  "signed-identity"})


@dataclass(frozen=True, slots=True)
class Requirement:
    predicate_type: str
    environment: str | None = None  # approvals: the environment they approve for
    signers: tuple[str, ...] = ()  # if set, one of these verified identities must have signed it

    def describe(self) -> str:
        name = statement.short_name(self.predicate_type)
        return name + (f" for {self.environment}" if self.environment else "") + \
            (f" by {'/'.join(self.signers)}" if self.signers else "")


def meets(report: AttestReport, req: Requirement) -> tuple[bool, str]:
    """Does a verified attestation in ``report`` satisfy ``req``? (ok, evidence or what is missing)."""
    for v in report.verified(req.predicate_type):
        if req.signers and v.signer not in req.signers:
            continue
        if req.environment is not None:
            pred = v.statement.predicate if v.statement else {}
            if predicates.approval_environment(pred) != req.environment:
                continue
        return True, f"{req.describe()}: attestation #{v.index} signed by {v.signer}"
    near = [v for v in report.attestations if v.predicate_type == req.predicate_type]
    why = "; ".join(f"#{v.index}: {v.reason if not v.ok else 'verified, but for another environment or signer'}"
                    for v in near[:4])
    return False, f"missing {req.describe()}" + (f" ({why})" if why else "")


def check_all(ref: str, policy: TrustPolicy, options: RegistryOptions, requirements: tuple[Requirement, ...]
              ) -> VerifyReport:
    report = verify_attestations(ref, policy, options, only=frozenset(r.predicate_type for r in requirements))
    if report.digest is None:
        return VerifyReport(ref, None, False, report.reason)
    results = [meets(report, r) for r in requirements]
    missing = [why for ok, why in results if not ok]
    if missing:
        return VerifyReport(ref, report.digest, False, "; ".join(missing))
    return VerifyReport(ref, report.digest, True, "; ".join(why for _, why in results))


def parse_requirements(value: Any) -> tuple[Requirement, ...]:
    if not isinstance(value, list) or not value:
        raise AttestError("trust.attestations.require must be a non-empty list of {type, environment, signers}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise AttestError(f"trust.attestations.require[{i}] needs a `type`")
        unknown = set(item) - {"type", "environment", "signers"}
        if unknown:
            raise AttestError(f"trust.attestations.require[{i}]: unknown key(s) {', '.join(sorted(unknown))}")
        env, signers = item.get("environment"), item.get("signers", [])
        if env is not None and not isinstance(env, str):
            raise AttestError(f"trust.attestations.require[{i}].environment must be a name")
        if isinstance(signers, str):
            signers = [signers]
        if not isinstance(signers, list) or not all(isinstance(s, str) for s in signers):
            raise AttestError(f"trust.attestations.require[{i}].signers must be a list of identities")
        ptype = statement.predicate_type(item["type"])
        if env is not None and ptype != statement.APPROVAL:
            raise AttestError(f"trust.attestations.require[{i}]: `environment` applies to approvals only")
        out.append(Requirement(ptype, env, tuple(signers)))
    return tuple(out)


def resolve_paths(mapping: Mapping[str, Any], base: str) -> dict[str, Any]:
    """Key/PKI paths relative to the policy file, as ``trust.signatures`` has them."""
    def rel(p: Any) -> Any:
        return os.path.join(base, p) if isinstance(p, str) and not os.path.isabs(p) else p

    out = dict(mapping)
    for key in PATH_KEYS:
        if isinstance(out.get(key), list):
            out[key] = [rel(p) for p in out[key]]
        elif isinstance(out.get(key), str):
            out[key] = [rel(out[key])]
    if "pki" in out:
        out["pki"] = rel(out["pki"])
    return out


def from_config(doc: Mapping[str, Any], signatures: Mapping[str, Any] | None, base: str,
                options: RegistryOptions | None = None) -> SignatureTrust:
    """Build the provider from ``trust.attestations``; ``signatures`` is the (resolved) trust.signatures."""
    from mamori.sign.config import policy_from_mapping
    from mamori.sign.errors import SignError

    unknown = set(doc) - KEYS
    if unknown:
        raise AttestError(f"trust.attestations: unknown key(s) {', '.join(sorted(unknown))}")
    reqs = parse_requirements(doc.get("require"))
    signers = doc.get("signers")
    if signers is not None:
        if not isinstance(signers, dict):
            raise AttestError("trust.attestations.signers must be a mapping like trust.signatures")
        mapping = resolve_paths(signers, base)
    elif signatures is not None:
        mapping = {k: v for k, v in signatures.items() if k not in NOT_FOR_ATTESTATIONS}
    else:
        raise AttestError("trust.attestations needs `signers` (or a trust.signatures mapping) to verify with")
    ttl = doc.get("cache-ttl", 300)
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 0 <= ttl <= 86400:
        raise AttestError("trust.attestations.cache-ttl must be 0..86400 seconds")
    mapping.setdefault("match-repository", False)  # promoted copies keep the subject name they were attested under
    try:
        policy, _ = policy_from_mapping(mapping)
    except SignError as exc:
        raise AttestError(f"trust.attestations.signers: {exc}") from None
    return SignatureTrust(policy, options, ttl=float(ttl), verify=partial(_verify, requirements=reqs))


def _verify(ref: str, policy: TrustPolicy, options: RegistryOptions, *, requirements: tuple[Requirement, ...]
            ) -> VerifyReport:
    return check_all(ref, policy, options, requirements)
