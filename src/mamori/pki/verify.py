"""Chain verification: path to a trusted root, validity, CA constraints, EKU, CRL, identity.

ECDSA and RSA chains are built by ``cryptography.x509.verification`` (the RFC 5280 path
builder of pyca); its profile has no Ed25519, so Ed25519 chains take a small explicit path
walk with the same checks. EKU, revocation and identity are checked here for both.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from mamori.pki.errors import PkiError

MAX_DEPTH = 4
EKUS = {"codesign": ExtendedKeyUsageOID.CODE_SIGNING, "server": ExtendedKeyUsageOID.SERVER_AUTH,
        "client": ExtendedKeyUsageOID.CLIENT_AUTH}


@dataclass(frozen=True, slots=True)
class ChainResult:
    ok: bool
    reason: str
    identities: tuple[str, ...] = ()
    chain: tuple[x509.Certificate, ...] = ()


def identities(cert: x509.Certificate) -> tuple[str, ...]:
    """The SAN values that name the holder: e-mail, URI (SPIFFE), DNS, IP."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(n.value) for n in san if isinstance(n, x509.RFC822Name | x509.UniformResourceIdentifier |
                                                           x509.DNSName | x509.IPAddress))


def _ekus(cert: x509.Certificate) -> list[ObjectIdentifier]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


def _is_ed25519(cert: x509.Certificate) -> bool:
    return isinstance(cert.public_key(), ed25519.Ed25519PublicKey)


def _pyca_path(leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate],
               at: dt.datetime) -> tuple[x509.Certificate, ...]:
    from cryptography.x509 import verification as v

    builder = (v.PolicyBuilder().store(v.Store(roots)).time(at).max_chain_depth(MAX_DEPTH)
               .extension_policies(ca_policy=v.ExtensionPolicy.webpki_defaults_ca(),
                                   ee_policy=v.ExtensionPolicy.permit_all()))
    try:
        verified = builder.build_client_verifier().verify(leaf, intermediates)
    except v.VerificationError as exc:
        raise PkiError(f"no valid path to a trusted root: {exc}") from None
    return tuple(verified.chain)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _check_ca(cert: x509.Certificate, below: int) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise PkiError(f"{cert.subject.rfc4514_string()} is not a CA (no basic constraints / key usage)") from None
    if not bc.ca or not ku.key_cert_sign:
        raise PkiError(f"{cert.subject.rfc4514_string()} is not allowed to sign certificates")
    if bc.path_length is not None and below > bc.path_length:
        raise PkiError(f"{cert.subject.rfc4514_string()}: path length constraint exceeded")


def _walk_path(leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate],
               at: dt.datetime) -> tuple[x509.Certificate, ...]:
    chain = [leaf]
    current = leaf
    for depth in range(MAX_DEPTH + 1):
        root = next((r for r in roots if _issued_by(current, r)), None)
        if root is not None:
            _check_ca(root, depth)
            chain.append(root)
            break
        nxt = next((c for c in intermediates if c not in chain and _issued_by(current, c)), None)
        if nxt is None:
            raise PkiError(f"no valid path to a trusted root: no issuer for {current.subject.rfc4514_string()}")
        _check_ca(nxt, depth)
        chain.append(nxt)
        current = nxt
    else:
        raise PkiError("no valid path to a trusted root: chain too long")
    for c in chain:
        if not c.not_valid_before_utc <= at <= c.not_valid_after_utc:
            raise PkiError(f"{c.subject.rfc4514_string()} is not valid at {at.isoformat(timespec='seconds')} "
                           f"(valid {c.not_valid_before_utc:%Y-%m-%d %H:%M} to {c.not_valid_after_utc:%Y-%m-%d %H:%M})")
    return tuple(chain)


def _check_crls(chain: tuple[x509.Certificate, ...], crls: list[x509.CertificateRevocationList],
                at: dt.datetime) -> None:
    for cert, issuer in itertools.pairwise(chain):
        for crl in crls:
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue
            if crl.next_update_utc is not None and crl.next_update_utc < at:
                raise PkiError(f"the CRL of {issuer.subject.rfc4514_string()} expired on "
                               f"{crl.next_update_utc:%Y-%m-%d}: publish a fresh one (`mamori pki crl`)")
            revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if revoked is not None:
                raise PkiError(f"certificate {cert.serial_number:x} ({cert.subject.rfc4514_string()}) was revoked "
                               f"on {revoked.revocation_date_utc:%Y-%m-%d %H:%M}")


def verify_chain(leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], *,
                 eku: str | None = None, crls: list[x509.CertificateRevocationList] | None = None,
                 allowed_identities: tuple[str, ...] = (), at: dt.datetime | None = None) -> ChainResult:
    """Check ``leaf`` against ``roots``; never raises for a bad certificate, the reason says why."""
    at = at or dt.datetime.now(dt.UTC)
    if not roots:
        return ChainResult(False, "no trusted root configured")
    try:
        if any(_is_ed25519(c) for c in (leaf, *intermediates, *roots)):
            chain = _walk_path(leaf, intermediates, roots, at)
        else:
            chain = _pyca_path(leaf, intermediates, roots, at)
        if eku is not None:
            want = EKUS[eku]
            if want not in _ekus(leaf):
                names = ", ".join(o._name for o in _ekus(leaf)) or "none"
                raise PkiError(f"the certificate is not for {eku} (extended key usage: {names})")
        _check_crls(chain, crls or [], at)
    except PkiError as exc:
        return ChainResult(False, str(exc), identities(leaf))
    ids = identities(leaf)
    if allowed_identities and not set(ids) & set(allowed_identities):
        return ChainResult(False, f"identity {', '.join(ids) or '(none)'} is not among the required "
                                  f"{', '.join(allowed_identities)}", ids, chain)
    return ChainResult(True, "valid chain to a trusted root", ids, chain)


def describe(cert: x509.Certificate) -> dict[str, object]:
    """What ``mamori pki inspect`` shows."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bc.ca
    except x509.ExtensionNotFound:
        is_ca = False
    from cryptography.hazmat.primitives import hashes

    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"), "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(), "ca": is_ca,
            "key": type(cert.public_key()).__name__.removesuffix("PublicKey").lstrip("_"),
            "identities": list(identities(cert)), "eku": [o._name for o in _ekus(cert)],
            "sha256": cert.fingerprint(hashes.SHA256()).hex()}
