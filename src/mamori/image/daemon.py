"""Images from the local Docker daemon (``docker:NAME``): the Engine API's ``docker save`` stream.

The stream is spooled, bounded, to an unlinked file in a private (0700) temporary directory and
read as a docker save archive; nothing is unpacked.

A daemon on a unix socket (the default, and what ``DOCKER_HOST=unix://...`` names) is asked over
``http.client`` directly; TCP daemons (TLS settings, ``DOCKER_CERT_PATH``) go through the docker
SDK. Why: the SDK (requests, urllib3) takes 0.15 s to import before the first
request can go out, and its save call waits for the response headers. Here the request goes out
first, and ``while_waiting`` runs while the daemon prepares the archive: Docker 20.10 writes the
whole save to a temporary directory before it sends a byte (2.5-3.2 s for the Debian image here).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from mamori.image.archive import open_archive
from mamori.image.errors import ImageError
from mamori.image.image import Image
from mamori.image.limits import Limits
from mamori.image.reference import Platform

if TYPE_CHECKING:
    import http.client

TIMEOUT = 600.0  # the daemon may take minutes to prepare a large save; a dead socket still ends it
MAX_INSPECT = 4 << 20  # bytes of an image inspect answer
CHUNK = 1 << 20


class DaemonMissing(ImageError):
    """The daemon is unreachable or does not have the image (a bare reference then tries a registry)."""


def open_daemon(name: str, platform: Platform | None, limits: Limits, host: str | None = None,
                while_waiting: Callable[[], None] | None = None) -> Image:
    """The image ``name`` of the daemon at ``host`` (default ``DOCKER_HOST``, then the local socket).

    ``while_waiting`` is work that does not need the image (imports): it runs once the save is
    requested and before its first byte is read. Nothing may depend on it having run.
    """
    from mamori.live.endpoint import ConnectError, endpoint

    try:
        sock = endpoint(host).socket_path  # DOCKER_HOST and the default socket, as `mamori scan docker://`
    except ConnectError:
        sock = None  # ssh:// and other forms the SDK may know: it answers for itself
    if sock is not None:
        return _open_unix(name, sock, platform, limits, while_waiting)
    return _open_sdk(name, host, platform, limits)


def _connection(path: str) -> http.client.HTTPConnection:
    """An HTTP connection over the daemon's unix socket (http.client is imported here: 30 ms)."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(TIMEOUT)
                s.connect(path)
            except OSError:
                s.close()
                raise
            self.sock = s

    return UnixConnection("localhost", timeout=TIMEOUT)


def _open_unix(name: str, path: str, platform: Platform | None, limits: Limits,
               while_waiting: Callable[[], None] | None) -> Image:
    import http.client

    where = f"unix://{path}"
    try:
        api = _api_prefix(path)
        status, body = _get(path, f"{api}/images/{quote(name, safe='/:')}/json")  # quoted as the SDK does
    except (OSError, http.client.HTTPException) as exc:
        raise DaemonMissing(f"cannot reach the Docker daemon at {where}: {exc}") from None
    if status == 404:
        raise DaemonMissing(f"the Docker daemon has no image {name!r}")
    if status != 200 or len(body) > MAX_INSPECT:
        raise DaemonMissing(f"the Docker daemon at {where} answered {status} for image {name!r}: {_message(body)}")
    try:
        attrs = json.loads(body)
    except ValueError:
        attrs = None
    if not isinstance(attrs, dict):
        raise ImageError(f"the Docker daemon at {where} sent an image inspect that is not a JSON object")
    tags = [t for t in attrs.get("RepoTags") or [] if isinstance(t, str)]
    image_id = attrs.get("Id")
    save_as = name if name in tags else tags[0] if tags else image_id if isinstance(image_id, str) else name
    conn = _connection(path)
    try:
        try:
            conn.request("GET", f"{api}/images/{quote(save_as, safe='/:')}/get")
        except OSError as exc:
            raise ImageError(f"docker save {name} failed: {exc}") from None
        if while_waiting is not None:
            with contextlib.suppress(Exception):  # a warm-up only: what it imports is imported again where needed
                while_waiting()
        try:
            resp = conn.getresponse()
            if resp.status != 200:
                raise ImageError(f"docker save {name} failed: the daemon answered {resp.status}: "
                                 f"{_message(resp.read(MAX_INSPECT))}")
            spool = _spool(iter(lambda: resp.read(CHUNK), b""), name, limits)
        except (OSError, http.client.HTTPException) as exc:
            raise ImageError(f"docker save {name} failed: {exc}") from None
    finally:
        conn.close()
    if resp.length:  # http.client ends a Content-Length body quietly when the connection drops
        spool.close()
        raise ImageError(f"docker save {name} failed: the stream ended {resp.length} bytes early")
    return _image(spool, name, tags, attrs, platform, limits)


