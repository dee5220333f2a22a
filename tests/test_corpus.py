"""Real-world Dockerfiles and Compose files (../shared/corpus) scan without an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mamori.policy.engine import decide
from mamori.scan import load_paths

SHARED = Path(os.environ.get("MAMORI_SHARED", Path(__file__).parent.parent.parent / "shared"))
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():  # under CI=true a missing corpus fails; elsewhere it is skipped
        missing = f"no shared corpus at {CORPUS} (set MAMORI_SHARED)"
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(missing)
    return CORPUS


def test_every_corpus_file_scans_without_error(corpus: Path) -> None:
    files = sorted(p for p in (corpus / "dockerfiles").iterdir()) + sorted((corpus / "compose").iterdir())
    assert len(files) >= 60
    scan = load_paths([str(corpus / "dockerfiles"), str(corpus / "compose")])
    decision = decide(scan)
    assert not decision.errors, decision.errors[:5]
    assert len(scan.files) == len(files)
    by_source = {f.source for f in decision.findings}
    assert by_source == {"dockerfile", "compose"}


def test_corpus_findings_are_plausible(corpus: Path) -> None:
    decision = decide(load_paths([str(corpus)]))
    by_file: dict[str, set[str]] = {}
    for f in decision.findings:
        by_file.setdefault(os.path.basename(f.location.file), set()).add(f.rule_id)
    # portainer mounts the Docker socket; the DoH pihole example runs with NET_ADMIN
    assert "MAM-HOST-003" in by_file["portainer.yaml"]
    assert "MAM-CAP-003" in by_file.get("pihole-cloudflared-DoH.yaml", set()) | by_file.get("wireguard.yaml", set())
    # awesome-compose images never drop capabilities and mostly run as root
    assert sum("MAM-CAP-001" in ids for ids in by_file.values()) >= 20
    # every finding points at a line inside its file
    for f in decision.findings:
        n = Path(f.location.file).read_text(encoding="utf-8").count("\n") + 1
        assert 1 <= f.location.line <= n, f
