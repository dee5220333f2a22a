"""Signing keys inside a PKCS#11 token (an HSM; SoftHSM2 in tests): ECDSA P-256, never extractable.

Built on the token plumbing of :mod:`mamori.crypto.pkcs11` (URI parsing, module loading, PIN
sources, login errors). SoftHSM2 offers only ``CKM_ECDSA`` (no ``CKM_ECDSA_SHA256``), so the
payload is hashed here and the raw ``r||s`` from the token is DER-encoded as cosign expects.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mamori.crypto.errors import SealError
from mamori.crypto.pkcs11 import Pkcs11Key, parse_uri, read_pin
from mamori.secrets.value import Secret
from mamori.sign.errors import SignError


class Pkcs11Signer:
    """``pkcs11:token=LABEL;object=LABEL[?module-path=...&pin-source=file:...]`` as a payload signer."""

    def __init__(self, uri: str, pin: Secret | None = None) -> None:
        try:
            attrs = parse_uri(uri)
            self._token = Pkcs11Key(attrs["token"], attrs["object"], pin or read_pin(attrs.get("pin-source")),
                                    attrs.get("module-path"))
        except SealError as exc:
            raise SignError(str(exc)) from None
        self.label = attrs["object"]
        self._public: ec.EllipticCurvePublicKey | None = None

    def _session(self) -> Any:
        try:
            return self._token._session()
        except SealError as exc:
            raise SignError(str(exc)) from None

    def _key(self, session: Any, cls: Any) -> Any:
        import pkcs11
        from pkcs11 import KeyType

        try:
            return session.get_key(object_class=cls, key_type=KeyType.EC, label=self.label)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            raise SignError(f"PKCS#11 token has no single EC key labelled {self.label!r}") from None

    def generate(self) -> ec.EllipticCurvePublicKey:
        """Create the key pair on the token (private half sensitive and not extractable)."""
        import pkcs11
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_named_curve_parameters

        with self._session() as session:
            if list(session.get_objects({Attribute.LABEL: self.label})):
                raise SignError(f"the token already has an object labelled {self.label!r}")
            try:
                params = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
                params.generate_keypair(store=True, label=self.label, private_template={
                    Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True})
            except pkcs11.PKCS11Error as exc:
                raise SignError(f"PKCS#11 key generation failed ({type(exc).__name__})") from None
        return self.public_key()

    def public_key(self) -> ec.EllipticCurvePublicKey:
        if self._public is None:
            from pkcs11 import ObjectClass
            from pkcs11.util.ec import encode_ec_public_key

            with self._session() as session:
                der = encode_ec_public_key(self._key(session, ObjectClass.PUBLIC_KEY))
            key = serialization.load_der_public_key(der)
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise SignError("the token key is not ECDSA P-256")
            self._public = key
        return self._public

    def sign(self, payload: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Mechanism, ObjectClass
        from pkcs11.util.ec import encode_ecdsa_signature

        with self._session() as session:
            priv = self._key(session, ObjectClass.PRIVATE_KEY)
            try:
                raw = priv.sign(hashlib.sha256(payload).digest(), mechanism=Mechanism.ECDSA)
            except pkcs11.PKCS11Error as exc:
                raise SignError(f"PKCS#11 signing failed ({type(exc).__name__})") from None
        return bytes(encode_ecdsa_signature(raw))
