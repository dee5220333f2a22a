"""containers/image GPG "simple signing": sign an image into a lookaside directory, verify from it.

The payload is :mod:`mamori.sign.payload`'s JSON with ``critical.type`` "atomic container
signature" and the full reference (with its tag) as ``docker-reference`` — what skopeo
``copy --sign-by`` writes and what a ``policy.json`` ``signedBy`` requirement checks
(containers-signature.5). The blob is an inline OpenPGP signed message made by GnuPG.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from mamori import __version__
from mamori.image.errors import ImageError
from mamori.image.limits import Limits
from mamori.image.reference import DockerRef, parse_docker_ref
from mamori.image.registry import Registry, RegistryOptions
from mamori.sign import gpg, identity, lookaside, payload
from mamori.sign.errors import SignError


@dataclass(frozen=True, slots=True)
class GpgSignResult:
    digest: str  # the signed manifest digest
    identity: str  # the docker-reference in the payload
    fingerprint: str  # the key that signed
    path: Path  # the lookaside signature-N file
    appended: bool  # False when the same bytes were already stored


@dataclass(frozen=True, slots=True)
class GpgVerdict:
    """One lookaside signature: the signer's primary fingerprint when it counts, else None."""

    ok: bool
    signer: str | None
    reason: str


def sign_image(ref: str, key: str, options: RegistryOptions, lookaside_dir: str, *, home: str | None = None,
               passphrase_file: str | None = None, sign_identity: str | None = None) -> GpgSignResult:
    """Resolve ``ref`` to its manifest digest, sign the atomic payload with GnuPG, append it to the lookaside."""
    dref = parse_docker_ref(ref)
    claimed = sign_identity or str(dref)
    try:
        parse_docker_ref(claimed)
    except ImageError:
        raise SignError(f"--sign-identity {claimed[:120]!r} is not an image reference") from None
    base = lookaside.base_dir(lookaside_dir)
    reg = Registry(dref, options, Limits())
    try:
        _, _, digest = reg.manifest(dref.reference)  # explicit tag -> digest (checked when pinned)
    finally:
        reg.close()
    body = payload.build(claimed, digest, {"creator": f"mamori {__version__}", "timestamp": int(time.time())},
                         type_=payload.ATOMIC_TYPE)
    blob, fingerprint = gpg.sign(body, key, home=home, passphrase_file=passphrase_file)
    path, appended = lookaside.append(base, dref, digest, blob)
    return GpgSignResult(digest, claimed, fingerprint, path, appended)


def check_blob(blob: bytes, digest: str, dref: DockerRef, keyring: gpg.Keyring, *, rule: str | None,
               identities: tuple[str, ...] = ()) -> GpgVerdict:
    """Verify one stored signature for the manifest ``digest`` that ``dref`` resolved to."""
    try:
        verified = gpg.verify(blob, keyring)
        p = payload.parse(verified.plaintext, type_=payload.ATOMIC_TYPE)
    except SignError as exc:
        return GpgVerdict(False, None, str(exc))
    if p.digest != digest:
        return GpgVerdict(False, None, f"the payload names {p.digest[:80]}, not the verified manifest {digest}")
    if rule is not None:
        wrong = identity.check(rule, p.docker_reference, dref)
        if wrong:
            return GpgVerdict(False, None, wrong)
    fpr = verified.fingerprint
    if identities and not any(_same_key(i, fpr) for i in identities):
        return GpgVerdict(False, None, f"signed by GPG key {fpr}, which is not a required identity")
    return GpgVerdict(True, fpr, f"GPG signature verified with key {fpr} for {p.docker_reference[:120]}")


def _same_key(wanted: str, fingerprint: str) -> bool:
    """A full fingerprint, or a long (16 hex) key id, names the primary key."""
    w = wanted.upper().removeprefix("0X")
    return len(w) >= 16 and all(c in "0123456789ABCDEF" for c in w) and fingerprint.endswith(w)


def verify_lookaside(lookaside_dir: str, dref: DockerRef, digest: str, keyring: gpg.Keyring, *, rule: str | None,
                     identities: tuple[str, ...] = ()) -> list[GpgVerdict]:
    """A verdict per ``signature-N`` stored for ``digest``; [] when none is stored."""
    blobs = lookaside.read_all(lookaside.base_dir(lookaside_dir), dref, digest)
    return [check_blob(b, digest, dref, keyring, rule=rule, identities=identities) for b in blobs]
