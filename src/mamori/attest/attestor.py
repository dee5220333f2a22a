"""``mamori attest``: resolve the tag to a digest, wrap the predicate in a signed envelope, append it to ``.att``.

The digest is resolved once, explicitly, and everything after (the SBOM, the scan, the statement's
subject) is about that digest, so a tag moved meanwhile cannot get another image's attestation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mamori.attest import dsse, layout, statement
from mamori.attest.errors import AttestError
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.sign import layout as siglayout
from mamori.sign.registry_push import PushRegistry
from mamori.sign.signer import Signer

# (pinned reference, digest) -> predicate; called after the digest is resolved
PredicateSource = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AttestResult:
    digest: str
    att_ref: str
    predicate_type: str
    layer_digest: str  # the envelope blob: what an approval "relied on" names
    attestations: int  # layers now in .att


def check_cert_matches(signer: Signer, cert_pem: str) -> None:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise AttestError("--cert is not a PEM certificate") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            signer.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise AttestError("the certificate does not belong to the signing key")


def envelope(name: str, digest: str, ptype: str, predicate: dict[str, Any], signer: Signer) -> bytes:
    body = statement.build(name, digest, ptype, predicate)
    if len(body) > dsse.MAX_STATEMENT:
        raise AttestError(f"the statement is {len(body)} bytes; the limit is {dsse.MAX_STATEMENT}")
    sig = signer.sign(dsse.pae(dsse.IN_TOTO, body))
    return dsse.Envelope(dsse.IN_TOTO, body, (("", sig),)).to_json()


def attest_image(ref: str, ptype: str, predicate: dict[str, Any] | PredicateSource, signer: Signer,
                 options: RegistryOptions, *, cert_pem: str | None = None, chain_pem: str | None = None,
                 digest: str | None = None) -> AttestResult:
    """Attest the manifest ``ref`` names (or exactly ``digest``, when the caller resolved it already)."""
    dref = parse_docker_ref(ref)
    if cert_pem:
        check_cert_matches(signer, cert_pem)
    elif chain_pem:
        raise AttestError("--chain needs --cert")
    name = f"{dref.registry}/{dref.repository}"
    reg = PushRegistry(dref, options)
    try:
        if digest is None:
            _, _, digest = reg.manifest(dref.reference)
        pred = predicate(f"{name}@{digest}", digest) if callable(predicate) else predicate
        blob = envelope(name, digest, ptype, pred, signer)
        bdigest = reg.put_blob(blob)
        ann = {siglayout.SIG_ANNOTATION: "", layout.PREDICATE_ANNOTATION: ptype}
        if cert_pem:
            ann[siglayout.CERT_ANNOTATION] = cert_pem
            if chain_pem:
                ann[siglayout.CHAIN_ANNOTATION] = chain_pem
        tag = layout.att_tag(digest)
        n = layout.append_layers(reg, tag, [{"mediaType": layout.LAYER_TYPE, "size": len(blob), "digest": bdigest,
                                             "annotations": ann}])
        return AttestResult(digest, f"{name}:{tag}", ptype, bdigest, n)
    finally:
        reg.close()
