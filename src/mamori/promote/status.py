"""``mamori status REF``: which digest each environment holds under REF's tag (CSA-3.1.1.2: the same everywhere)."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.image.errors import ImageError
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.promote.copy import Repo
from mamori.promote.environments import Environment
from mamori.promote.promote import env_options


@dataclass(frozen=True, slots=True)
class EnvStatus:
    environment: str
    reference: str
    digest: str | None  # None: the tag is not there
    error: str | None = None


def status(tag: str, environments: tuple[Environment, ...], options: RegistryOptions) -> list[EnvStatus]:
    out = []
    for env in environments:
        ref = f"{env.repository}:{tag}"
        try:
            reg = Repo(parse_docker_ref(ref), env_options(env, options))
        except ImageError as exc:
            out.append(EnvStatus(env.name, ref, None, str(exc)))
            continue
        try:
            found = reg.manifest_any(tag)
            out.append(EnvStatus(env.name, ref, found[2] if found else None))
        except ImageError as exc:
            out.append(EnvStatus(env.name, ref, None, str(exc)))
        finally:
            reg.close()
    return out


def consistent(rows: list[EnvStatus]) -> bool:
    """True when every environment that holds the tag holds the same digest."""
    return len({r.digest for r in rows if r.digest}) <= 1


def tag_of(ref: str) -> str:
    """``app:v1`` / ``reg/app:v1`` / ``v1`` -> ``v1`` (a digest-only reference has no tag to compare)."""
    if "/" not in ref and ":" not in ref and "@" not in ref:
        return ref
    d = parse_docker_ref(ref)
    if d.tag is None:
        raise ImageError(f"{ref}: give a tag; environments are compared by what their tag points to")
    return d.tag
