"""Verify an image's cosign signatures against a trust policy.

The tag is resolved to a digest explicitly, the ``.sig`` manifest of exactly that digest is
read, each payload blob is checked against its layer digest, the payload must name that
digest (and the same repository), and its signature must verify under a trusted key or a
certificate that chains to a trusted root with EKU codeSigning, is not revoked, and names a
required identity. Every signature gets a verdict with a reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509

from mamori.image.digest import parse as parse_digest
from mamori.image.errors import ImageError
from mamori.image.reference import DockerRef, parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.pki.verify import verify_chain
from mamori.sign import algorithms, identity, layout, payload
from mamori.sign.errors import SignError
from mamori.sign.gpg import Keyring
from mamori.sign.keys import PublicKey, key_id
from mamori.sign.registry_push import PushRegistry

MAX_SIG = 16 * 1024


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """What makes a signature count.

    ``keys``: trusted public keys (name -> key). ``roots``/``intermediates``/``crls``: the PKI for
    certificate-backed signatures. ``identities``: if set, a certificate signature counts only
    when its SAN is one of these (key signatures: when the key's name or id is). ``required``:
    signers that must all be among the verified ones. ``min_signatures``: distinct signers needed.
    ``match_repository``: the payload's docker-reference must name the same repository.
    ``gpg_keyring``/``lookaside``: GPG simple signatures (containers/image) are read from this
    lookaside directory and count when made by a primary key of the keyring (signer = fingerprint).
    ``signed_identity``: a :mod:`mamori.sign.identity` rule for the docker-reference; None = the
    format's own default (cosign: ``repository``; GPG: ``repo-digest-or-exact``, as policy.json).
    """

    keys: dict[str, PublicKey] = field(default_factory=dict)
    roots: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    identities: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    min_signatures: int = 1
    match_repository: bool = True
    gpg_keyring: Keyring | None = None
    lookaside: str | None = None
    signed_identity: str | None = None


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    index: int
    ok: bool
    signer: str | None  # key name / certificate identity that verified it
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ref: str
    digest: str | None
    ok: bool
    reason: str
    signatures: tuple[SignatureVerdict, ...] = ()
    signers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"ref": self.ref, "digest": self.digest, "verified": self.ok, "reason": self.reason,
                "signers": list(self.signers),
                "signatures": [{"index": s.index, "verified": s.ok, "signer": s.signer, "reason": s.reason}
                               for s in self.signatures]}


def _repo_of(reference: str) -> str | None:
    try:
        d = parse_docker_ref(reference)
    except ImageError:
        return None
    return f"{d.registry}/{d.repository}"


def _check_layer(layer: layout.Layer, body: bytes, digest: str, dref: DockerRef, policy: TrustPolicy
                 ) -> tuple[str | None, str]:
    """(signer, reason); signer None = this signature does not count."""
    try:
        p = payload.parse(body)
    except SignError as exc:
        return None, str(exc)
    if p.digest != digest:
        return None, f"the payload names {p.digest[:80]}, not the verified manifest {digest}"
    want_repo = f"{dref.registry}/{dref.repository}"
    if policy.match_repository and _repo_of(p.docker_reference) != want_repo:
        return None, f"the payload names repository {p.docker_reference[:120]!r}, not {want_repo}"
    if policy.match_repository and policy.signed_identity not in (None, "repository"):
        wrong = identity.check(policy.signed_identity, p.docker_reference, dref)
        if wrong:
            return None, wrong
    if not layer.signature or len(layer.signature) > MAX_SIG:
        return None, "no signature annotation"
    try:
        sig = base64.b64decode(layer.signature, validate=True)
    except (binascii.Error, ValueError):
        return None, "the signature annotation is not base64"
    # A trusted key vouches by itself (as ``cosign verify --key`` ignores a certificate annotation).
    for name, key in policy.keys.items():
        if algorithms.verify(key, sig, body):
            kid = key_id(key)
            if policy.identities and name not in policy.identities and kid not in policy.identities:
                return None, f"signed by key {name} ({kid}), which is not a required identity"
            return name, f"signature verified with key {name} ({kid})"
    if layer.certificate:
        return _check_cert(layer, sig, body, policy)
    if not policy.keys:
        return None, "no trusted key configured for a signature without a certificate"
    return None, f"the signature does not verify with any trusted key ({', '.join(policy.keys)})"


def _check_cert(layer: layout.Layer, sig: bytes, body: bytes, policy: TrustPolicy) -> tuple[str | None, str]:
    return check_certificate(layer.certificate, layer.chain, sig, body, policy)


def check_certificate(certificate: str | None, chain_pem: str | None, sig: bytes, body: bytes, policy: TrustPolicy,
                      what: str = "the signature",
                      done: str = "signature verified with a certificate for {who} chaining to a trusted root",
                      ) -> tuple[str | None, str]:
    """(signer identity, reason) for a signature over ``body`` made with the key of an attached certificate
    (a cosign .sig layer or a DSSE envelope in a .att layer): the chain must reach the policy's roots."""
    try:
        leaf = x509.load_pem_x509_certificate((certificate or "").encode())
        chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem else []
    except ValueError:
        return None, "the certificate or chain annotation is not PEM"
    key = leaf.public_key()
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey) or \
            not algorithms.verify(key, sig, body):
        return None, f"{what} does not verify with the certificate's key"
    # The chain annotation is untrusted: it may only supply intermediates, never a root.
    roots = list(policy.roots)
    inter = [c for c in (*policy.intermediates, *chain) if c not in roots]
    res = verify_chain(leaf, inter, roots, eku="codesign", crls=list(policy.crls),
                       allowed_identities=policy.identities, at=dt.datetime.now(dt.UTC))
    if not res.ok:
        return None, f"certificate: {res.reason}"
    who = next((i for i in res.identities if not policy.identities or i in policy.identities), res.identities[0]
               if res.identities else leaf.subject.rfc4514_string())
    return who, done.format(who=who)


