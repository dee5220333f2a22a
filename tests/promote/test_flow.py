"""The new user's path through the CLI: PKI, sign at build, attest SBOM + vuln + approval, promote dev -> prod.

Real registry on 127.0.0.1, the real busybox image built by a private dockerd, the real audit log.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from mamori.cli.main import cli
from tests.image import components as comp

KEY_PASS = "key-pass-3b9e71"
PKI_PASS = "pki-pass-c0d5a2"
BUILD_ID = "https://ci.acme.test/pipelines/build"
QA_ID = "qa@acme.test"


def run(tmp: Path, *args: str) -> Result:
    env: dict[str, str | None] = {"COSIGN_PASSWORD": KEY_PASS, "MAMORI_PKI_PASSPHRASE": PKI_PASS,
                                  "MAMORI_HOME": str(tmp), "MAMORI_SIGN_PASSPHRASE": None}
    r = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert KEY_PASS not in r.output and PKI_PASS not in r.output and "Traceback" not in r.output
    return r


def test_pki_sign_attest_promote_status(tmp_path: Path, busybox: str, registry: comp.Registry) -> None:
    dev_repo = busybox.rsplit(":", 1)[0]
    prod_repo = f"{registry.host}/prod/busybox"
    pki = str(tmp_path / "pki")
    assert run(tmp_path, "pki", "init", "--org", "Acme").exit_code == 0
    build, qa = str(tmp_path / "build"), str(tmp_path / "qa")
    assert run(tmp_path, "pki", "issue", "codesign", "--uri", BUILD_ID, "--out", build).exit_code == 0
    assert run(tmp_path, "pki", "issue", "codesign", "--email", QA_ID, "--out", qa).exit_code == 0
    as_build = ["--key", build + ".key", "--cert", build + ".crt", "--chain", build + ".chain.pem", "--insecure"]
    as_qa = ["--key", qa + ".key", "--cert", qa + ".crt", "--chain", qa + ".chain.pem", "--insecure"]
    cfg = tmp_path / "mamori.yaml"
    cfg.write_text(f"""\
environments:
  dev:
    repository: {dev_repo}
  prod:
    repository: {prod_repo}
    insecure: true
    gates:
      signers: {{pki: pki, required: ["{BUILD_ID}"]}}
      attestations: [sbom, vuln]
      max-severity: high
      approval: {{signers: [{QA_ID}]}}
