"""A key-encryption key inside a PKCS#11 token (an HSM; SoftHSM2 in tests), via python-pkcs11.

The KEK is generated on the token as sensitive and non-extractable and never leaves it:
wrapping is ``C_WrapKey`` with ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649) of a session-only copy
of the data key, unwrapping is ``C_UnwrapKey`` into a session object whose value is read
once and destroyed. Who may use the key is the token's decision: its user PIN (and, on a
real HSM, its own roles and key policies). The PIN comes from ``$MAMORI_PKCS11_PIN`` or a
file, never from the command line.

``CKM_AES_KEY_WRAP_PAD`` takes no AAD; the file header is still bound because every
segment authenticates the header digest under a key derived from the unwrapped data key.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote

from mamori.crypto.errors import KeyUnavailable, SealError
from mamori.crypto.format import Recipient
from mamori.secrets.value import Secret

PROVIDER = "pkcs11"
MECHANISM = "CKM_AES_KEY_WRAP_PAD"


class Pkcs11Error(SealError):
    pass


def parse_uri(uri: str) -> dict[str, str]:
    """RFC 7512 ``pkcs11:token=LABEL;object=LABEL[?module-path=...&pin-source=file:...]`` (the parts used here)."""
    if not uri.startswith("pkcs11:"):
        raise Pkcs11Error(f"not a pkcs11: URI: {uri[:60]!r}")
    path, _, query = uri[len("pkcs11:"):].partition("?")
    out: dict[str, str] = {}
    for part in filter(None, path.split(";") + query.split("&")):
        key, sep, value = part.partition("=")
        if not sep:
            raise Pkcs11Error(f"malformed pkcs11 URI attribute {key[:40]!r}")
        out[key] = unquote(value)
    if "token" not in out or "object" not in out:
        raise Pkcs11Error("pkcs11 URI needs token= and object=")
    return out


def _lib(module: str | None) -> Any:
    path = module or os.environ.get("MAMORI_PKCS11_MODULE")
    if not path:
        raise Pkcs11Error("no PKCS#11 module: set MAMORI_PKCS11_MODULE or module-path= in the URI "
                          "(SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)")
    try:
        import pkcs11
    except ImportError:
        raise Pkcs11Error("python-pkcs11 is not installed") from None
    try:
        return pkcs11.lib(path)
    except Exception as exc:  # noqa: BLE001 - the library raises several unrelated types on load
        raise Pkcs11Error(f"cannot load PKCS#11 module {path}: {type(exc).__name__}") from None


def read_pin(pin_source: str | None = None) -> Secret:
    """The token PIN from ``pin-source=file:PATH`` or ``$MAMORI_PKCS11_PIN`` / ``$MAMORI_PKCS11_PIN_FILE``."""
    from mamori.secrets.sources import EnvFileSource, EnvSource, read_bounded
    from mamori.secrets.store import SecretStore
    from mamori.secrets.value import Origin, SourceKind

    if pin_source:
        if not pin_source.startswith("file:"):
            raise Pkcs11Error("pin-source must be file:PATH")
        path = pin_source[len("file:"):]
        return Secret(read_bounded(path).strip(), name="pkcs11-pin", origin=Origin(SourceKind.FILE, path))
    try:
        with SecretStore([EnvFileSource(), EnvSource()]) as store:
            return store.get("mamori-pkcs11-pin")
    except SealError:
        raise
    except Exception:  # noqa: BLE001 - SecretNotFound and friends: one clear message
        raise Pkcs11Error("no token PIN: set MAMORI_PKCS11_PIN_FILE (or MAMORI_PKCS11_PIN)") from None


class Pkcs11Key:
    """One AES KEK on a token, by token label and key label."""

    provider = PROVIDER

    def __init__(self, token: str, label: str, pin: Secret, module: str | None = None) -> None:
        self.token_label = token
        self.label = label
        self.key_id = f"{token}/{label}"
        self._pin = pin
        self._module = module

    @classmethod
    def from_uri(cls, uri: str, pin: Secret | None = None) -> Pkcs11Key:
        attrs = parse_uri(uri)
        return cls(attrs["token"], attrs["object"], pin or read_pin(attrs.get("pin-source")), attrs.get("module-path"))

    def _session(self) -> Any:
        import pkcs11

        lib = _lib(self._module)
        try:
            token = lib.get_token(token_label=self.token_label)
        except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned):
            raise Pkcs11Error(f"no single PKCS#11 token labelled {self.token_label!r}") from None
        try:
            return token.open(user_pin=self._pin.reveal(), rw=True)
        except pkcs11.PinIncorrect:
            raise KeyUnavailable(f"PKCS#11 token {self.token_label!r}: wrong PIN") from None
        except pkcs11.PKCS11Error as exc:
            raise Pkcs11Error(f"PKCS#11 token {self.token_label!r}: cannot log in ({type(exc).__name__})") from None

    def _kek(self, session: Any) -> Any:
        import pkcs11
        from pkcs11 import KeyType

        try:
            return session.get_key(label=self.label, key_type=KeyType.AES)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            raise KeyUnavailable(f"PKCS#11 token {self.token_label!r} has no single AES key labelled "
                                 f"{self.label!r}") from None

    def generate(self) -> None:
        """Create the KEK on the token: AES-256, sensitive, not extractable, wrap/unwrap only."""
        from pkcs11 import Attribute, KeyType

        with self._session() as session:
            if list(session.get_objects({Attribute.LABEL: self.label})):
                raise Pkcs11Error(f"token {self.token_label!r} already has an object labelled {self.label!r}")
            session.generate_key(KeyType.AES, 256, label=self.label, store=True, template={
                Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.WRAP: True,
                Attribute.UNWRAP: True, Attribute.ENCRYPT: False, Attribute.DECRYPT: False})

    def wrap(self, dek: bytes, aad: bytes) -> Recipient:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        with self._session() as session:
            kek = self._kek(session)
            tmp = session.create_object({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
                                         Attribute.VALUE: dek, Attribute.TOKEN: False, Attribute.EXTRACTABLE: True,
                                         Attribute.SENSITIVE: False})
            try:
                wrapped = kek.wrap_key(tmp, mechanism=Mechanism.AES_KEY_WRAP_PAD)
            except pkcs11.PKCS11Error as exc:
                raise Pkcs11Error(f"PKCS#11 key {self.key_id}: wrap failed ({type(exc).__name__})") from None
            finally:
                tmp.destroy()
        return Recipient(PROVIDER, self.key_id, bytes(wrapped),
                         {"token": self.token_label, "object": self.label, "mechanism": MECHANISM})

    def can_unwrap(self, recipient: Recipient) -> bool:
        return recipient.provider == PROVIDER and recipient.params.get("token") == self.token_label

    def unwrap(self, recipient: Recipient, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

        p = recipient.params
        if set(p) != {"token", "object", "mechanism"} or p["mechanism"] != MECHANISM or \
                recipient.key_id != f"{p['token']}/{p['object']}":
            raise KeyUnavailable(f"PKCS#11 recipient {recipient.key_id!r} is malformed or modified")
        key = Pkcs11Key(self.token_label, recipient.params.get("object", ""), self._pin, self._module)
        with key._session() as session:
            kek = key._kek(session)
            try:
                dek = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, recipient.wrapped,
                                     mechanism=Mechanism.AES_KEY_WRAP_PAD, store=False,
                                     template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False})
            except pkcs11.PKCS11Error:
                raise KeyUnavailable(f"PKCS#11 key {recipient.key_id} does not open this file's data key") from None
            try:
                return bytes(dek[Attribute.VALUE])
            finally:
                dek.destroy()
