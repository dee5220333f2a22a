"""Which image a signature's ``docker-reference`` may vouch for: containers/image ``signedIdentity`` rules.

cosign writes the repository only and checks nothing but the digest and (in mamori) the
repository; containers/image's default, ``matchRepoDigestOrExact``, also binds the tag: a
signature for ``repo:v1`` does not admit the same digest pulled as ``repo:latest``.

- ``repository`` (``matchRepository``): same registry/repository.
- ``repo-digest-or-exact`` (``matchRepoDigestOrExact``): a digest-pinned reference needs the same
  repository; a tagged one needs exactly ``registry/repository:tag`` in the signature.
- ``exact`` (``matchExact``): the same tag, or the same digest, as the reference verified.
"""

from __future__ import annotations

from mamori.image.errors import ImageError
from mamori.image.reference import DockerRef, parse_docker_ref

RULES = ("repository", "repo-digest-or-exact", "exact")


def _explicit(reference: str) -> tuple[str, str | None, str | None] | None:
    """(registry/repository, tag as written or None, digest or None) of a signed reference."""
    try:
        d = parse_docker_ref(reference)
    except ImageError:
        return None
    name = reference.partition("@")[0]
    tagged = ":" in name.rsplit("/", 1)[-1]
    return f"{d.registry}/{d.repository}", d.tag if tagged else None, d.digest


def check(rule: str, signed: str, ref: DockerRef) -> str | None:
    """None when ``signed`` may vouch for ``ref`` (as the user wrote it: tag or digest), else the reason."""
    pinned = ref.digest is not None
    parts = _explicit(signed)
    want = f"{ref.registry}/{ref.repository}"
    if parts is None:
        return f"the signed identity {signed[:120]!r} is not an image reference"
    repo, tag, digest = parts
    if repo != want:
        return f"the signature is for repository {signed[:120]!r}, not {want}"
    if rule == "repository" or (rule == "repo-digest-or-exact" and pinned):
        return None
    if pinned:
        ok = digest is not None and digest == ref.digest and tag is None
        shown = f"{want}@{ref.digest}"
    else:
        ok = digest is None and tag == ref.tag
        shown = f"{want}:{ref.tag}"
    return None if ok else f"the signature is for {signed[:120]!r}, not {shown}"
