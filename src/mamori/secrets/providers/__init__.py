"""Secret providers: remote secret managers behind the :class:`mamori.secrets.SecretProvider` interface."""

from mamori.secrets.providers.vault import VaultClient, VaultDatabase, VaultError, VaultKV

__all__ = ["VaultClient", "VaultDatabase", "VaultError", "VaultKV"]
