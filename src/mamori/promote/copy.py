"""Copy an image by digest between repositories: manifests (and index children), blobs, ``.sig``/``.att``.

Same registry: blobs are mounted across repositories (no data moves). Another registry: each blob
is streamed into a spooled temporary file while its sha256 and size are checked against the
descriptor, then uploaded; the target registry checks the digest again on ``PUT ?digest=``.
Manifests are pushed byte-for-byte, so the digest is the same in every environment.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote, urljoin

import httpx

from mamori.attest import layout as attlayout
from mamori.image import mediatypes as mt
from mamori.image.digest import parse as parse_digest
from mamori.image.errors import ImageError
from mamori.image.reference import DockerRef
from mamori.image.registry import RegistryOptions, _bounded_body
from mamori.sign import layout as siglayout
from mamori.sign.registry_push import PushRegistry

MAX_BLOB = 32 * 1024**3  # one layer; a hostile descriptor cannot make us spool more
MAX_CHILDREN = 256
SPOOL = 32 * 1024 * 1024
CHUNK = 1 << 20


@dataclass
class CopyStats:
    mounted: int = 0
    streamed: int = 0
    present: int = 0
    manifests: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)  # .sig / .att tags copied


class Repo(PushRegistry):
    """A repository client that can also mount blobs, stream uploads and fetch indexes."""

    def __init__(self, ref: DockerRef, options: RegistryOptions) -> None:
        super().__init__(ref, options)

    def manifest_any(self, reference: str) -> tuple[bytes, str | None, str] | None:
        """Manifest or index at ``reference`` (None if absent), digest computed from the bytes."""
        resp = self._send("GET", f"/v2/{self.ref.repository}/manifests/{reference}", {"Accept": mt.ACCEPT},
                          stream=True)
        try:
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise self._error(resp, f"manifest {reference}")
            data = _bounded_body(resp, self.limits.max_manifest, f"manifest {reference}")
        finally:
            resp.close()
        from mamori.image.digest import of

        return data, resp.headers.get("Content-Type"), of(data)

    def mount(self, digest: str, source_repository: str) -> str | None:
        """Cross-repository mount; None when mounted, else the upload location the registry opened."""
        resp = self._write("POST", f"/v2/{self.ref.repository}/blobs/uploads/?mount={quote(digest)}"
                                   f"&from={quote(source_repository)}", {"Content-Length": "0"})
        if resp.status_code == 201:
            return None
        if resp.status_code == 202 and resp.headers.get("Location"):
            return resp.headers["Location"]
        raise self._error(resp, f"mounting blob {digest}")

    def upload(self, digest: str, fh: IO[bytes], size: int, location: str | None = None) -> None:
        if location is None:
            start = self._write("POST", f"/v2/{self.ref.repository}/blobs/uploads/", {"Content-Length": "0"})
            if start.status_code != 202 or not start.headers.get("Location"):
                raise self._error(start, "starting a blob upload")
            location = start.headers["Location"]
        url = location if location.startswith(("http://", "https://")) else urljoin(self.base + "/", location)
        if not url.startswith(self.base + "/"):
            raise ImageError(f"registry {self.host}: upload location leaves the registry: {url[:200]}")
        url += ("&" if "?" in url else "?") + f"digest={quote(digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if self._auth.header:
            headers["Authorization"] = self._auth.header

        def chunks() -> Iterator[bytes]:
            fh.seek(0)
            while block := fh.read(CHUNK):
                yield block

        try:
            resp = self.client.request("PUT", url, headers=headers, content=chunks())
        except httpx.HTTPError as exc:
            raise ImageError(f"registry {self.host}: {exc}") from None
        if resp.status_code != 201:
            raise self._error(resp, f"uploading blob {digest}")


def _spool(src: Repo, digest: str, size: int) -> IO[bytes]:
    """Read a blob into a temporary file, checking its size and digest as it streams."""
    alg, want = parse_digest(digest)
    if alg != "sha256":
        raise ImageError(f"blob {digest}: only sha256 blobs are copied")
    if size < 0 or size > MAX_BLOB:
        raise ImageError(f"blob {digest}: size {size} is out of bounds")
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned open
    h, n = hashlib.sha256(), 0
    reader = src.stream(digest, size, f"blob {digest}")
    try:
        while block := reader.read(CHUNK):
            n += len(block)
            if n > size:
                raise ImageError(f"blob {digest} is larger than its descriptor's {size} bytes")
            h.update(block)
            out.write(block)
    except BaseException:
        out.close()
        raise
    finally:
        reader.close()
    if n != size or h.hexdigest() != want:
        out.close()
        raise ImageError(f"blob {digest}: the source sent {n} bytes with another digest; refusing to copy it")
    return out


def copy_blob(src: Repo, dst: Repo, digest: str, size: int, stats: CopyStats) -> None:
    if dst.has_blob(digest):
        stats.present += 1
        return
    location = None
    if src.ref.registry == dst.ref.registry:
        location = dst.mount(digest, src.ref.repository)
        if location is None:
            stats.mounted += 1
            return
    fh = _spool(src, digest, size)
    try:
        dst.upload(digest, fh, size, location)
    finally:
        fh.close()
    stats.streamed += 1


def _descriptors(doc: Any, key: str) -> list[tuple[str, int]]:
    items = doc.get(key) if isinstance(doc, dict) else None
    if items is None:
        return []
    if not isinstance(items, list) or len(items) > MAX_CHILDREN:
        raise ImageError(f"manifest: `{key}` is not a list of at most {MAX_CHILDREN} descriptors")
    out = []
    for d in items:
        if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not isinstance(d.get("size"), int):
            raise ImageError(f"manifest: a `{key}` descriptor has no digest and size")
        parse_digest(d["digest"])
        out.append((str(d["digest"]), int(d["size"])))
    return out


def _media_type(raw: bytes, ctype: str | None) -> tuple[Any, str]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ImageError("manifest is not JSON") from None
    declared = doc.get("mediaType") if isinstance(doc, dict) else None
    media = ctype.split(";")[0].strip() if ctype else None
    return doc, media or (declared if isinstance(declared, str) else mt.OCI_MANIFEST)


def copy_manifest(src: Repo, dst: Repo, digest: str, stats: CopyStats, size: int | None = None, depth: int = 0
                  ) -> tuple[bytes, str]:
    """Copy the manifest ``digest`` (an index with all its children) and every blob it names."""
    if depth > 1:
        raise ImageError("nested image indexes are not copied")
    raw, ctype, _ = src.manifest(digest, size)
    doc, media = _media_type(raw, ctype)
    if media in mt.INDEXES or (isinstance(doc, dict) and "manifests" in doc):
        for child, csize in _descriptors(doc, "manifests"):
            copy_manifest(src, dst, child, stats, csize, depth + 1)
    else:
        config = doc.get("config") if isinstance(doc, dict) else None
        blobs = _descriptors({"c": [config]}, "c") if config is not None else []
        for d, s in blobs + _descriptors(doc, "layers"):
            copy_blob(src, dst, d, s, stats)
    dst.put_manifest(digest, raw, media)
    stats.manifests.append(digest)
    return raw, media


def copy_artifacts(src: Repo, dst: Repo, digest: str, stats: CopyStats) -> None:
    """Merge the source's ``.sig`` and ``.att`` layers into the target's (existing target layers are kept)."""
    for tag in (siglayout.sig_tag(digest), attlayout.att_tag(digest)):
        found = src.manifest_if_any(tag)
        if found is None:
            continue
        doc, _ = _media_type(found[0], found[1])
        layers = [x for x in (doc.get("layers") or []) if isinstance(x, dict)] if isinstance(doc, dict) else []
        for d, s in _descriptors({"layers": layers}, "layers"):
            copy_blob(src, dst, d, s, stats)
        attlayout.append_layers(dst, tag, layers)
        stats.artifacts.append(tag)


def copy_image(src: Repo, dst: Repo, digest: str, tag: str | None) -> CopyStats:
    stats = CopyStats()
    raw, media = copy_manifest(src, dst, digest, stats)
    if tag:
        dst.put_manifest(tag, raw, media)
    copy_artifacts(src, dst, digest, stats)
    return stats
