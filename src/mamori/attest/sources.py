"""Predicates computed from the image itself: the SBOM (``mamori image sbom``) and the vuln scan.

Both read the image by the digest the attestation will name (``registry:NAME@sha256:...``), so the
predicate describes exactly the attested manifest.
"""

from __future__ import annotations

import json
from typing import Any

from mamori.attest import predicates
from mamori.attest.attestor import PredicateSource
from mamori.image.registry import RegistryOptions


def _load(pinned: str, options: RegistryOptions) -> Any:
    from mamori.image import load

    return load(f"registry:{pinned}", registry=options)


def sbom(options: RegistryOptions) -> PredicateSource:
    def make(pinned: str, _digest: str) -> dict[str, Any]:
        from mamori.image import sbom as sb

        loaded = _load(pinned, options)
        doc: dict[str, Any] = json.loads(sb.cyclonedx(loaded.image, loaded.inventory))
        return doc

    return make


def vuln(db_url: str | None, options: RegistryOptions) -> PredicateSource:
    def make(pinned: str, _digest: str) -> dict[str, Any]:
        import mamori.store.vulndb  # noqa: F401 - registers the advisory tables before open_db creates them
        from mamori.store.db import open_db
        from mamori.vuln.db import status
        from mamori.vuln.match import match_targets
        from mamori.vuln.targets import targets_from_inventory

        started = predicates.now()
        targets = targets_from_inventory(_load(pinned, options).inventory)
        engine = open_db(db_url)
        try:
            report = match_targets(engine, targets)
            srcs, _ = status(engine)
        finally:
            engine.dispose()
        db = [{"source": s.source, "newest_data": s.newest_modified, "last_import": s.last_import} for s in srcs]
        return predicates.vuln([f.as_dict() for f in report.findings], db, started, predicates.now())

    return make


def approval(approver: str, environment: str, criteria: list[str], options: RegistryOptions) -> PredicateSource:
    """An approval naming the attestations present for the digest when it was given (what it relied on)."""
    def make(pinned: str, digest: str) -> dict[str, Any]:
        from mamori.attest import layout, statement
        from mamori.image.reference import parse_docker_ref
        from mamori.sign.registry_push import PushRegistry

        reg = PushRegistry(parse_docker_ref(pinned), options)
        try:
            found = reg.manifest_if_any(layout.att_tag(digest))
        finally:
            reg.close()
        relied = [(x.predicate_type, x.digest) for x in (layout.parse_manifest(found[0]) if found else [])
                  if x.predicate_type not in (statement.APPROVAL, statement.PROMOTION)]
        return predicates.approval(approver, environment, criteria, relied)

    return make
