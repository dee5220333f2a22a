"""Key unwrappers for an unattended process (an ENTRYPOINT): credentials from mounted secrets, never a prompt.

Either explicit key specs (``keyring[:PATH[#ID]]``, ``pkcs11:token=..;object=..``, ``vault-transit:[MOUNT/]KEY``)
or, by default, one unwrapper per provider the sealed file's header names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mamori.crypto.errors import KeyUnavailable, SealError
from mamori.crypto.format import Envelope
from mamori.crypto.keys import KeyUnwrapper
from mamori.secrets.value import Secret

PASSPHRASE_SECRET = "mamori-keyring-passphrase"


def passphrase(passphrase_file: str | None) -> Secret:
    """--passphrase-file, else the secret ``mamori-keyring-passphrase`` (/run/secrets, *_FILE, environment)."""
    from mamori.secrets.sources import SecretNotFound, read_bounded
    from mamori.secrets.store import SecretStore
    from mamori.secrets.value import Origin, SourceKind

    if passphrase_file:
        raw = read_bounded(passphrase_file).rstrip(b"\r\n")
        return Secret(raw, name="keyring-passphrase", origin=Origin(SourceKind.FILE, passphrase_file))
    try:
        with SecretStore() as store:
            return store.get(PASSPHRASE_SECRET)
    except SecretNotFound:
        raise KeyUnavailable("no keyring passphrase: give --passphrase-file or mount the secret "
                             f"{PASSPHRASE_SECRET} (or set MAMORI_KEYRING_PASSPHRASE_FILE)") from None


def _keyring(path: str | None, kid: str | None, passphrase_file: str | None) -> KeyUnwrapper:
    from mamori.crypto.keyring import Keyring, default_path

    return Keyring.open(path or default_path(), passphrase(passphrase_file)).wrapper(kid)


def _vault_client() -> object:
    from mamori.secrets.providers.vault import K8S_TOKEN_PATH, VaultClient

    client = VaultClient()
    role = os.environ.get("MAMORI_VAULT_K8S_ROLE")
    if role and not os.environ.get("VAULT_TOKEN"):  # the workload's own identity (service-account token)
        client.login_kubernetes(role, mount=os.environ.get("MAMORI_VAULT_K8S_MOUNT", "kubernetes"),
                                jwt_path=os.environ.get("MAMORI_VAULT_K8S_JWT_FILE", K8S_TOKEN_PATH))
    return client


def from_spec(spec: str, keyring_path: str | None, passphrase_file: str | None) -> KeyUnwrapper:
    if spec == "keyring" or spec.startswith("keyring:"):
        rest = spec[len("keyring:"):] if ":" in spec else ""
        path, _, kid = rest.partition("#")
        return _keyring(path or keyring_path, kid or None, passphrase_file)
    if spec.startswith("pkcs11:"):
        from mamori.crypto.pkcs11 import Pkcs11Key

        return Pkcs11Key.from_uri(spec)
    if spec.startswith("vault-transit:"):
        from mamori.crypto.kms import VaultTransitKey

        return VaultTransitKey.from_spec(_vault_client(), spec[len("vault-transit:"):])  # type: ignore[arg-type]
    raise SealError(f"--key {spec[:60]!r}: expected keyring[:PATH[#ID]], pkcs11:... or vault-transit:KEY")


def for_envelope(env: Envelope, keyring_path: str | None, passphrase_file: str | None) -> list[KeyUnwrapper]:
    """One unwrapper per provider the file was sealed for; credentials are asked for only those providers."""
    out: list[KeyUnwrapper] = []
    problems: list[str] = []
    providers = sorted({r.provider for r in env.recipients})
    for provider in providers:
        try:
            if provider == "keyring":
                out.append(_keyring(keyring_path, None, passphrase_file))
            elif provider == "pkcs11":
                from mamori.crypto.pkcs11 import Pkcs11Key, read_pin

                pin = read_pin()
                out.extend(Pkcs11Key(r.params.get("token", ""), r.params.get("object", ""), pin)
                           for r in env.recipients if r.provider == "pkcs11")
            elif provider == "vault-transit":
                from mamori.crypto.kms import VaultTransitKey

                out.append(VaultTransitKey(_vault_client(), "", mount="transit"))  # type: ignore[arg-type]
        except SealError as exc:
            problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - SecretError and provider errors: their one-line message
            problems.append(str(exc)[:200] or type(exc).__name__)
    if not out:
        raise KeyUnavailable("; ".join(problems) or f"no supported key provider for this file ({', '.join(providers)})")
    return out


def resolve(specs: Sequence[str], env: Envelope, keyring_path: str | None,
            passphrase_file: str | None) -> list[KeyUnwrapper]:
    if specs:
        return [from_spec(s, keyring_path, passphrase_file) for s in specs]
    return for_envelope(env, keyring_path, passphrase_file)
