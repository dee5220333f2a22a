"""The gates of an environment, each checked for one exact manifest digest with a reason.

Signatures and attestations are verified in the repository the image comes from, by digest;
repository names in payloads are not compared (a promoted copy keeps the name it was signed
under, the digest names the content). Every gate is checked, so a refusal lists all that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.attest import predicates, statement
from mamori.attest.errors import AttestError
from mamori.attest.trust import Requirement, meets
from mamori.attest.verify import AttestReport, verify_attestations
from mamori.image.registry import RegistryOptions
from mamori.promote.environments import Environment, SignerSpec
from mamori.sign.config import build_policy
from mamori.sign.errors import SignError
from mamori.sign.verifier import TrustPolicy, verify_image


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str
    ok: bool
    reason: str


def trust_policy(spec: SignerSpec, *, for_attestations: bool = False) -> TrustPolicy:
    """``required``/``min-signatures`` apply to image signatures only; attesters are any trusted key or identity."""
    return build_policy(keys=spec.keys, pki=spec.pki, roots=spec.roots, intermediates=spec.intermediates,
                        crls=spec.crls, identities=spec.identities,
                        required=() if for_attestations else spec.required,
                        min_signatures=1 if for_attestations else spec.min_signatures, match_repository=False)


def _latest_vuln(report: AttestReport) -> tuple[int, dict[str, object]] | None:
    found = report.verified(statement.VULN)
    if not found:
        return None
    last = found[-1]  # the most recently appended verified scan
    return last.index, (last.statement.predicate if last.statement else {})


def _severity_gate(report: AttestReport, limit: str) -> GateResult:
    name = f"max-severity {limit}"
    latest = _latest_vuln(report)
    if latest is None:
        return GateResult(name, False, "no verified vuln attestation to read the severity from")
    index, pred = latest
    worst, how = predicates.worst_severity(pred)
    if worst is None:
        return GateResult(name, False, f"vuln attestation #{index}: {how}")
    if not predicates.severity_at_most(worst, limit):
        return GateResult(name, False, f"vuln attestation #{index}: worst finding is {worst} ({how})")
    return GateResult(name, True, f"vuln attestation #{index}: worst finding {worst} ({how})")


def check(pinned: str, env: Environment, options: RegistryOptions) -> list[GateResult]:
    """Every gate of ``env`` for the image ``pinned`` (NAME@sha256:...); never raises for a failing gate."""
    g = env.gates
    out: list[GateResult] = []
    if g.signers is not None:
        try:
            report = verify_image(pinned, trust_policy(g.signers), options)
            out.append(GateResult("signatures", report.ok, report.reason))
        except SignError as exc:
            out.append(GateResult("signatures", False, str(exc)))
    needs_att = bool(g.attestations or g.max_severity or g.approval)
    if not needs_att:
        return out
    spec = g.attesters or g.signers
    if spec is None:  # refused at load time; kept for callers that build Gates by hand
        return [*out, GateResult("attestations", False, "no attesters configured")]
    try:
        wanted = {*g.attestations, *([statement.VULN] if g.max_severity else []),
                  *([statement.APPROVAL] if g.approval else [])}
        att = verify_attestations(pinned, trust_policy(spec, for_attestations=True), options, only=frozenset(wanted))
    except (SignError, AttestError) as exc:
        return [*out, GateResult("attestations", False, str(exc))]
    for ptype in g.attestations:
        ok, why = meets(att, Requirement(ptype))
        out.append(GateResult(f"attestation {statement.short_name(ptype)}", ok, why))
    if g.max_severity:
        out.append(_severity_gate(att, g.max_severity))
    if g.approval:
        ok, why = meets(att, Requirement(statement.APPROVAL, env.name, g.approvers))
        out.append(GateResult(f"approval for {env.name}", ok, why))
    return out
