"""``mamori promote REF --to ENV``: gates for the exact digest, copy by digest, signed promotion attestation."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mamori.attest import predicates, statement
from mamori.attest.attestor import attest_image
from mamori.image.reference import parse_docker_ref
from mamori.image.registry import RegistryOptions
from mamori.promote import gates as gatemod
from mamori.promote.copy import CopyStats, Repo, copy_image
from mamori.promote.environments import Environment, of_repository
from mamori.sign.signer import Signer


@dataclass(frozen=True, slots=True)
class PromoteResult:
    source: str
    target: str  # registry/repository[:tag]@digest
    digest: str
    environment: str
    from_env: str | None
    gates: tuple[gatemod.GateResult, ...]
    promoted: bool
    stats: CopyStats | None = None
    attestation: str | None = None

    @property
    def missing(self) -> list[gatemod.GateResult]:
        return [g for g in self.gates if not g.ok]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "digest": self.digest, "environment": self.environment,
                "from": self.from_env, "promoted": self.promoted,
                "gates": [{"gate": g.gate, "passed": g.ok, "reason": g.reason} for g in self.gates],
                "copied": None if self.stats is None else {
                    "manifests": self.stats.manifests, "blobs_mounted": self.stats.mounted,
                    "blobs_streamed": self.stats.streamed, "blobs_present": self.stats.present,
                    "artifacts": self.stats.artifacts},
                "attestation": self.attestation}


def env_options(env: Environment | None, default: RegistryOptions) -> RegistryOptions:
    if env is None or not (env.insecure or env.ca_file):
        return default
    return replace(default, insecure=env.insecure or default.insecure, ca_file=env.ca_file or default.ca_file)


def promote(ref: str, target: Environment, environments: tuple[Environment, ...], signer: Signer,
            options: RegistryOptions, *, cert_pem: str | None = None, chain_pem: str | None = None,
            tag: str | None = None) -> PromoteResult:
    """Refuses (``promoted=False``, every failing gate listed) unless all gates pass for the digest."""
    dref = parse_docker_ref(ref)
    source_repo = f"{dref.registry}/{dref.repository}"
    if source_repo == target.repository:
        from mamori.image.errors import ImageError

        raise ImageError(f"{ref} is already in {target.name}'s repository {target.repository}")
    src_env = of_repository(environments, source_repo)
    src_opts, dst_opts = env_options(src_env, options), env_options(target, options)
    src = Repo(dref, src_opts)
    try:
        _, _, digest = src.manifest(dref.reference)  # the one explicit tag -> digest resolution
        pinned = f"{source_repo}@{digest}"
        results = tuple(gatemod.check(pinned, target, src_opts))
        keep_tag = tag or dref.tag
        dest = f"{target.repository}{':' + keep_tag if keep_tag else ''}@{digest}"
        if any(not g.ok for g in results):
            return PromoteResult(ref, dest, digest, target.name, src_env.name if src_env else None, results, False)
        dst = Repo(parse_docker_ref(f"{target.repository}@{digest}"), dst_opts)
        try:
            stats = copy_image(src, dst, digest, keep_tag)
        finally:
            dst.close()
    finally:
        src.close()
    gate_list = [(g.gate, g.reason) for g in results] or [("none", f"{target.name} declares no gates")]
    pred = predicates.promotion(source_repo, target.repository, target.name, digest, gate_list)
    if src_env is not None:
        pred["fromEnvironment"] = src_env.name
    att = attest_image(f"{target.repository}@{digest}", statement.PROMOTION, pred, signer, dst_opts,
                       cert_pem=cert_pem, chain_pem=chain_pem, digest=digest)
    return PromoteResult(ref, dest, digest, target.name, src_env.name if src_env else None, results, True, stats,
                         att.att_ref)


def audit_entry(result: PromoteResult, who: str) -> dict[str, Any]:
    """The audit-log entry (``mamori.audit``) recording a promotion decision, granted or refused."""
    return {"type": "image.promotion", "image": result.target[:512],
            "payload": {"environment": result.environment, "from": result.from_env, "source": result.source,
                        "digest": result.digest, "promoted": result.promoted, "by": who,
                        "gates": [{"gate": g.gate, "passed": g.ok, "reason": g.reason[:500]} for g in result.gates]}}
