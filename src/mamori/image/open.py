"""One entry point from a reference string to an Image, whatever the source."""

from __future__ import annotations

from collections.abc import Callable

from mamori.image.daemon import DaemonMissing, open_daemon
from mamori.image.errors import ImageError
from mamori.image.image import Image
from mamori.image.limits import Limits
from mamori.image.options import RegistryOptions
from mamori.image.reference import Platform, parse_source


def open_image(ref: str, platform: Platform | None = None, limits: Limits | None = None,
               registry: RegistryOptions | None = None, docker_host: str | None = None,
               while_waiting: Callable[[], None] | None = None) -> Image:
    """``docker:``, ``docker-archive:``, ``oci-dir:``, ``registry:``, or bare (daemon, then registry).

    ``while_waiting``: a warm-up (imports) the daemon source runs while the daemon prepares its save.
    """
    limits = limits or Limits()
    registry = registry or RegistryOptions()
    src = parse_source(ref)
    if src.scheme == "docker":
        return open_daemon(src.target, platform, limits, docker_host, while_waiting)
    if src.scheme == "docker-archive":
        from mamori.image.archive import open_archive

        return open_archive(src.target, f"docker-archive:{src.target}", platform, limits)
    if src.scheme == "oci-dir":
        from mamori.image.ocidir import open_oci_dir

        return open_oci_dir(src.target, platform, limits)
    if src.scheme == "registry":
        from mamori.image.registry import open_registry

        return open_registry(src.target, platform, limits, registry)
    try:
        return open_daemon(src.target, platform, limits, docker_host, while_waiting)
    except DaemonMissing as first:
        try:
            from mamori.image.registry import open_registry

            return open_registry(src.target, platform, limits, registry)
        except ImageError as second:
            raise ImageError(f"{ref}: not in the Docker daemon ({first}); registry: {second}") from None
