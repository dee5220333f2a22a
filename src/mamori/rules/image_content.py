"""Image contents: tools a runtime image does not need, risky modes, secrets and leftovers in layers.

CSA-3.1.6.3 / 3.1.8.3 ask for images with only what the application needs; CSA-3.1.10.1
forbids secrets baked into images - a file deleted by a later layer still sits in the earlier
layer blob that every pull downloads.

"Runtime image" heuristic (shells and package managers): an image is judged as a runtime
image when it says so (distroless ``/var/lib/dpkg/status.d`` without a ``status`` file, or a
``distroless``/``runtime`` base-name label) or when it has neither an OS package database
nor ``/etc/os-release`` (an application built FROM scratch). A distribution image (Debian,
Alpine, Fedora... with its package database) is a base OS image where a shell and a package
manager are expected, and an image whose command *is* a shell is meant to give one; neither
is flagged. Compilers and debuggers are flagged in any image whose command is not a shell.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from mamori.model import Severity
from mamori.model.imagefs import (
    BIN_DIRS,
    CACHE_DIRS,
    CACHE_IGNORED,
    DIR,
    FILE,
    PACKAGE_MANAGERS,
    SHELLS,
    ImageContents,
    ImageFile,
    build_tool,
    credential_file,
)
from mamori.rules.registry import Context, Hit, Scope, hit, rule

MINIMAL = ["CSA-3.1.6.3", "CSA-3.1.8.3"]
SECRETS = ["CSA-3.1.10.1"]
PRIV = "CSA-3.1.2.3"
MAX_NAMED = 5
BIG_IMAGE = 1 << 30
MANY_LAYERS = 40


def _in_bin(f: ImageFile) -> bool:
    return f.kind in (FILE, "symlink") and posixpath.dirname(f.path) in BIN_DIRS


def _names(files: list[ImageFile]) -> str:
    shown = ", ".join(f.path for f in files[:MAX_NAMED])
    return shown + (f" and {len(files) - MAX_NAMED} more" if len(files) > MAX_NAMED else "")


def interactive(img: ImageContents) -> bool:
    """The image's own command is a shell: the image is meant to give one."""
    return img.command_shell


def runtime_image(img: ImageContents) -> bool:
    """See the module docstring: distroless, labelled minimal, or built FROM scratch without an OS."""
    if interactive(img):
        return False
    return img.distroless or img.runtime_label or (not img.os_packages and img.os_id is None)


@rule(id="MAM-IMGFS-001", title="Shell in a runtime image", severity=Severity.LOW, controls=MINIMAL,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Build the final stage FROM a distroless or scratch base and copy only the application into it; "
                  "debug with an ephemeral debug container instead of a shell in the image.",
      refs=["cis-docker:4.3"])
