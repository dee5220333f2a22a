"""Verify an image's attestations: DSSE signature under the trust policy, subject digest, predicate type.

Uses the same :class:`mamori.sign.verifier.TrustPolicy` as signatures (trusted keys, or certificates
chaining to the PKI with EKU codeSigning, not revoked, with a required identity). The statement
inside the envelope is what counts, never the layer's ``predicateType`` annotation. Every
attestation gets a verdict with a reason; nothing here raises for a bad or missing attestation.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.attest import dsse, layout, statement
from mamori.attest.errors import AttestError
from mamori.image.errors import ImageError
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.sign import algorithms
from mamori.sign.errors import SignError
from mamori.sign.keys import key_id
from mamori.sign.registry_push import PushRegistry
from mamori.sign.verifier import TrustPolicy, check_certificate


@dataclass(frozen=True, slots=True)
class AttestationVerdict:
    index: int
    ok: bool
    signer: str | None
    predicate_type: str
    reason: str
    layer_digest: str
    statement: statement.Statement | None = None


@dataclass(frozen=True, slots=True)
class AttestReport:
    ref: str
    digest: str | None
    ok: bool
    reason: str
    attestations: tuple[AttestationVerdict, ...] = ()

    def verified(self, ptype: str | None = None) -> list[AttestationVerdict]:
        return [a for a in self.attestations if a.ok and (ptype is None or a.predicate_type == ptype)]

    def to_json(self) -> dict[str, object]:
        return {"ref": self.ref, "digest": self.digest, "verified": self.ok, "reason": self.reason,
                "attestations": [{"index": a.index, "verified": a.ok, "signer": a.signer,
                                  "predicateType": a.predicate_type, "reason": a.reason, "layer": a.layer_digest}
                                 for a in self.attestations]}


_DOCKER_HUB = {"index.docker.io", "registry-1.docker.io", "docker.io"}


def _repo_key(name: str) -> str | None:
    """A subject name as registry/repository, Docker Hub's aliases folded (cosign writes index.docker.io)."""
    try:
        d = parse_docker_ref(name)
    except ImageError:
        return None
    return f"{'docker.io' if d.registry in _DOCKER_HUB else d.registry}/{d.repository}"


def _check_cert(layer: layout.AttLayer, sig: bytes, signed: bytes, policy: TrustPolicy) -> tuple[str | None, str]:
    return check_certificate(layer.certificate, layer.chain, sig, signed, policy, what="the envelope signature",
                             done="verified with a certificate for {who}")


def check_signature(env: dsse.Envelope, layer: layout.AttLayer, policy: TrustPolicy) -> tuple[str | None, str]:
    """(signer, reason): the first envelope signature that verifies under the policy wins."""
    signed = env.signed_bytes()
    reasons = []
    for _, sig in env.signatures:
        for name, key in policy.keys.items():
            if algorithms.verify(key, sig, signed):
                kid = key_id(key)
                if policy.identities and name not in policy.identities and kid not in policy.identities:
                    return None, f"signed by key {name} ({kid}), which is not a required identity"
                return name, f"verified with key {name} ({kid})"
        if layer.certificate:
            who, why = _check_cert(layer, sig, signed, policy)
            if who:
                return who, why
            reasons.append(why)
    if reasons:
        return None, reasons[0]
    if not policy.keys:
        return None, "no trusted key configured for an attestation without a certificate"
    return None, f"the envelope signature does not verify with any trusted key ({', '.join(policy.keys)})"


def check_layer(layer: layout.AttLayer, blob: bytes, digest: str, repo: str, policy: TrustPolicy,
                index: int) -> AttestationVerdict:
    hint = layer.predicate_type
    try:
        env = dsse.parse(blob)
        if env.payload_type != dsse.IN_TOTO:
            raise AttestError(f"payloadType is {env.payload_type[:80]!r}, not {dsse.IN_TOTO}")
        st = statement.parse(env.payload)
    except AttestError as exc:
        return AttestationVerdict(index, False, None, hint, str(exc), layer.digest)
    signer, reason = check_signature(env, layer, policy)
    ptype = st.predicate_type
    if signer is None:
        return AttestationVerdict(index, False, None, ptype, reason, layer.digest)
    if not st.names_digest(digest):
        named = ", ".join(f"sha256:{h[:16]}..." for _, h in st.subjects[:3])
        return AttestationVerdict(index, False, signer, ptype,
                                  f"the statement is about {named}, not the verified manifest {digest}", layer.digest)
    if policy.match_repository and not any(_repo_key(n) == _repo_key(repo) for n, _ in st.subjects):
        return AttestationVerdict(index, False, signer, ptype,
                                  f"the statement names {st.subjects[0][0][:120]!r}, not {repo}", layer.digest)
    if hint and hint != ptype:
        return AttestationVerdict(index, False, signer, ptype,
                                  f"the layer says predicateType {hint[:80]!r} but the statement says {ptype[:80]!r}",
                                  layer.digest)
    return AttestationVerdict(index, True, signer, ptype, reason, layer.digest, st)


def verify_attestations(ref: str, policy: TrustPolicy, options: RegistryOptions, ptype: str | None = None,
                        only: frozenset[str] | None = None) -> AttestReport:
    """Verify the attestations of the manifest ``ref`` resolves to; ok when one of ``ptype`` (or any) verifies.

    ``only``: skip (without fetching) layers whose ``predicateType`` annotation names another type, so an
    admission check for an approval does not download SBOMs. A layer that lies in its annotation is
    skipped or refused, never counted for another type.
    """
    try:
        dref = parse_docker_ref(ref)
        reg = PushRegistry(dref, options)
    except ImageError as exc:
        return AttestReport(ref, None, False, str(exc))
    try:
        _, _, digest = reg.manifest(dref.reference)
        tag = layout.att_tag(digest)
        found = reg.manifest_if_any(tag)
        if found is None:
            return AttestReport(ref, digest, False, f"no attestation: {tag} does not exist")
        verdicts = []
        repo = f"{dref.registry}/{dref.repository}"
        for i, layer in enumerate(layout.parse_manifest(found[0])):
            if only is not None and layer.predicate_type and layer.predicate_type not in only:
                continue
            try:
                blob = reg.blob(layer.digest, layer.size, dsse.MAX_ENVELOPE, f"attestation {i}")
            except ImageError as exc:
                verdicts.append(AttestationVerdict(i, False, None, layer.predicate_type, str(exc), layer.digest))
                continue
            verdicts.append(check_layer(layer, blob, digest, repo, policy, i))
    except (ImageError, SignError, AttestError) as exc:
        return AttestReport(ref, None, False, str(exc))
    finally:
        reg.close()
    return decide(ref, digest, tuple(verdicts), ptype)


def decide(ref: str, digest: str, verdicts: tuple[AttestationVerdict, ...], ptype: str | None) -> AttestReport:
    good = [v for v in verdicts if v.ok and (ptype is None or v.predicate_type == ptype)]
    what = statement.short_name(ptype) if ptype else "attestation"
    if good:
        who = sorted({v.signer for v in good if v.signer})
        return AttestReport(ref, digest, True, f"{len(good)} verified {what} attestation(s) by {', '.join(who)}",
                            verdicts)
    relevant = [v for v in verdicts if ptype is None or v.predicate_type == ptype]
    if not relevant:
        return AttestReport(ref, digest, False, f"no {what} attestation for {digest}", verdicts)
    why = "; ".join(f"#{v.index}: {v.reason}" for v in relevant[:5])
    return AttestReport(ref, digest, False, f"no {what} attestation verifies ({why})", verdicts)
