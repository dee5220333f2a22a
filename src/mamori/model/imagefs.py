"""What an image's layers contain, reduced to the facts the image-content rules judge.

Built in one pass over the layers (:mod:`mamori.image.contents`) or read from a snapshot
document (``kind: ImageContents``, the rule fixtures). It holds paths, modes, sizes and
redacted secret fingerprints - never a file's bytes or a secret's value.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from mamori.model.core import Loc
from mamori.model.resources import Meta

FILE, DIR, SYMLINK = "file", "dir", "symlink"

# --- what paths are (shared by the collector and the rules) ----------------------------------
BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/usr/local/go/bin")
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"})
PACKAGE_MANAGERS = frozenset({"apt", "apt-get", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "tdnf",
                              "pip", "pip3", "npm", "yarn", "gem"})
_COMPILER = re.compile(r"(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|tcc|rustc|cargo|javac|go|make)(?:-\d+(?:\.\d+)*)?")
_DEBUGGER = re.compile(r"(?:gdb|strace|ltrace|lldb|valgrind)(?:-\d+(?:\.\d+)*)?")
CREDENTIAL_SUFFIXES = (
    "/.aws/credentials", "/.docker/config.json", "/.git-credentials", "/.npmrc", "/.pypirc", "/.netrc", "/.pgpass",
    "/.ssh/id_rsa", "/.ssh/id_dsa", "/.ssh/id_ecdsa", "/.ssh/id_ed25519", "/.kube/config",
)
CREDENTIAL_NAMES = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".env", ".git-credentials", ".netrc",
                              ".pgpass"})
CACHE_DIRS = (
    ("/var/cache/apt/archives", "apt package archives"),
    ("/var/lib/apt/lists", "apt package lists"),
    ("/var/cache/apk", "apk cache"),
    ("/var/cache/yum", "yum cache"),
    ("/var/cache/dnf", "dnf cache"),
    ("/root/.cache/pip", "pip cache"),
    ("/root/.npm/_cacache", "npm cache"),
    ("/usr/local/share/.cache/yarn", "yarn cache"),
)
CACHE_IGNORED = frozenset({"lock", "partial", ".placeholder"})


def credential_file(path: str) -> bool:
    base = posixpath.basename(path)
    return (path.endswith(CREDENTIAL_SUFFIXES) or base in CREDENTIAL_NAMES
            or (base.startswith(".env.") and base not in (".env.example", ".env.sample", ".env.template")))


def build_tool(base: str) -> bool:
    """A compiler, build tool or debugger by its file name."""
    return bool(_COMPILER.fullmatch(base) or _DEBUGGER.fullmatch(base))


def interesting_tool(path: str) -> bool:
    """An executable in a bin directory that some image-content rule names."""
    base = posixpath.basename(path)
    return posixpath.dirname(path) in BIN_DIRS and (base in SHELLS or base in PACKAGE_MANAGERS or build_tool(base))


def cache_root(path: str) -> str | None:
    for root, _ in CACHE_DIRS:
        if path.startswith(root + "/"):
            return root
    return None


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
