"""What a rescan looks at: repositories and tags of a registry, images of a Docker daemon, running containers.

The registry walk uses the Distribution API (``/v2/_catalog``, ``/v2/<name>/tags/list``, following
``Link: <...>; rel="next"``) and resolves each tag to its manifest digest with one manifest GET:
no blob is downloaded while walking. Every list is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mamori.image.errors import ImageError
from mamori.image.limits import Limits
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import Registry, RegistryOptions, _bounded_body

MAX_LIST_BODY = 4 << 20
MAX_REPOSITORIES = 10_000
MAX_TAGS = 10_000
MAX_PAGES = 1_000
PAGE = 100
_LINK = re.compile(r'<([^>]{1,2048})>\s*;\s*rel="?next"?')


@dataclass
class Subject:
    """One image to rescan, keyed by digest; ``containers`` are the names of containers running it."""

    digest: str
    ref: str  # what mamori.image.load opens: registry:HOST/REPO@DIGEST or docker:ID
    names: list[str] = field(default_factory=list)  # tags / repo names it is known by
    containers: list[str] = field(default_factory=list)
    platform: str | None = None  # chosen from a multi-platform index: part of the stored key

    @property
    def key(self) -> str:
        """The store key: one index digest holds one inventory per platform."""
        return f"{self.digest}#{self.platform}" if self.platform else self.digest


def parse_registry_target(text: str) -> tuple[str, str]:
    """``registry:HOST[/PREFIX]`` (or plain ``HOST[/PREFIX]``) → (host, repository prefix)."""
    t = text.removeprefix("registry:").strip().strip("/")
    host, _, prefix = t.partition("/")
    if not host or len(t) > 1024 or any(c.isspace() for c in t):
        raise ImageError(f"invalid registry target {text[:100]!r} (expected registry:HOST[/REPO-PREFIX])")
    return host, prefix


def _pages(reg: Registry, path: str, field_name: str, limit: int) -> Iterator[str]:
    """The strings under ``field_name`` across every page of a list endpoint."""
    count = 0
    for _ in range(MAX_PAGES):
        resp = reg._send("GET", path, {"Accept": "application/json"}, stream=True)
        try:
            if resp.status_code != 200:
                raise reg._error(resp, path.split("?")[0])
            body = _bounded_body(resp, MAX_LIST_BODY, path.split("?")[0])
        finally:
            resp.close()
        try:
            doc: Any = json.loads(body)
        except ValueError:
            raise ImageError(f"registry {reg.host}: {path.split('?')[0]} is not JSON") from None
        items = doc.get(field_name) if isinstance(doc, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):
                count += 1
                if count > limit:
                    raise ImageError(f"registry {reg.host}: more than {limit} entries in {path.split('?')[0]}")
                yield item
        m = _LINK.search(resp.headers.get("Link", ""))
        if not m:
            return
        nxt = urlsplit(m.group(1))
        if nxt.netloc and nxt.netloc != urlsplit(reg.base).netloc:
            raise ImageError(f"registry {reg.host}: pagination link leaves the registry")
        path = nxt.path + (f"?{nxt.query}" if nxt.query else "")
        if not path.startswith("/v2/"):
            raise ImageError(f"registry {reg.host}: unexpected pagination link {m.group(1)[:200]}")
    raise ImageError(f"registry {reg.host}: more than {MAX_PAGES} pages")


def registry_subjects(target: str, options: RegistryOptions, limits: Limits | None = None,
                      errors: list[str] | None = None) -> list[Subject]:
    """Every tag of every repository under the prefix, grouped by manifest digest.

    A repository or tag that cannot be read goes to ``errors`` (when given) and the walk goes on;
    an unreachable registry or catalog raises :class:`ImageError`.
    """
    host, prefix = parse_registry_target(target)
    limits = limits or Limits()
    probe = Registry(parse_docker_ref(f"{host}/{prefix or 'library'}/catalog-probe:latest"), options, limits)
    try:
        repos = [r for r in _pages(probe, f"/v2/_catalog?n={PAGE}", "repositories", MAX_REPOSITORIES)
                 if not prefix or r == prefix or r.startswith(prefix + "/")]
    finally:
        probe.close()
    by_digest: dict[str, Subject] = {}
    for repo in sorted(set(repos)):
        try:
            reg = Registry(parse_docker_ref(f"{host}/{repo}:latest"), options, limits)
        except ImageError as exc:
            _note(errors, exc)
            continue
        try:
            for tag in sorted(set(_pages(reg, f"/v2/{repo}/tags/list?n={PAGE}", "tags", MAX_TAGS))):
                try:
                    _, _, digest = reg.manifest(tag)
                except ImageError as exc:
                    _note(errors, exc)
                    continue
                s = by_digest.setdefault(digest, Subject(digest, f"registry:{host}/{repo}@{digest}"))
                s.names.append(f"{host}/{repo}:{tag}")
        except ImageError as exc:
            _note(errors, exc)
        finally:
            reg.close()
    return list(by_digest.values())


def _note(errors: list[str] | None, exc: ImageError) -> None:
    if errors is None:
        raise exc
    errors.append(str(exc))


def docker_subjects(client: Any, all_images: bool, running: bool) -> list[Subject]:
    """Images of the daemon (``all_images``) and/or those of running containers, with the containers' names.

    Keyed by the image id (config digest): what the daemon knows without a registry.
    """
    by_id: dict[str, Subject] = {}
    if all_images:
        for img in client.images.list():
            iid = str(img.id)
            by_id[iid] = Subject(iid, f"docker:{iid}", sorted(str(t) for t in img.tags or []))
    for c in client.containers.list():  # running only
        iid = str(c.attrs.get("Image") or "")
        if not iid.startswith("sha256:"):
            continue
        if iid not in by_id:
            if not running:
                continue
            by_id[iid] = Subject(iid, f"docker:{iid}", [str(c.attrs.get("Config", {}).get("Image") or iid)])
        by_id[iid].containers.append(str(c.name))
    return list(by_id.values())


def repo_digests(client: Any) -> dict[str, list[str]]:
    """Manifest digest → names of running containers, through the daemon's RepoDigests (pulled/pushed images)."""
    out: dict[str, list[str]] = {}
    for c in client.containers.list():
        try:
            attrs = client.images.get(c.attrs.get("Image")).attrs
        except Exception:  # noqa: BLE001 - an image removed under a running container: no digest to map
            continue
        for rd in attrs.get("RepoDigests") or []:
            if isinstance(rd, str) and "@" in rd:
                out.setdefault(rd.split("@", 1)[1], []).append(str(c.name))
    return out
