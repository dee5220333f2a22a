"""Writing to a registry (blob uploads, manifest PUT) on top of the image reader's client and auth.

mamori.image.registry only reads; signing needs the monolithic upload (POST then PUT ?digest=)
and manifest PUT of the Distribution spec. The auth round (Basic/Bearer challenges, token
expiry, no credentials over plain HTTP) is the reader's own ``_authenticate``.
"""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from mamori.image.digest import of
from mamori.image.errors import ImageError
from mamori.image.limits import Limits
from mamori.image.reference import DockerRef
from mamori.image.registry import Registry, RegistryOptions, _bounded_body


class PushRegistry(Registry):
    """A :class:`Registry` that can also upload blobs and manifests to its repository."""

    def __init__(self, ref: DockerRef, options: RegistryOptions, limits: Limits | None = None) -> None:
        super().__init__(ref, options, limits or Limits())

    def _write(self, method: str, url: str, headers: dict[str, str], content: bytes | None = None) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            url = urljoin(self.base + "/", url.lstrip("/")) if not url.startswith("/") else self.base + url
        if not url.startswith(self.base + "/"):
            raise ImageError(f"registry {self.host}: upload location leaves the registry: {url[:200]}")
        for _ in range(3):
            h = dict(headers)
            if self._auth.header:
                h["Authorization"] = self._auth.header
            try:
                resp = self.client.request(method, url, headers=h, content=content)
            except httpx.HTTPError as exc:
                raise ImageError(f"registry {self.host}: {exc}") from None
            if resp.status_code != 401:
                self._auth.worked = self._auth.header is not None
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            if self._auth.worked:
                self._auth.tried.clear()
                self._auth.worked = False
            if not self._authenticate(challenge):
                break
        raise ImageError(f"registry {self.host}: not allowed to push to {self.ref.repository}"
                         + ("" if self.options.credentials else " (no credentials given)"))

    def has_blob(self, digest: str) -> bool:
        resp = self._write("HEAD", f"/v2/{self.ref.repository}/blobs/{digest}", {})
        return resp.status_code == 200

    def put_blob(self, data: bytes) -> str:
        digest = of(data)
        if self.has_blob(digest):
            return digest
        start = self._write("POST", f"/v2/{self.ref.repository}/blobs/uploads/", {"Content-Length": "0"})
        if start.status_code != 202 or not start.headers.get("Location"):
            raise self._error(start, "starting a blob upload")
        location = start.headers["Location"]
        sep = "&" if "?" in location else "?"
        done = self._write("PUT", f"{location}{sep}digest={digest}",
                           {"Content-Type": "application/octet-stream"}, data)
        if done.status_code != 201:
            raise self._error(done, f"uploading blob {digest}")
        return digest

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        resp = self._write("PUT", f"/v2/{self.ref.repository}/manifests/{reference}", {"Content-Type": media_type},
                           data)
        if resp.status_code not in (200, 201):
            raise self._error(resp, f"pushing manifest {reference}")
        digest = of(data)
        header = resp.headers.get("Docker-Content-Digest")
        if header and header != digest:
            raise ImageError(f"registry {self.host}: stored manifest digest {header} differs from {digest}")
        return digest

    def manifest_if_any(self, reference: str) -> tuple[bytes, str | None, str] | None:
        """Like :meth:`manifest`, but None when the registry says the manifest does not exist."""
        resp = self._send("GET", f"/v2/{self.ref.repository}/manifests/{reference}",
                          {"Accept": "application/vnd.oci.image.manifest.v1+json, "
                                     "application/vnd.docker.distribution.manifest.v2+json"}, stream=True)
        try:
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise self._error(resp, f"manifest {reference}")
            data = _bounded_body(resp, self.limits.max_manifest, f"manifest {reference}")
        finally:
            resp.close()
        return data, resp.headers.get("Content-Type"), of(data)
