"""Images from a registry over the OCI Distribution API (``registry:REF``).

HTTPS by default, with the system trust store or ``--ca-file``; ``--insecure`` (HTTPS without
verification, then plain HTTP) is accepted only for loopback registries. Manifests and blobs are
size-bounded and digest-checked.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

from mamori.image import mediatypes as mt
from mamori.image.auth import (
    Credentials,
    basic_header,
    check_realm,
    docker_config_credentials,
    is_loopback,
    parse_challenges,
)
from mamori.image.digest import of, parse, verify
from mamori.image.errors import ImageError
from mamori.image.image import Image, resolve
from mamori.image.limits import Limits
from mamori.image.options import RegistryOptions
from mamori.image.reference import DockerRef, Platform, parse_docker_ref

MAX_TOKEN_RESPONSE = 1 << 20
MAX_ERROR_BODY = 4096


@dataclass
class _Auth:
    header: str | None = None
    tried: set[str] = field(default_factory=set)
    worked: bool = False  # the current header was accepted at least once (a later 401 = expired token)


class _StreamReader:
    """A file-like view of a streaming HTTP response body.

    Chunks are joined once per read (not appended one by one: that copied a 1 MiB read ~8 times).
    """

    def __init__(self, response: httpx.Response) -> None:
        self._resp = response
        self._it = response.iter_bytes(1 << 20)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        parts = [self._buf] if self._buf else []
        have = len(self._buf)
        try:
            while n < 0 or have < n:
                chunk = next(self._it, None)
                if chunk is None:
                    break
                parts.append(chunk)
                have += len(chunk)
        except httpx.HTTPError as exc:
            raise ImageError(f"registry connection broke while reading a blob: {exc}") from None
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if n < 0 or len(data) <= n:
            self._buf = b""
            return data
        self._buf = data[n:]
        return data[:n]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._resp.close()


class Registry:
    def __init__(self, ref: DockerRef, options: RegistryOptions, limits: Limits) -> None:
        self.ref, self.options, self.limits = ref, options, limits
        self.credentials = options.credentials
        if self.credentials is None and options.docker_config:
            self.credentials = docker_config_credentials(ref.registry)
        host = ref.registry if ref.registry != "docker.io" else "registry-1.docker.io"
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if options.insecure and not is_loopback(hostname):
            raise ImageError(f"--insecure is only accepted for loopback registries, not {ref.registry}")
        self.loopback = is_loopback(hostname)
        verify_tls: ssl.SSLContext | bool = True
        if options.insecure:
            verify_tls = False
        elif options.ca_file:
            try:
                verify_tls = ssl.create_default_context(cafile=options.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ImageError(f"cannot load --ca-file {options.ca_file}: {exc}") from None
        self.client = httpx.Client(verify=verify_tls, timeout=options.timeout, follow_redirects=True,
                                   headers={"User-Agent": "mamori"})
        self.host = host
        self.base = f"https://{host}"
        self._auth = _Auth()
        self._ping()

    def close(self) -> None:
        self.client.close()

    # --- transport -----------------------------------------------------------------------
    def _ping(self) -> None:
        try:
            self.client.get(f"{self.base}/v2/")
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            if not self.options.insecure:
                raise ImageError(f"cannot reach registry {self.host}: {exc}") from None
            self.base = f"http://{self.host}"  # insecure loopback: fall back to plain HTTP
            try:
                self.client.get(f"{self.base}/v2/")
            except httpx.HTTPError as exc2:
                raise ImageError(f"cannot reach registry {self.host}: {exc2}") from None
        except httpx.HTTPError as exc:
            raise ImageError(f"cannot reach registry {self.host}: {exc}") from None

    def _send(self, method: str, path: str, headers: dict[str, str], stream: bool = False) -> httpx.Response:
        url = f"{self.base}{path}"
        for _ in range(3):
            h = dict(headers)
            if self._auth.header:
                h["Authorization"] = self._auth.header
            try:
                req = self.client.build_request(method, url, headers=h)
                resp = self.client.send(req, stream=stream)
            except httpx.HTTPError as exc:
                raise ImageError(f"registry {self.host}: {exc}") from None
            if resp.status_code != 401:
                self._auth.worked = self._auth.header is not None
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.close()
            if self._auth.worked:  # an accepted token expired: one fresh round of challenges
                self._auth.tried.clear()
                self._auth.worked = False
            if not self._authenticate(challenge):
                break
        raise ImageError(f"registry {self.host}: authentication failed for {self.ref.repository}"
                         + ("" if self.credentials else " (no credentials given)"))

    def _authenticate(self, header: str) -> bool:
        """Answer a 401 challenge; False when there is nothing new to try."""
        creds = self.credentials
        for ch in parse_challenges(header):
            if ch.scheme == "bearer":
                scope = ch.params.get("scope") or f"repository:{self.ref.repository}:pull"
                key = f"bearer {scope}"
                if key in self._auth.tried:
                    continue
                self._auth.tried.add(key)
                self._auth.header = f"Bearer {self._token(ch.params, scope, creds)}"
                return True
            if ch.scheme == "basic" and creds is not None:
                if "basic" in self._auth.tried:
                    continue
                if self.base.startswith("http://") and not self.loopback:
                    raise ImageError("refusing to send credentials over plain HTTP")
                self._auth.tried.add("basic")
                self._auth.header = basic_header(creds)
                return True
        return False

    def _token(self, params: dict[str, str], scope: str, creds: Credentials | None) -> str:
        realm = params.get("realm")
        if not realm:
            raise ImageError(f"registry {self.host}: Bearer challenge without a realm")
        check_realm(realm, creds is not None)
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        auth = httpx.BasicAuth(creds.username, creds.password) if creds else None
        try:
            with self.client.stream("GET", realm, params=query, auth=auth) as resp:
                body = _bounded_body(resp, MAX_TOKEN_RESPONSE, "token response")
                status = resp.status_code
        except httpx.HTTPError as exc:
            raise ImageError(f"token server {realm[:200]}: {exc}") from None
        if status != 200:
            raise ImageError(f"token server refused ({status}) for scope {scope}")
        try:
            import json

            doc: Any = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_RESPONSE:
            raise ImageError("token server answered without a token")
        return token

    def _error(self, resp: httpx.Response, what: str) -> ImageError:
        try:
            body = resp.read()[:MAX_ERROR_BODY].decode("utf-8", "replace")
        except httpx.HTTPError:
            body = ""
        return ImageError(f"registry {self.host}: {what}: HTTP {resp.status_code} {body.strip()[:300]}")

    # --- API -----------------------------------------------------------------------------
    def manifest(self, reference: str, size: int | None = None) -> tuple[bytes, str | None, str]:
        """Manifest bytes, the Content-Type, and the digest (verified if the reference is one)."""
        path = f"/v2/{self.ref.repository}/manifests/{reference}"
        resp = self._send("GET", path, {"Accept": mt.ACCEPT}, stream=True)
        try:
            if resp.status_code != 200:
                raise self._error(resp, f"manifest {reference}")
            data = _bounded_body(resp, self.limits.max_manifest, f"manifest {reference}")
        finally:
            resp.close()
        if reference.startswith(("sha256:", "sha512:")):
            verify(data, reference, f"manifest {reference}")
            digest = reference
        else:
            header = resp.headers.get("Docker-Content-Digest")
            alg = parse(header)[0] if header else "sha256"
            digest = of(data, alg)
            if header and header != digest:
                raise ImageError(f"manifest {reference}: Docker-Content-Digest {header} does not match its "
                                 f"content ({digest})")
        if size is not None and len(data) != size:
            raise ImageError(f"manifest {reference}: size {len(data)} does not match the descriptor's {size}")
        return data, resp.headers.get("Content-Type"), digest

    def blob(self, digest: str, size: int | None, limit: int, what: str) -> bytes:
        resp = self._send("GET", f"/v2/{self.ref.repository}/blobs/{digest}", {}, stream=True)
        try:
            if resp.status_code != 200:
                raise self._error(resp, what)
            data = _bounded_body(resp, limit, what)
        finally:
            resp.close()
        if size is not None and len(data) != size:
            raise ImageError(f"{what}: size {len(data)} does not match the descriptor's {size}")
        verify(data, digest, what)
        return data

    def stream(self, digest: str, size: int | None, what: str) -> IO[bytes]:
        parse(digest)
        resp = self._send("GET", f"/v2/{self.ref.repository}/blobs/{digest}", {}, stream=True)
        if resp.status_code != 200:
            err = self._error(resp, what)
            resp.close()
            raise err
        return _StreamReader(resp)  # type: ignore[return-value]


def _bounded_body(resp: httpx.Response, limit: int, what: str) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ImageError(f"{what} is larger than {limit} bytes")
    buf = bytearray()
    for chunk in resp.iter_bytes(1 << 16):
        buf += chunk
        if len(buf) > limit:
            raise ImageError(f"{what} is larger than {limit} bytes")
    return bytes(buf)


def open_registry(ref: str, platform: Platform | None, limits: Limits, options: RegistryOptions) -> Image:
    dref = parse_docker_ref(ref)
    reg = Registry(dref, options, limits)
    try:
        data, ctype, digest = reg.manifest(dref.reference)

        def fetch(d: str, size: int | None) -> tuple[bytes, str | None]:
            raw, ct, _ = reg.manifest(d, size)
            return raw, ct

        img = resolve(reg, data, digest, ctype, str(dref), "registry", platform, limits, fetch)
    except BaseException:
        reg.close()
        raise
    img.closers.append(reg.close)
    return img


__all__ = ["Registry", "RegistryOptions", "open_registry"]
