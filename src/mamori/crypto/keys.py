"""The key-encryption-key interface: wrap a data key, unwrap it again.

A provider (the local keyring, a PKCS#11 token, a KMS such as Vault transit) implements
:class:`KeyWrapper` to seal and :class:`KeyUnwrapper` to unseal. Who may use which key is
the provider's own decision (keyring passphrase, token PIN, Vault policy); mamori adds none.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mamori.crypto.format import Recipient


@runtime_checkable
class KeyWrapper(Protocol):
    provider: str
    key_id: str

    def wrap(self, dek: bytes, aad: bytes) -> Recipient:
        """The data key wrapped under this KEK; ``aad`` (the header digest) is bound when the mechanism can."""
        ...


@runtime_checkable
class KeyUnwrapper(Protocol):
    provider: str

    def can_unwrap(self, recipient: Recipient) -> bool: ...

    def unwrap(self, recipient: Recipient, aad: bytes) -> bytes:
        """The data key; raise :class:`mamori.crypto.errors.KeyUnavailable` when this key cannot."""
        ...


class Kms(KeyWrapper, KeyUnwrapper, Protocol):
    """A key management service: the KEK stays in the service, which wraps and unwraps on request."""
