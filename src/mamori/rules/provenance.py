"""CSA-3.1.6.4: only approved images run - from allowed registries, never a stale node cache."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Container, ImageRef, Role, Severity, Workload
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.6.4"


def registry_allowed(ref: ImageRef, allowed: tuple[str, ...]) -> bool:
    """``allowed`` entries are registries (``ghcr.io``) or registry/path prefixes (``ghcr.io/acme``)."""
    full = f"{ref.registry}/{ref.repository}"
    for a in allowed:
        a = a.rstrip("/")
        if ref.registry == a or full == a or full.startswith(a + "/"):
            return True
    return False


@rule(id="MAM-IMG-003", title="Image from a registry outside the allowlist", severity=Severity.HIGH,
      controls=[C, "CSA-3.1.8.1"], scope=Scope.CONTAINER,
      remediation="Pull images only from the organisation's registries (policy `allow.registries`); "
                  "mirror and scan third-party images there first.",
      refs=["kubescape:C-0078", "hadolint:DL3026"])
def untrusted_registry(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Images from unvetted registries have not passed the organisation's acceptance criteria."""
    allowed = ctx.settings.allowed_registries
    ref = c.image.value
    if not allowed or ref is None:
        return
    if not registry_allowed(ref, allowed):
        yield hit(c.image, f"image {ref.raw!r} comes from {ref.registry}, which is not in the allowed registries")


@rule(id="MAM-IMG-004", title="Image pull policy can reuse an unverified cached image", severity=Severity.LOW,
      controls=[C], scope=Scope.CONTAINER,
      remediation="Set `imagePullPolicy: Always` or pin the image by digest, so admission checks see what runs.",
      refs=["checkov:CKV_K8S_15", "polaris:pullPolicyNotAlways"])
def pull_policy(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """With IfNotPresent a node runs whatever image it cached under that tag, verified or not."""
    if c.pull_policy is None or c.role is Role.IMAGE:
        return
    ref = c.image.value
    if ref is None or ref.digest is not None:
        return
    policy = c.pull_policy.value
    if policy is None:
        policy = "Always" if ref.floating else "IfNotPresent"
    if policy.lower() != "always":  # Compose spells it `always`, Kubernetes `Always`
        yield hit(c.pull_policy, f"{c.role.value} {c.name!r} may reuse a cached copy (pull policy {policy}) of an "
                                 f"image not pinned by digest")


@rule(id="MAM-IMG-005", title="Image not signed and approved", severity=Severity.HIGH,
      controls=[C, "CSA-3.1.8.1", "CSA-3.1.1.2"], scope=Scope.CONTAINER,
      remediation="Run only images whose digest was signed and approved (policy `trust`); promote the "
                  "verified digest instead of rebuilding or re-tagging it.",
      refs=["kubescape:C-0236", "kubescape:C-0237", "cis-docker:4.5"])
def untrusted_image(ctx: Context, w: Workload, c: Container) -> Iterator[Hit]:
    """Quiet unless an image-trust provider is configured: without one, trust cannot be judged."""
    ref = c.image.value
    if ctx.trust is None or ref is None or c.role is Role.IMAGE:
        return
    result = ctx.trust.check(ref)
    if not result.trusted:
        yield hit(c.image, f"image {ref.raw!r} is not trusted: {result.reason}")
