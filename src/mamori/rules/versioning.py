"""CSA-3.1.3.1 and 3.1.1.2: every running container names one exact, identifiable version."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, Role, Severity, Workload
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.3.1"


@rule(id="MAM-IMG-001", title="Image tag is latest or missing", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.CONTAINER,
      remediation="Reference an immutable version: `image: repo:1.4.2@sha256:...`.",
      refs=["trivy:KSV-0013", "checkov:CKV_K8S_14", "polaris:tagNotSpecified", "kube-linter:latest-tag"])
def floating_tag(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """A floating tag means the version that runs is whatever the registry served that day."""
    ref = c.image.value
    if ref is None and c.role in (Role.CONTAINER, Role.INIT, Role.EPHEMERAL):
        yield hit(c.image, f"container {c.name!r} names no image")  # Compose `build:` services have none either
        return
    if c.role is Role.IMAGE or ref is None or not ref.floating:
        return
    why = "the `latest` tag" if ref.tag == "latest" else "no tag"
    yield hit(c.image, f"container {c.name!r} uses image {ref.raw!r} with {why}")


@rule(id="MAM-IMG-002", title="Image not pinned by digest", severity=Severity.LOW,
      controls=[C, "CSA-3.1.1.2"], scope=Scope.CONTAINER,
      remediation="Pin the image by digest (`@sha256:...`) so every environment runs the verified bytes.",
      refs=["checkov:CKV_K8S_43"])
def no_digest(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Tags can be moved; only a digest names the exact image that was scanned and signed."""
    ref = c.image.value
    if c.role is Role.IMAGE or ref is None or ref.digest is not None:
        return
    yield hit(c.image, f"container {c.name!r} image {ref.raw!r} is not pinned by digest")
