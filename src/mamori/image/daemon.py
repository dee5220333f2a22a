"""Images from the local Docker daemon (``docker:NAME``): the ``docker save`` stream of the SDK.

The stream is spooled, bounded, to an unlinked file in a private (0700) temporary directory and
read as a docker save archive; nothing is unpacked.
"""

from __future__ import annotations

import shutil
import tempfile

from mamori.image.archive import open_archive
from mamori.image.errors import ImageError
from mamori.image.image import Image
from mamori.image.limits import Limits
from mamori.image.reference import Platform


class DaemonMissing(ImageError):
    """The daemon is unreachable or does not have the image (a bare reference then tries a registry)."""


def open_daemon(name: str, platform: Platform | None, limits: Limits, host: str | None = None) -> Image:
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
        private = tempfile.mkdtemp(prefix="mamori-image-")  # mode 0700
        try:
            spool = tempfile.TemporaryFile(dir=private)  # noqa: SIM115 - closed with the image
        finally:
            shutil.rmtree(private, ignore_errors=True)  # the open file stays readable, its name is gone
        try:
            total = 0
            for chunk in image.save(named=True):
                total += len(chunk)
                if total > limits.max_archive:
                    raise ImageError(f"docker save of {name} is larger than {limits.max_archive} bytes")
                spool.write(chunk)
            spool.seek(0)
        except DockerException as exc:
            spool.close()
            raise ImageError(f"docker save {name} failed: {exc}") from None
        except BaseException:
            spool.close()
            raise
        tags = image.tags
        want = name if name in tags else (tags[0] if tags else None)
        img = open_archive(spool, f"docker:{name}", platform, limits, want_tag=want, scheme="docker")
        img.closers.append(spool.close)
        img.digest = _repo_digest(image.attrs, name)
        return img
    finally:
        client.close()


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