def shell_present(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """A shell in an image that otherwise carries no OS is what turns a code-execution bug into an
    interactive foothold; distribution base images and images whose command is a shell are not
    judged (see the heuristic in the module docstring)."""
    if not runtime_image(img):
        return
    found = [f for f in img.files if _in_bin(f) and posixpath.basename(f.path) in SHELLS]
    if found:
        yield hit(found[0].loc, f"the runtime image {img.name} contains a shell: {_names(found)}")


@rule(id="MAM-IMGFS-002", title="Package manager in a runtime image", severity=Severity.INFO, controls=MINIMAL,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Install packages in a builder stage and copy only their results into the final image.",
      refs=["cis-docker:4.3"])
def package_manager_present(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """A package manager lets an intruder install tools at run time; a runtime image does not need one."""
    if not runtime_image(img):
        return
    found = [f for f in img.files if _in_bin(f) and posixpath.basename(f.path) in PACKAGE_MANAGERS]
    if found:
        yield hit(found[0].loc, f"the runtime image {img.name} contains a package manager: {_names(found)}")


@rule(id="MAM-IMGFS-003", title="Compiler or debugger in the final image", severity=Severity.LOW, controls=MINIMAL,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Compile and debug in a builder stage (multi-stage build); copy only the built artifacts "
                  "into the final image.",
      refs=["cis-docker:4.3"])
def build_tools_present(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """Compilers and debuggers (gdb, strace) let an intruder build exploits or inspect other
    processes; images whose command is a shell (toolchain images) are not judged."""
    if interactive(img):
        return
    found = [f for f in img.files if _in_bin(f) and build_tool(posixpath.basename(f.path))]
    if found:
        yield hit(found[0].loc, f"the image {img.name} contains build or debug tools: {_names(found)}")


@rule(id="MAM-IMGFS-004", title="setuid or setgid file in the image", severity=Severity.LOW,
      controls=[PRIV, "CSA-3.1.6.3"], scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Remove the bits in the build (`RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +`) and "
                  "run containers with `no-new-privileges`.",
      refs=["dockle:CIS-DI-0008", "cis-docker:4.8"])
def setuid_files(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """A setuid-root binary is a way from the container user back to root inside the container."""
    found = [f for f in img.files if f.kind == FILE and f.mode & 0o6000]
    for f in found[:MAX_NAMED * 4]:
        bits = "+".join(b for b, m in (("setuid", 0o4000), ("setgid", 0o2000)) if f.mode & m)
        yield hit(f.loc, f"{f.path} is {bits} (mode {f.mode:04o}, owner {f.uid}:{f.gid}, layer {f.layer})")


@rule(id="MAM-IMGFS-005", title="World-writable directory without the sticky bit", severity=Severity.LOW,
      controls=[PRIV, "CSA-3.1.6.3"], scope=Scope.RESOURCE, types=[ImageContents],
      remediation="`chmod o-w DIR` or, for a shared scratch directory, `chmod 1777 DIR` (sticky bit).",
      refs=[])
def world_writable(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """Any process may replace or delete other users' files in such a directory (the sticky bit
    prevents it, which is why /tmp is 1777)."""
    for f in [f for f in img.files if f.kind == DIR and f.mode & 0o002 and not f.mode & 0o1000][:MAX_NAMED * 4]:
        yield hit(f.loc, f"directory {f.path} is world-writable without the sticky bit (mode {f.mode:04o})")


@rule(id="MAM-IMGFS-006", title="Credential file in the image", severity=Severity.HIGH, controls=SECRETS,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Do not COPY credential files into the image (add them to .dockerignore); use BuildKit "
                  "`RUN --mount=type=secret` during the build and a secret store at run time; rotate the credential.",
      refs=["dockle:CIS-DI-0010", "cis-docker:4.10"])
def credential_files(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """Files whose name says they hold credentials (cloud, registry, git, npm, SSH keys, .env) are
    readable by everyone who can pull the image."""
    for f in [f for f in img.files if f.kind == FILE and credential_file(f.path)][:MAX_NAMED * 4]:
        yield hit(f.loc, f"{f.path} ({f.size} bytes, layer {f.layer}) is a credential file")


@rule(id="MAM-IMGFS-007", title="Secret in a file of the image", severity=Severity.HIGH, controls=SECRETS,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Remove the secret from the image and rotate it; pass secrets at run time from a secret store.",
      refs=["dockle:CIS-DI-0010", "cis-docker:4.10"])
def secret_in_file(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """A credential of a known format inside a file; only its redacted fingerprint is reported."""
    for s in [s for s in img.secrets if not s.removed][:MAX_NAMED * 8]:
        where = f"{s.path}:{s.line}" if s.line else s.path
        yield hit(s.loc, f"{s.title} in {where} (layer {s.layer}; {s.fingerprint})")


@rule(id="MAM-IMGFS-008", title="Secret deleted by a later layer is still in the image", severity=Severity.HIGH,
      controls=SECRETS, scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Rebuild without ever adding the secret (a later `rm` does not remove it from the earlier "
                  "layer); use `RUN --mount=type=secret`, squash nothing - and rotate the credential now.",
      refs=["dockle:CIS-DI-0010", "cis-docker:4.10"])
def removed_secret(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """Deleting a file in a later layer only hides it: the earlier layer blob, which every pull
    downloads, still holds it."""
    for s in [s for s in img.secrets if s.removed][:MAX_NAMED * 8]:
        yield hit(s.loc, f"{s.title} in {s.path} of layer {s.layer}, deleted or replaced by a later layer but "
                         f"still in that layer's blob ({s.fingerprint})")


@rule(id="MAM-IMGFS-009", title="Package cache left in the image", severity=Severity.LOW, controls=MINIMAL,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Clean in the same RUN step (`apt-get install ... && rm -rf /var/lib/apt/lists/*`, "
                  "`apk add --no-cache`, `pip install --no-cache-dir`, `npm cache clean --force`) or use cache mounts.",
      refs=["dockle:DKL-DI-0005", "dockle:DKL-DI-0004", "dockle:DKL-LI-0003"])
def package_caches(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """Caches make the image bigger and keep package indexes and archives nobody runs."""
    for root, what in CACHE_DIRS:
        found = [f for f in img.files if f.kind == FILE and f.path.startswith(root + "/")
                 and posixpath.basename(f.path) not in CACHE_IGNORED]
        if found:
            size = sum(f.size for f in found)
            yield hit(found[0].loc, f"{what} left in {root}: {len(found)} file(s), {size} bytes")


@rule(id="MAM-IMGFS-010", title="Large image or many layers", severity=Severity.INFO, controls=MINIMAL,
      scope=Scope.RESOURCE, types=[ImageContents],
      remediation="Use a smaller base, a multi-stage build and fewer, combined RUN steps; start with the biggest "
                  "layers named in the message.",
      refs=[])
def image_size(ctx: Context, img: ImageContents) -> Iterator[Hit]:
    """Size and layer count are where unneeded components show first; the biggest layers and the
    steps that made them say where to cut (over 1 GiB of files or 40 layers)."""
    size, count = img.size, len(img.layers)
    if size < BIG_IMAGE and count < MANY_LAYERS:
        return
    biggest = sorted(img.layers, key=lambda layer: -layer.size)[:3]
    top = "; ".join(f"layer {layer.index}: {layer.size} bytes ({layer.created_by[:80] or '?'})" for layer in biggest)
    yield hit(img.meta.loc, f"the image {img.name} has {count} layers and {size} bytes of files; biggest: {top}")
