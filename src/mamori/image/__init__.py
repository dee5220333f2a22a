"""Read container images (registry, daemon, docker save archive, OCI layout) without unpacking them.

``load(ref)`` is the seam for everything that looks inside an image: it returns the verified
image, its merged filesystem view and its package inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mamori.image.catalog import CAPTURE, Inventory, catalog
from mamori.image.errors import ImageError
from mamori.image.fsview import Capture, FsView, Probe
from mamori.image.image import Image
from mamori.image.limits import Limits
from mamori.image.open import open_image
from mamori.image.options import RegistryOptions
from mamori.image.reference import Platform, parse_platform


@dataclass
class Loaded:
    image: Image
    view: FsView
    inventory: Inventory


def load(ref: str, platform: Platform | None = None, limits: Limits | None = None,
         registry: RegistryOptions | None = None, docker_host: str | None = None,
         extra: Capture | None = None, while_waiting: Callable[[], None] | None = None) -> Loaded:
    """Open ``ref``, stream its layers once into a view, catalogue it; the image is closed on return.

    ``extra`` lets a caller (e.g. hygiene rules) keep more file contents or run more probes in the
    same single pass over the layers. ``while_waiting``: see :func:`open_image`.
    """
    limits = limits or Limits()
    capture = CAPTURE
    if extra is not None:
        keep_a, keep_b = CAPTURE.keep, extra.keep
        capture = Capture(lambda p, s: keep_a(p, s) or keep_b(p, s), CAPTURE.probes + extra.probes,
                          extra.on_layer)
    with open_image(ref, platform, limits, registry, docker_host, while_waiting) as image:
        view = image.view(capture, limits)
    return Loaded(image, view, catalog(view))


__all__ = ["Capture", "FsView", "Image", "ImageError", "Inventory", "Limits", "Loaded", "Probe",
           "RegistryOptions", "load", "open_image", "parse_platform"]
