"""Sign an image in a registry: resolve the digest, sign the payload, append a layer to its ``.sig``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from mamori.image.errors import ImageError
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.sign import algorithms, layout, payload
from mamori.sign.errors import SignError
from mamori.sign.keys import PRIVATE_KEY_TYPES, PrivateKey, public_pem
from mamori.sign.registry_push import PushRegistry


class Signer(Protocol):
    """A key that signs payload bytes (a key file's key, or an HSM key: mamori.sign.hsm.Pkcs11Signer)."""

    def public_key(self) -> Any: ...

    def sign(self, payload: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class KeySigner:
    key: PrivateKey

    def public_key(self) -> Any:
        return self.key.public_key()

    def sign(self, payload: bytes) -> bytes:
        return algorithms.sign(self.key, payload)


@dataclass(frozen=True, slots=True)
class SignResult:
    digest: str  # the signed manifest digest
    sig_ref: str  # repo:sha256-<hex>.sig
    signatures: int  # layers now in the .sig manifest
    appended: bool  # False when the same signature was already there


def _check_cert_matches(key: Signer, cert_pem: str) -> None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise SignError("--cert is not a PEM certificate") from None
    from cryptography.hazmat.primitives import serialization

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            key.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise SignError("the certificate does not belong to the signing key")


def sign_image(ref: str, key: PrivateKey | Signer, options: RegistryOptions, *, cert_pem: str | None = None,
               chain_pem: str | None = None, annotations: dict[str, str] | None = None,
               identity: str | None = None) -> SignResult:
    """``identity``: the payload's docker-reference; default the repository without a tag, as cosign."""
    dref = parse_docker_ref(ref)
    if identity is not None:
        try:
            parse_docker_ref(identity)
        except ImageError:
            raise SignError(f"signed identity {identity[:120]!r} is not an image reference") from None
    signer: Signer = KeySigner(key) if isinstance(key, PRIVATE_KEY_TYPES) else key
    if cert_pem:
        _check_cert_matches(signer, cert_pem)
    elif chain_pem:
        raise SignError("--chain needs --cert")
    reg = PushRegistry(dref, options)
    try:
        _, _, digest = reg.manifest(dref.reference)  # explicit tag -> digest (verified when pinned)
        body = payload.build(identity or f"{dref.registry}/{dref.repository}", digest,
                             dict(annotations) if annotations else None)
        sig = base64.b64encode(signer.sign(body)).decode("ascii")
        tag = layout.sig_tag(digest)
        existing = reg.manifest_if_any(tag)
        layers: list[dict[str, Any]] = []
        if existing is not None:
            for old in layout.parse_manifest(existing[0]):
                layers.append(old.raw)
                if old.signature == sig:
                    return SignResult(digest, f"{dref.registry}/{dref.repository}:{tag}", len(layers), False)
        pdigest = reg.put_blob(body)
        ann = {layout.SIG_ANNOTATION: sig}
        if cert_pem:
            ann[layout.CERT_ANNOTATION] = cert_pem
            if chain_pem:
                ann[layout.CHAIN_ANNOTATION] = chain_pem
        layers.append({"mediaType": layout.LAYER_TYPE, "size": len(body), "digest": pdigest, "annotations": ann})
        if len(layers) > layout.MAX_SIGNATURES:
            raise SignError(f"{tag} already holds {layout.MAX_SIGNATURES} signatures")
        config = layout.config_blob([str(layer["digest"]) for layer in layers])
        cdigest = reg.put_blob(config)
        reg.put_manifest(tag, layout.build_manifest(cdigest, len(config), layers), layout.OCI_MANIFEST)
        return SignResult(digest, f"{dref.registry}/{dref.repository}:{tag}", len(layers), True)
    finally:
        reg.close()


__all__ = ["KeySigner", "SignResult", "Signer", "public_pem", "sign_image"]
