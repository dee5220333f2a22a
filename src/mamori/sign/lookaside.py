"""containers/image lookaside signature storage on a local directory (``file://`` lookaside).

Layout (containers/image docs/signature-protocols.md): ``<base>/<repository path>@<alg>=<hex>/
signature-<n>``, n = 1, 2, ... without gaps (readers stop at the first missing), ``=`` instead of
``:`` and no registry host in the path. That is where skopeo/podman read and write them when a
registries.d file says ``lookaside: file:///<base>``. Appending never overwrites: the next free
``signature-N`` is claimed with an exclusive link, so concurrent signers cannot lose a signature.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mamori.image.digest import parse as parse_digest
from mamori.image.errors import ImageError
from mamori.image.reference import DockerRef
from mamori.sign.errors import SignError

MAX_SIGNATURES = 256
MAX_SIZE = 64 * 1024


def base_dir(location: str) -> Path:
    """``DIR`` or ``file:///DIR`` (what registries.d's ``lookaside`` says) -> the directory."""
    if location.startswith("file://"):
        location = location[len("file://"):]
    elif "://" in location:
        raise SignError(f"lookaside {location[:80]!r}: only local directories (file://) are supported")
    if not location:
        raise SignError("lookaside: empty directory")
    return Path(location)


def signature_dir(base: Path, ref: DockerRef, digest: str) -> Path:
    try:
        alg, hexpart = parse_digest(digest)
    except ImageError as exc:
        raise SignError(str(exc)) from None
    # the repository was validated by the reference grammar: lower-case segments, no "." or ".." parts
    return base / f"{ref.repository}@{alg}={hexpart}"


def read_all(base: Path, ref: DockerRef, digest: str) -> list[bytes]:
    """Every stored signature for ``digest``, in order; [] when there are none."""
    folder = signature_dir(base, ref, digest)
    out: list[bytes] = []
    for n in range(1, MAX_SIGNATURES + 2):
        path = folder / f"signature-{n}"
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_SIZE + 1)
        except FileNotFoundError:
            return out
        except OSError as exc:
            raise SignError(f"lookaside: cannot read {path}: {exc.strerror}") from None
        if n > MAX_SIGNATURES:
            raise SignError(f"lookaside: more than {MAX_SIGNATURES} signatures in {folder}")
        if len(data) > MAX_SIZE:
            raise SignError(f"lookaside: {path} is larger than {MAX_SIZE} bytes")
        out.append(data)
    return out


def append(base: Path, ref: DockerRef, digest: str, blob: bytes) -> tuple[Path, bool]:
    """Store ``blob`` as the next ``signature-N``; (path, False) if the same bytes are already there."""
    folder = signature_dir(base, ref, digest)
    existing = read_all(base, ref, digest)
    for n, old in enumerate(existing, 1):
        if old == blob:
            return folder / f"signature-{n}", False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".signature-", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # signatures are public; readers may be other users (a registry's web server)
        try:
            for n in range(len(existing) + 1, MAX_SIGNATURES + 1):
                target = folder / f"signature-{n}"
                try:
                    os.link(tmp, target)  # fails if another signer claimed N first
                except FileExistsError:
                    continue
                return target, True
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise SignError(f"lookaside: cannot write to {folder}: {exc.strerror}") from None
    raise SignError(f"lookaside: {folder} already holds {MAX_SIGNATURES} signatures")