def verify_image(ref: str, policy: TrustPolicy, options: RegistryOptions) -> VerifyReport:
    """Never raises for a bad or unsigned image: the report says why it is not trusted."""
    try:
        dref = parse_docker_ref(ref)
    except ImageError as exc:
        return VerifyReport(ref, None, False, str(exc))
    try:
        reg = PushRegistry(dref, options)
    except ImageError as exc:
        return VerifyReport(ref, None, False, str(exc))
    try:
        return _verify(reg, dref, ref, policy)
    except (ImageError, SignError) as exc:
        return VerifyReport(ref, None, False, str(exc))
    finally:
        reg.close()


def _verify(reg: PushRegistry, dref: DockerRef, ref: str, policy: TrustPolicy) -> VerifyReport:
    _, _, digest = reg.manifest(dref.reference)  # verified against the digest when pinned
    parse_digest(digest)
    verdicts: list[SignatureVerdict] = []
    missing: list[str] = []
    if policy.keys or policy.roots or policy.gpg_keyring is None:
        found = reg.manifest_if_any(layout.sig_tag(digest))
        layers = layout.parse_manifest(found[0]) if found is not None else []
        if found is None:
            missing.append(f"{layout.sig_tag(digest)} does not exist")
        elif not layers:
            missing.append("the signature manifest holds no signature layer")
        for i, layer in enumerate(layers):
            try:
                body = reg.blob(layer.digest, layer.size, payload.MAX_PAYLOAD, f"signature payload {i}")
            except ImageError as exc:
                verdicts.append(SignatureVerdict(i, False, None, str(exc)))
                continue
            signer, reason = _check_layer(layer, body, digest, dref, policy)
            verdicts.append(SignatureVerdict(i, signer is not None, signer, reason))
    if policy.gpg_keyring is not None:
        from mamori.sign import simple

        if not policy.lookaside:
            raise SignError("GPG signatures need a lookaside directory")
        rule = None if not policy.match_repository else policy.signed_identity or "repo-digest-or-exact"
        found_gpg = simple.verify_lookaside(policy.lookaside, dref, digest, policy.gpg_keyring, rule=rule,
                                            identities=policy.identities)
        if not found_gpg:
            missing.append(f"no GPG signature in the lookaside {policy.lookaside}")
        verdicts += [SignatureVerdict(len(verdicts) + i, v.ok, v.signer, v.reason) for i, v in enumerate(found_gpg)]
    if not verdicts:
        return VerifyReport(ref, digest, False, "no signature: " + "; ".join(missing))
    return decide(ref, digest, verdicts, policy)


def decide(ref: str, digest: str, verdicts: list[SignatureVerdict], policy: TrustPolicy) -> VerifyReport:
    signers = tuple(sorted({v.signer for v in verdicts if v.ok and v.signer}))
    missing = [r for r in policy.required if r not in signers]
    need = max(policy.min_signatures, 1)
    if missing:
        ok, reason = False, f"required signer(s) missing: {', '.join(missing)}"
    elif len(signers) < need:
        why = "; ".join(f"#{v.index}: {v.reason}" for v in verdicts if not v.ok)
        ok, reason = False, (f"{len(signers)} of {need} required distinct signature(s) verified"
                             + (f" ({why})" if why else ""))
    else:
        ok, reason = True, f"{len(signers)} distinct signer(s) verified: {', '.join(signers)}"
    return VerifyReport(ref, digest, ok, reason, tuple(verdicts), signers)
