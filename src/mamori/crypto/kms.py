"""KMS key-encryption keys: the key stays in the service, which wraps and unwraps on request.

Vault (or OpenBao) transit is the first: ``transit/encrypt/<key>`` wraps the data key,
``transit/decrypt/<key>`` unwraps it, and ``transit/rewrap/<key>`` moves a wrapped key to
the key's latest version without the data key ever reaching mamori. Access is Vault's
decision: a policy granting ``update`` on ``transit/encrypt/<key>`` (seal),
``transit/decrypt/<key>`` (unseal) and ``transit/rewrap/<key>`` (rotation).
"""

from __future__ import annotations

import re

from mamori.crypto.errors import KeyUnavailable, SealError
from mamori.crypto.format import Recipient
from mamori.secrets.providers.vault import VaultClient, VaultError

PROVIDER = "vault-transit"
_VERSION = re.compile(r"^vault:v(\d{1,9}):")


class VaultTransitKey:
    """One transit key; ``key_id`` is ``<mount>/<key>``, the version is recorded in the recipient's params."""

    provider = PROVIDER

    def __init__(self, client: VaultClient, key: str, *, mount: str = "transit") -> None:
        self.client = client
        self.key = key
        self.mount = mount
        self.key_id = f"{mount}/{key}"

    @classmethod
    def from_spec(cls, client: VaultClient, spec: str) -> VaultTransitKey:
        """``KEY`` or ``MOUNT/KEY``."""
        mount, _, key = spec.rpartition("/")
        return cls(client, key, mount=mount or "transit")

    def _recipient(self, ciphertext: str) -> Recipient:
        m = _VERSION.match(ciphertext)
        return Recipient(PROVIDER, self.key_id, ciphertext.encode("ascii"),
                         {"mount": self.mount, "key": self.key, "version": m.group(1) if m else ""})

    def wrap(self, dek: bytes, aad: bytes) -> Recipient:
        try:
            return self._recipient(self.client.transit_encrypt(self.key, dek, mount=self.mount))
        except VaultError as exc:
            raise SealError(f"Vault transit key {self.key_id}: {exc}") from None

    def can_unwrap(self, recipient: Recipient) -> bool:
        return recipient.provider == PROVIDER

    def unwrap(self, recipient: Recipient, aad: bytes) -> bytes:
        p = recipient.params
        mount, key = p.get("mount", ""), p.get("key", "")
        try:
            ciphertext = recipient.wrapped.decode("ascii")
            m = _VERSION.match(ciphertext)
            if set(p) != {"mount", "key", "version"} or recipient.key_id != f"{mount}/{key}" or not m or \
                    m.group(1) != p["version"]:
                raise KeyUnavailable(f"Vault transit recipient {recipient.key_id!r} is malformed or modified")
            return self.client.transit_decrypt(key, ciphertext, mount=mount)
        except UnicodeDecodeError:
            raise KeyUnavailable("Vault transit recipient is not a vault:vN: ciphertext") from None
        except VaultError as exc:
            raise KeyUnavailable(f"Vault transit key {mount}/{key}: {exc}") from None

    def rewrap(self, recipient: Recipient) -> Recipient:
        """The same data key under this transit key's latest version, rewrapped inside Vault."""
        try:
            return self._recipient(self.client.transit_rewrap(self.key, recipient.wrapped.decode("ascii"),
                                                              mount=self.mount))
        except (VaultError, UnicodeDecodeError) as exc:
            raise KeyUnavailable(f"Vault transit key {self.key_id}: rewrap failed: {exc}") from None
