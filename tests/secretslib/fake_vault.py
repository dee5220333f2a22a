"""A fake Vault HTTP server on 127.0.0.1 that follows Vault's documented request and response shapes.

No Vault or OpenBao binary is installable here (neither is packaged for Debian), so the
client is tested against these shapes, taken from the API documentation:

* KV v2 read:  https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version
  ``GET /v1/:mount/data/:path?version=N`` -> ``{"data": {"data": {...}, "metadata": {"version": N, ...}}}``
* Transit:     https://developer.hashicorp.com/vault/api-docs/secret/transit
  ``POST /v1/transit/encrypt/:name {"plaintext": b64}``
  -> ``{"data": {"ciphertext": "vault:v1:...", "key_version": 1}}``
  ``POST /v1/transit/decrypt/:name {"ciphertext"}`` -> ``{"data": {"plaintext": b64}}``
  ``POST /v1/transit/datakey/plaintext/:name {"bits"}`` -> ``{"data": {"plaintext", "ciphertext", "key_version"}}``
  ``POST /v1/transit/rewrap/:name {"ciphertext"}`` -> ``{"data": {"ciphertext": "vault:vN:...", "key_version": N}}``
  ``POST /v1/transit/keys/:name/rotate``
* Kubernetes auth: https://developer.hashicorp.com/vault/api-docs/auth/kubernetes#login
  ``POST /v1/auth/kubernetes/login {"role", "jwt"}`` -> ``{"auth": {"client_token": ..., "policies": [...]}}``
* Database engine (dynamic credentials):
  https://developer.hashicorp.com/vault/api-docs/secret/databases#generate-credentials
  ``GET /v1/database/creds/:name`` -> ``{"lease_id": "database/creds/:name/<id>", "lease_duration": 3600,
  "renewable": true, "data": {"username": "v-...", "password": "..."}}``
* Errors:      https://developer.hashicorp.com/vault/api-docs#error-response
  ``{"errors": ["permission denied"]}`` with 403, 404 ``{"errors": []}`` for a missing path, 400 for bad input.

Policies are simulated as path prefixes per token (``X-Vault-Token``), which is how Vault
decides who may use what (https://developer.hashicorp.com/vault/docs/concepts/policies).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass
class VaultState:
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)  # token -> allowed path prefixes
    kv: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "mount/path" -> versions
    transit: dict[str, list[bytes]] = field(default_factory=dict)  # key name -> AES keys (v1, v2, ...)
    k8s_roles: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # role -> (jwt, prefixes)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) seen
    db_roles: set[str] = field(default_factory=set)  # database engine roles that issue credentials
    issued: list[tuple[str, str]] = field(default_factory=list)  # (username, password) handed out
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kv_put(self, path: str, data: dict[str, Any], mount: str = "secret") -> int:
        with self.lock:
            versions = self.kv.setdefault(f"{mount}/{path}", [])
            versions.append(data)
            return len(versions)

    def transit_key(self, name: str) -> None:
        self.transit[name] = [AESGCM.generate_key(256)]

    def rotate(self, name: str) -> int:
        self.transit[name].append(AESGCM.generate_key(256))
        return len(self.transit[name])


def _encrypt(keys: list[bytes], plaintext: bytes) -> tuple[str, int]:
    version = len(keys)
    nonce = os.urandom(12)
    ct = AESGCM(keys[version - 1]).encrypt(nonce, plaintext, None)
    return f"vault:v{version}:" + base64.b64encode(nonce + ct).decode(), version


def _decrypt(keys: list[bytes], ciphertext: str) -> bytes:
    m = re.fullmatch(r"vault:v(\d+):(.+)", ciphertext)
    if not m or not 1 <= int(m.group(1)) <= len(keys):
        raise ValueError("invalid ciphertext: no prefix or unknown version")
    blob = base64.b64decode(m.group(2))
    return AESGCM(keys[int(m.group(1)) - 1]).decrypt(blob[:12], blob[12:], None)


class _Handler(BaseHTTPRequestHandler):
    state: VaultState

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else {}

    def _allowed(self, path: str) -> bool:
        prefixes = self.state.tokens.get(self.headers.get("X-Vault-Token", ""))
        return prefixes is not None and any(path.startswith(p) for p in prefixes)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        if not path.startswith("/v1/"):
            return self._send(404, {"errors": []})
        path = path[len("/v1/"):]
        self.state.requests.append((method, path))
        body = self._body() if method == "POST" else {}
        if path == "auth/kubernetes/login":
            role = self.state.k8s_roles.get(body.get("role", ""))
            if role is None:
                return self._send(400, {"errors": [f'invalid role name "{body.get("role")}"']})
            if body.get("jwt") != role[0]:
                return self._send(403, {"errors": ["permission denied"]})
            token = "hvs." + uuid.uuid4().hex
            self.state.tokens[token] = role[1]
            return self._send(200, {"auth": {"client_token": token, "accessor": uuid.uuid4().hex,
                                             "policies": ["default"], "lease_duration": 3600, "renewable": True}})
        if not self._allowed(path):
            return self._send(403, {"errors": ["permission denied"]})
        m = re.fullmatch(r"([^/]+)/data/(.+)", path)
        if m and method == "GET" and not path.startswith("transit/"):
            versions = self.state.kv.get(f"{m.group(1)}/{m.group(2)}")
            if not versions:
                return self._send(404, {"errors": []})
            want = re.search(r"version=(\d+)", query)
            v = int(want.group(1)) if want else len(versions)
            if not 1 <= v <= len(versions):
                return self._send(404, {"errors": []})
            return self._send(200, {"request_id": uuid.uuid4().hex, "lease_id": "", "renewable": False,
                                    "lease_duration": 0, "data": {"data": versions[v - 1], "metadata": {
                                        "created_time": "2026-11-26T00:00:00Z", "custom_metadata": None,
                                        "deletion_time": "", "destroyed": False, "version": v}},
                                    "wrap_info": None, "warnings": None, "auth": None})
        m = re.fullmatch(r"database/creds/([^/]+)", path)
        if m and method == "GET":
            if m.group(1) not in self.state.db_roles:
                return self._send(400, {"errors": [f'unknown role: {m.group(1)}']})
            user, password = f"v-k8s-{m.group(1)}-{uuid.uuid4().hex[:8]}", base64.urlsafe_b64encode(
                os.urandom(18)).decode()
            self.state.issued.append((user, password))
            return self._send(200, {"request_id": uuid.uuid4().hex, "lease_id": f"database/creds/{m.group(1)}/"
                                    f"{uuid.uuid4().hex}", "renewable": True, "lease_duration": 3600,
                                    "data": {"username": user, "password": password}, "wrap_info": None,
                                    "warnings": None, "auth": None})
        m = re.fullmatch(r"transit/(encrypt|decrypt|rewrap|datakey/plaintext|keys)/([^/]+)(/rotate)?", path)
        if not m or method != "POST":
            return self._send(404, {"errors": []})
        op, name = m.group(1), m.group(2)
        keys = self.state.transit.get(name)
        if keys is None:
            return self._send(400, {"errors": ["encryption key not found"]})
        try:
            if op == "keys" and m.group(3):
                return self._send(200, {"data": {"latest_version": self.state.rotate(name)}})
            if op == "encrypt":
                ct, v = _encrypt(keys, base64.b64decode(body["plaintext"]))
                return self._send(200, {"data": {"ciphertext": ct, "key_version": v}})
            if op == "decrypt":
                plain = _decrypt(keys, body["ciphertext"])
                return self._send(200, {"data": {"plaintext": base64.b64encode(plain).decode()}})
            if op == "rewrap":
                ct, v = _encrypt(keys, _decrypt(keys, body["ciphertext"]))
                return self._send(200, {"data": {"ciphertext": ct, "key_version": v}})
            if op == "datakey/plaintext":
                dk = os.urandom(int(body.get("bits", 256)) // 8)
                ct, v = _encrypt(keys, dk)
                return self._send(200, {"data": {"plaintext": base64.b64encode(dk).decode(), "ciphertext": ct,
                                                 "key_version": v}})
        except (InvalidTag, ValueError, KeyError):
            return self._send(400, {"errors": ["cipher: message authentication failed"]})
        return self._send(404, {"errors": []})


@contextmanager
def fake_vault() -> Iterator[tuple[str, VaultState]]:
    """(address, state) of a fake Vault on 127.0.0.1, stopped on exit."""
    state = VaultState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
