"""``environments:`` in mamori.yaml: parsed into frozen dataclasses; every mistake names file and line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mamori.attest import statement
from mamori.policy.config import ConfigError, load_policy

GOOD = """\
environments:
  dev:
    repository: 127.0.0.1:5000/dev/app
  prod:
    repository: 127.0.0.1:5000/prod/app
    insecure: true
    gates:
      signers: {keys: [keys/build.pub], required: [build]}
      attestations: [sbom, vuln, "https://example.com/custom/v1"]
      max-severity: High
      approval: {signers: [qa@acme.test]}
      attesters: {pki: pki}
"""


def test_environments_parse(tmp_path: Path) -> None:
    (tmp_path / "mamori.yaml").write_text(GOOD)
    envs = load_policy(str(tmp_path / "mamori.yaml")).environments
    assert [e.name for e in envs] == ["dev", "prod"]
    dev, prod = envs
    assert dev.repository == "127.0.0.1:5000/dev/app" and dev.gates.empty() and not dev.insecure
    g = prod.gates
    assert prod.insecure and g.signers is not None and g.signers.required == ("build",)
    assert g.signers.keys == (str(tmp_path / "keys/build.pub"),)  # relative to the policy file
    assert g.attesters is not None and g.attesters.pki == str(tmp_path / "pki")
    assert g.attestations == (statement.SBOM, statement.VULN, "https://example.com/custom/v1")
    assert g.max_severity == "high" and g.approval and g.approvers == ("qa@acme.test",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("text, line, msg", [
    ("environments:\n  prod:\n    repo: x\n", 3, "unknown key 'repo'"),
    ("environments:\n  prod:\n    insecure: true\n", 2, "needs a `repository`"),
    ("environments:\n  prod:\n    repository: 127.0.0.1:5000/app:v1\n", 3, "without tag"),
    ("environments:\n  Prod!:\n    repository: r.example/app\n", 2, "environment names"),
    ("environments:\n  prod:\n    repository: r.example/app\n    gates:\n      max-severity: severe\n", 5,
     "expected one of"),
    ("environments:\n  prod:\n    repository: r.example/app\n    gates:\n      attestations: [sbom]\n", 4,
     "need `attesters` or `signers`"),
    ("environments:\n  prod:\n    repository: r.example/app\n    gates:\n      signers: {identities: [x]}\n", 5,
     "no trusted key"),
    ("environments:\n  prod:\n    repository: r.example/app\n    gates:\n      approval: yes-please\n", 5,
     "expected true, false"),
    ("environments:\n  a:\n    repository: r.example/app\n  b:\n    repository: r.example/app\n", 1,
     "share the repository"),
])
def test_environment_errors(tmp_path: Path, text: str, line: int, msg: str) -> None:
    (tmp_path / "mamori.yaml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_policy(str(tmp_path / "mamori.yaml"))
    assert msg in str(exc.value) and f"mamori.yaml:{line}:" in str(exc.value), str(exc.value)
