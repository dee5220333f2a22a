"""HashiCorp Vault (or OpenBao) over its HTTP API: KV v2 reads, transit encrypt/decrypt/datakey/rewrap.

Authentication is Vault's own: a token (``X-Vault-Token``), or a Kubernetes service-account
JWT exchanged at ``auth/<mount>/login`` for a token. Which principal may read which path or
use which transit key is decided by Vault policies, not here. The token is held as a
:class:`~mamori.secrets.Secret`; responses are bounded and error messages carry Vault's
``errors`` text and the path, never a token or a value.

API shapes: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2,
https://developer.hashicorp.com/vault/api-docs/secret/transit,
https://developer.hashicorp.com/vault/api-docs/auth/kubernetes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import Any
from urllib.parse import quote

import httpx

from mamori.secrets.sources import SecretError
from mamori.secrets.value import Origin, Secret, SourceKind

MAX_RESPONSE = 4 << 20
K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class VaultError(SecretError):
    """Vault refused or could not be reached; ``status`` is the HTTP status (0 when unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _path(path: str) -> str:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise VaultError(f"invalid Vault path {path[:120]!r}")
    return "/".join(quote(p, safe="") for p in parts)


class VaultClient:
    """A small Vault HTTP client; ``addr`` defaults to ``$VAULT_ADDR``, the token to ``$VAULT_TOKEN``."""

    def __init__(self, addr: str | None = None, token: Secret | str | None = None, *, namespace: str | None = None,
                 timeout: float = 10.0, verify: bool | str = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.addr = (addr or os.environ.get("VAULT_ADDR") or "").rstrip("/")
        if not self.addr.startswith(("http://", "https://")):
            raise VaultError("no Vault address: pass addr or set VAULT_ADDR (http[s]://host:port)")
        env_token = os.environ.get("VAULT_TOKEN")
        raw = token if token is not None else env_token
        self._token: Secret | None = (
            raw if isinstance(raw, Secret) or raw is None
            else Secret(raw, name="vault-token", origin=Origin(SourceKind.LITERAL, "vault token")))
        self.namespace = namespace or os.environ.get("VAULT_NAMESPACE")
        ca = os.environ.get("VAULT_CACERT")
        self._http = httpx.Client(timeout=timeout, verify=ca if (verify is True and ca) else verify,
                                  transport=transport, trust_env=False, follow_redirects=False)

    def close(self) -> None:
        self._http.close()
        if self._token is not None:
            self._token.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- auth -------------------------------------------------------------------------------
    def login_kubernetes(self, role: str, *, jwt: Secret | None = None, jwt_path: str = K8S_TOKEN_PATH,
                         mount: str = "kubernetes") -> None:
        """Exchange the pod's service-account JWT for a Vault token (``POST auth/<mount>/login``)."""
        if jwt is None:
            from mamori.secrets.sources import read_bounded

            jwt = Secret(read_bounded(jwt_path).strip(), name="service-account-token",
                         origin=Origin(SourceKind.FILE, jwt_path))
        body = self._request("POST", f"auth/{_path(mount)}/login", {"role": role, "jwt": jwt.reveal()}, auth=False)
        token = (body.get("auth") or {}).get("client_token")
        if not isinstance(token, str) or not token:
            raise VaultError(f"Vault kubernetes login for role {role!r} returned no client_token")
        if self._token is not None:
            self._token.close()
        self._token = Secret(token, name="vault-token", origin=Origin(SourceKind.PROVIDER, f"auth/{mount}/login"))

    # --- HTTP -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None, *,
                 auth: bool = True) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if auth:
            if self._token is None:
                raise VaultError("no Vault token: pass token, set VAULT_TOKEN or log in")
            headers["X-Vault-Token"] = self._token.reveal()
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        url = f"{self.addr}/v1/{path}"
        try:
            with self._http.stream(method, url, headers=headers, json=payload) as resp:
                data = b""
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) > MAX_RESPONSE:
                        raise VaultError(f"Vault {method} /v1/{path}: response larger than {MAX_RESPONSE} bytes")
                status = resp.status_code
        except httpx.HTTPError as exc:
            raise VaultError(f"Vault at {self.addr} unreachable: {type(exc).__name__}") from None
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if status >= 400:
            errors = body.get("errors") or []
            text = "; ".join(str(e)[:200] for e in errors if isinstance(e, str)) or "no detail"
            raise VaultError(f"Vault {method} /v1/{path}: HTTP {status}: {text}", status)
        return body

    # --- KV v2 ------------------------------------------------------------------------------
    def kv_read(self, path: str, *, mount: str = "secret", version: int | None = None) -> tuple[dict[str, Any], int]:
        """``GET /v1/<mount>/data/<path>``: the data map and its version; VaultError(404) when absent."""
        query = f"?version={int(version)}" if version is not None else ""
        body = self._request("GET", f"{_path(mount)}/data/{_path(path)}{query}")
        outer = body.get("data") or {}
        data = outer.get("data")
        meta = outer.get("metadata") or {}
        if not isinstance(data, dict):  # a deleted or destroyed version: data is null
            raise VaultError(f"Vault KV {mount}/{path}: no data (deleted or destroyed version)", 404)
        return data, int(meta.get("version") or 0)

    # --- transit ----------------------------------------------------------------------------
    def database_creds(self, role: str, *, mount: str = "database") -> tuple[dict[str, Any], str, int]:
        """Fresh credentials from the database secrets engine: (data, lease id, lease seconds).

        ``GET /v1/<mount>/creds/<role>`` creates a user in the database for this caller only,
        valid for the lease; nothing is stored beforehand, so nothing can leak beforehand.
        """
        body = self._request("GET", f"{_path(mount)}/creds/{_path(role)}")
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("password"), str):
            raise VaultError(f"database/creds/{role}: answer without credentials")
        lease = body.get("lease_id")
        duration = body.get("lease_duration")
        return data, lease if isinstance(lease, str) else "", duration if isinstance(duration, int) else 0

    def transit_encrypt(self, key: str, plaintext: bytes, *, mount: str = "transit") -> str:
        body = self._request("POST", f"{_path(mount)}/encrypt/{_path(key)}",
                             {"plaintext": base64.b64encode(plaintext).decode()})
        return _ciphertext(body, key)

    def transit_decrypt(self, key: str, ciphertext: str, *, mount: str = "transit") -> bytes:
        body = self._request("POST", f"{_path(mount)}/decrypt/{_path(key)}", {"ciphertext": ciphertext})
        plain = (body.get("data") or {}).get("plaintext")
        try:
            return base64.b64decode(plain, validate=True) if isinstance(plain, str) else _bad(key)
        except binascii.Error:
            return _bad(key)

    def transit_datakey(self, key: str, *, bits: int = 256, mount: str = "transit") -> tuple[bytes, str]:
        """``POST datakey/plaintext/<key>``: a fresh data key and its wrapped form."""
        body = self._request("POST", f"{_path(mount)}/datakey/plaintext/{_path(key)}", {"bits": bits})
        plain = (body.get("data") or {}).get("plaintext")
        try:
            raw = base64.b64decode(plain, validate=True) if isinstance(plain, str) else _bad(key)
        except binascii.Error:
            raw = _bad(key)
        return raw, _ciphertext(body, key)

    def transit_rewrap(self, key: str, ciphertext: str, *, mount: str = "transit") -> str:
        """``POST rewrap/<key>``: the same plaintext under the key's latest version, never revealed to us."""
        return _ciphertext(self._request("POST", f"{_path(mount)}/rewrap/{_path(key)}", {"ciphertext": ciphertext}),
                           key)