def _get(path: str, url: str) -> tuple[int, bytes]:
    """Status and body (at most MAX_INSPECT + 1 bytes) of one request on its own connection."""
    conn = _connection(path)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        return resp.status, resp.read(MAX_INSPECT + 1)
    finally:
        conn.close()


def _api_prefix(path: str) -> str:
    """``/vX.Y`` as the docker CLI negotiates it: ``DOCKER_API_VERSION``, else the daemon's own version
    from ``/_ping`` (requests without a version prefix are deprecated); none if the daemon names none."""
    version = os.environ.get("DOCKER_API_VERSION", "").strip()
    if not version:
        conn = _connection(path)
        try:
            conn.request("GET", "/_ping")
            resp = conn.getresponse()
            resp.read(MAX_INSPECT)
            version = (resp.getheader("Api-Version") or "").strip()
        finally:
            conn.close()
    if re.fullmatch(r"1\.\d{1,3}", version):
        return f"/v{version}"
    if version and os.environ.get("DOCKER_API_VERSION", "").strip():
        raise ImageError(f"DOCKER_API_VERSION={version[:20]!r} is not an API version like 1.41")
    return ""


def _message(body: bytes) -> str:
    """The daemon's error message (``{"message": ...}``), short and printable."""
    try:
        doc = json.loads(body)
        text = doc.get("message") if isinstance(doc, dict) else None
    except ValueError:
        text = None
    text = text if isinstance(text, str) else body[:200].decode("utf-8", "replace")
    return text[:300].replace("\n", " ")


def _open_sdk(name: str, host: str | None, platform: Platform | None, limits: Limits) -> Image:
    import docker  # type: ignore[import-untyped]
    from docker.errors import DockerException, ImageNotFound, NotFound  # type: ignore[import-untyped]

    try:
        client = docker.DockerClient(base_url=host) if host else docker.from_env()
    except DockerException as exc:
        raise DaemonMissing(f"cannot reach the Docker daemon: {exc}") from None
    try:
        try:
            image = client.images.get(name)
        except (ImageNotFound, NotFound):
            raise DaemonMissing(f"the Docker daemon has no image {name!r}") from None
        except DockerException as exc:
            raise DaemonMissing(f"cannot reach the Docker daemon: {exc}") from None
        try:
            spool = _spool(image.save(named=True), name, limits)
        except DockerException as exc:
            raise ImageError(f"docker save {name} failed: {exc}") from None
        return _image(spool, name, list(image.tags), image.attrs, platform, limits)
    finally:
        client.close()


def _spool(chunks: Iterator[bytes], name: str, limits: Limits) -> IO[bytes]:
    """The whole stream in an unlinked file of a private directory, at most ``max_archive`` bytes."""
    private = tempfile.mkdtemp(prefix="mamori-image-")  # mode 0700
    try:
        spool = tempfile.TemporaryFile(dir=private)  # noqa: SIM115 - closed with the image
    finally:
        shutil.rmtree(private, ignore_errors=True)  # the open file stays readable, its name is gone
    try:
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > limits.max_archive:
                raise ImageError(f"docker save of {name} is larger than {limits.max_archive} bytes")
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _image(spool: IO[bytes], name: str, tags: list[str], attrs: dict[str, object], platform: Platform | None,
           limits: Limits) -> Image:
    want = name if name in tags else (tags[0] if tags else None)
    try:
        img = open_archive(spool, f"docker:{name}", platform, limits, want_tag=want, scheme="docker")
    except BaseException:
        spool.close()
        raise
    img.closers.append(spool.close)
    img.digest = _repo_digest(attrs, name)
    return img


def _repo_digest(attrs: dict[str, object], name: str) -> str | None:
    """The registry manifest digest the daemon recorded, if the image was pulled or pushed."""
    digests = attrs.get("RepoDigests")
    if not isinstance(digests, list):
        return None
    repo = name.split("@")[0].rsplit(":", 1)[0] if "/" in name or ":" in name else name
    for d in digests:
        if isinstance(d, str) and d.split("@")[0] == repo:
            return d.split("@", 1)[1]
    return None


__all__ = ["DaemonMissing", "open_daemon"]