""")
    # build: sign, attest the SBOM and the scan (against an advisory database, here empty)
    r = run(tmp_path, "sign", busybox, *as_build)
    assert r.exit_code == 0, r.output
    r = run(tmp_path, "attest", busybox, "--type", "sbom", *as_build)
    assert r.exit_code == 0 and "(sbom)" in r.output, r.output
    r = run(tmp_path, "attest", busybox, "--type", "vuln", "--vuln-db", f"sqlite:///{tmp_path}/vuln.db", *as_build)
    assert r.exit_code == 0, r.output

    # no approval yet: refused, and the refusal names exactly that gate
    promote = ["promote", busybox, "--to", "prod", *as_build, "--config", str(cfg)]
    r = run(tmp_path, *promote)
    assert r.exit_code == 1 and r.output.startswith("REFUSED"), r.output
    missing = [line for line in r.output.splitlines() if "MISSING" in line]
    assert len(missing) == 1 and "approval for prod" in missing[0], r.output
    assert run(tmp_path, "status", busybox, "--config", str(cfg), "--insecure").output.splitlines()[1].split()[1] == "-"

    # QA approves for prod, relying on the build's attestations
    r = run(tmp_path, "attest", busybox, "--type", "approval", "--environment", "prod",
            "--criteria", "integration tests green", "--criteria", "no high or critical findings", *as_qa, "-f", "json")
    assert r.exit_code == 0, r.output
    r = run(tmp_path, "verify-attestation", busybox, "--type", "approval", "--environment", "prod", "--pki", pki,
            "--identity", QA_ID, "--insecure", "--print-predicate")
    assert r.exit_code == 0, r.output
    pred = json.loads(r.output[r.output.index("{"):])
    assert pred["approver"] == {"id": QA_ID} and pred["environment"] == "prod"
    assert {x["predicateType"] for x in pred["reliedOn"]} == {"https://cyclonedx.org/bom",
                                                             "https://cosign.sigstore.dev/attestation/vuln/v1"}

    audit = f"sqlite:///{tmp_path}/audit.db"
    r = run(tmp_path, *promote, "--audit-db", audit, "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])
    assert doc["promoted"] and all(g["passed"] for g in doc["gates"]) and len(doc["gates"]) == 5
    assert doc["copied"]["blobs_mounted"] >= 2 and doc["copied"]["blobs_streamed"] == 0  # same registry: mounts
    digest = doc["digest"]

    # prod now holds the same digest, with the build signature, the attestations and a promotion attestation
    prod = f"{prod_repo}:1"
    r = run(tmp_path, "verify", prod, "--pki", pki, "--require", BUILD_ID, "--any-repository", "--insecure")
    assert r.exit_code == 0 and digest in r.output, r.output
    for kind in ("sbom", "vuln"):
        assert run(tmp_path, "verify-attestation", prod, "--type", kind, "--pki", pki, "--any-repository",
                   "--insecure").exit_code == 0
    r = run(tmp_path, "verify-attestation", prod, "--type", "promotion", "--pki", pki, "--identity", BUILD_ID,
            "--insecure", "--print-predicate")
    assert r.exit_code == 0, r.output
    promo = json.loads(r.output[r.output.index("{"):])
    assert promo["from"] == dev_repo and promo["to"] == prod_repo and promo["digest"] == digest
    assert promo["fromEnvironment"] == "dev" and {g["gate"] for g in promo["gates"]} >= {"signatures",
                                                                                         "approval for prod"}
    r = run(tmp_path, "status", busybox, "--config", str(cfg), "--insecure", "-f", "json")
    st = json.loads(r.output)
    assert r.exit_code == 0 and st["same_digest"] and [e["digest"] for e in st["environments"]] == [digest, digest]

    from mamori.audit.log import open_log

    log = open_log(audit)
    entry = log.entry(0)
    assert log.count() == 1 and entry is not None
    data = json.loads(entry.data) if isinstance(entry.data, str | bytes) else entry.data
    assert data["type"] == "image.promotion" and data["payload"]["promoted"] is True
    assert data["payload"]["digest"] == digest and data["payload"]["environment"] == "prod"


def test_cli_refusals_and_errors(tmp_path: Path, image: str) -> None:
    key = str(tmp_path / "k")
    assert run(tmp_path, "sign", "keygen", "--output-key-prefix", key).exit_code == 0
    r = run(tmp_path, "attest", image, "--type", "vuln", "--key", key + ".key", "--insecure")
    assert r.exit_code == 2 and "--vuln-db" in r.output
    r = run(tmp_path, "attest", image, "--type", "https://example.com/p/v1", "--key", key + ".key", "--insecure")
    assert r.exit_code == 2 and "--predicate" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    r = run(tmp_path, "attest", image, "--type", "test", "--predicate", str(bad), "--key", key + ".key", "--insecure")
    assert r.exit_code == 2 and "JSON object" in r.output
    bad.write_text('{"result": "PASSED", "passedTests": ["unit"]}')
    r = run(tmp_path, "attest", image, "--type", "test", "--predicate", str(bad), "--key", key + ".key", "--insecure")
    assert r.exit_code == 0, r.output
    r = run(tmp_path, "verify-attestation", image, "--type", "test", "--key", key + ".pub", "--insecure")
    assert r.exit_code == 0 and r.output.startswith("VERIFIED")
    r = run(tmp_path, "verify-attestation", image, "--type", "sbom", "--key", key + ".pub", "--insecure")
    assert r.exit_code == 1 and "no sbom attestation" in r.output
    r = run(tmp_path, "promote", image, "--to", "prod", "--key", key + ".key", "--config", str(bad))
    assert r.exit_code == 2
    cfg = tmp_path / "mamori.yaml"
    cfg.write_text("environments:\n  prod:\n    repository: 127.0.0.1:1/prod/app\n")
    r = run(tmp_path, "promote", image, "--to", "qa", "--key", key + ".key", "--config", str(cfg))
    assert r.exit_code == 2 and "no environment 'qa'" in r.output
    r = run(tmp_path, "status", image, "--config", str(cfg), "--insecure")
    assert r.exit_code == 1 and "could not read 1 environment(s): prod" in r.output, r.output