def _ciphertext(body: dict[str, Any], key: str) -> str:
    ct = (body.get("data") or {}).get("ciphertext")
    if not isinstance(ct, str) or not ct.startswith("vault:v"):
        raise VaultError(f"Vault transit key {key!r}: malformed response (no vault:vN: ciphertext)")
    return ct


def _bad(key: str) -> bytes:
    raise VaultError(f"Vault transit key {key!r}: malformed response (plaintext not base64)")


class VaultKV:
    """A :class:`~mamori.secrets.SecretProvider` over KV v2.

    ``db-password`` reads field ``field`` (default ``value``) of ``<mount>/data/<prefix>/db-password``;
    store names are file names (no ``/``), so a nested path goes in ``prefix``.
    """

    def __init__(self, client: VaultClient, *, mount: str = "secret", prefix: str = "", field: str = "value") -> None:
        self.client = client
        self.mount = mount
        self.prefix = prefix.strip("/")
        self.field = field
        self.label = f"vault:{mount}/{self.prefix + '/' if self.prefix else ''}"

    def fetch(self, name: str) -> tuple[bytes, str] | None:
        full = f"{self.prefix}/{name}" if self.prefix else name
        try:
            data, version = self.client.kv_read(full, mount=self.mount)
        except VaultError as exc:
            if exc.status == 404:
                return None
            raise
        value = data.get(self.field)
        if value is None:
            return None
        if not isinstance(value, str):
            value = json.dumps(value)
        return value.encode("utf-8"), str(version)


class VaultDatabase:
    """A :class:`~mamori.secrets.SecretProvider` of *dynamic* database credentials.

    ``db-password`` asks the database engine for role ``db-password`` (or ``roles[name]``) and
    returns the generated password; the username is in :attr:`last_username`. The version is
    the lease id, so a store re-fetching after its TTL gets a new credential.
    """

    def __init__(self, client: VaultClient, *, mount: str = "database", roles: dict[str, str] | None = None) -> None:
        self.client = client
        self.mount = mount
        self.roles = dict(roles or {})
        self.label = f"vault:{mount}/creds/"
        self.last_username: dict[str, str] = {}

    def fetch(self, name: str) -> tuple[bytes, str] | None:
        role = self.roles.get(name, name)
        try:
            data, lease, _ = self.client.database_creds(role, mount=self.mount)
        except VaultError as exc:
            if exc.status == 404:
                return None
            raise
        self.last_username[name] = str(data.get("username", ""))
        return str(data["password"]).encode("utf-8"), lease
