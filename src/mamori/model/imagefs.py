"""What an image's layers contain, reduced to the facts the image-content rules judge.

Built in one pass over the layers (:mod:`mamori.image.contents`) or read from a snapshot
document (``kind: ImageContents``, the rule fixtures). It holds paths, modes, sizes and
redacted secret fingerprints - never a file's bytes or a secret's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.model.core import Loc
from mamori.model.resources import Meta

FILE, DIR, SYMLINK = "file", "dir", "symlink"


@dataclass(frozen=True, slots=True)
class ImageFile:
    """One path of the final filesystem that some rule may care about (``mode`` is ``& 0o7777``)."""

    path: str
    kind: str  # FILE, DIR, SYMLINK
    layer: int
    size: int
    mode: int
    loc: Loc
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A secret found in a file of a layer: detector and redacted fingerprint only.

    ``removed`` is True when a later layer deleted or replaced the file: the secret is gone
    from the final filesystem but still in the layer blob that anyone who pulls can read.
    """

    path: str
    layer: int
    detector: str
    title: str
    fingerprint: str
    confidence: str  # high, medium, low
    loc: Loc
    line: int = 0
    removed: bool = False


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer: the bytes of the regular files it adds and the step that made it."""

    index: int
    size: int
    files: int
    created_by: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class ImageContents:
    """The contents of one image.

    ``os_packages`` names the package database found (``dpkg``, ``apk``, ``rpm``) or is empty;
    ``distroless`` is True for distroless-style images (``/var/lib/dpkg/status.d`` without a
    ``status`` file). Both feed the "runtime image" heuristic of the rules.
    """

    meta: Meta
    name: str
    files: tuple[ImageFile, ...] = ()
    secrets: tuple[SecretHit, ...] = ()
    layers: tuple[LayerInfo, ...] = ()
    os_id: str | None = None
    os_packages: str = ""
    distroless: bool = False
    runtime_label: bool = False  # a label or annotation says the image is a minimal runtime image
    command_shell: bool = False  # the image's Entrypoint/Cmd starts a shell: it is meant to give one
    total_files: int = 0

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)
