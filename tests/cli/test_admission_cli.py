"""`mamori admission manifests | cert | ca` as an operator runs them."""

from __future__ import annotations

import base64
import ipaddress
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, Store

from mamori.cli.main import cli

IMAGE = "registry.example/platform/mamori@sha256:" + "ab" * 32


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["admission", *args])


def hooks(output: str) -> list[dict[str, Any]]:
    return [h for d in yaml.safe_load_all(output) if d and d["kind"].endswith("WebhookConfiguration")
            for h in d["webhooks"]]


def verify(cert_pem: bytes, ca_pem: bytes, subject: DNSName | IPAddress) -> None:
    store = Store(x509.load_pem_x509_certificates(ca_pem))
    PolicyBuilder().store(store).build_server_verifier(subject).verify(x509.load_pem_x509_certificate(cert_pem), [])


def test_manifests_default_to_fail_and_five_seconds() -> None:
    result = invoke("manifests", "--image", IMAGE)
    assert result.exit_code == 0, result.output
    assert [(h["failurePolicy"], h["timeoutSeconds"]) for h in hooks(result.stdout)] == [("Fail", 5), ("Fail", 5)]


def test_failure_policy_ignore_and_timeout() -> None:
    result = invoke("manifests", "--image", IMAGE, "--failure-policy", "ignore", "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert [(h["failurePolicy"], h["timeoutSeconds"]) for h in hooks(result.stdout)] == [("Ignore", 30)] * 2


@pytest.mark.parametrize("value", ["31", "0", "x"])
def test_timeout_outside_1_to_30_is_a_usage_error(value: str) -> None:
    result = invoke("manifests", "--image", IMAGE, "--timeout", value)
    assert result.exit_code == 2
    assert "--timeout" in result.output
    assert "kind:" not in result.output


def test_image_is_required_and_an_unpinned_one_warns() -> None:
    assert invoke("manifests").exit_code == 2
    result = invoke("manifests", "--image", "registry.example/mamori:0.1.0")
    assert result.exit_code == 0
    assert "not pinned by digest" in result.stderr
    assert "not pinned" not in invoke("manifests", "--image", IMAGE).stderr


def test_namespace_and_policy_file_shape_the_exemptions(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("enforcement:\n  exempt-namespaces: [kube-system, monitoring]\n"
                      "  mutate:\n    default-labels: {tenant: security}\n", encoding="utf-8")
    result = invoke("manifests", "--image", IMAGE, "-n", "sec", "--policy", str(policy))
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    for h in hooks(result.stdout):
        assert h["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system", "sec", "monitoring"]
        assert h["clientConfig"]["service"]["namespace"] == "sec"
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    assert cm["data"]["mamori.yaml"] == policy.read_text(encoding="utf-8"), "the policy is stored verbatim"
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert dep["metadata"]["labels"]["tenant"] == "security"
    secret = next(d for d in docs if d["kind"] == "Secret")
    verify(base64.b64decode(secret["data"]["tls.crt"]), base64.b64decode(hooks(result.stdout)[0]["clientConfig"][
        "caBundle"]), DNSName("mamori.sec.svc"))


def test_bad_policy_file_is_reported_with_its_line(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("enforcement:\n  modee: enforce\n", encoding="utf-8")
    result = invoke("manifests", "--image", IMAGE, "--policy", str(policy))
    assert result.exit_code == 2
    assert f"{policy}:2" in result.stderr and "modee" in result.stderr
    missing = invoke("manifests", "--image", IMAGE, "--policy", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in result.output + missing.output


def test_output_file_is_private(tmp_path: Path) -> None:
    out = tmp_path / "mamori.yaml"
    result = invoke("manifests", "--image", IMAGE, "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert len(hooks(out.read_text(encoding="utf-8"))) == 2


def test_ca_then_cert_then_manifests_share_one_ca(tmp_path: Path) -> None:
    ca_dir, tls_dir = tmp_path / "ca", tmp_path / "tls"
    assert invoke("ca", "--out", str(ca_dir)).exit_code == 0
    assert stat.S_IMODE(os.stat(ca_dir / "ca.key").st_mode) == 0o600
    ca_args = ("--ca-cert", str(ca_dir / "ca.crt"), "--ca-key", str(ca_dir / "ca.key"))
    result = invoke("cert", "--out", str(tls_dir), "--dns", "localhost", "--ip", "127.0.0.1", *ca_args)
    assert result.exit_code == 0, result.output
    assert (tls_dir / "ca.crt").read_bytes() == (ca_dir / "ca.crt").read_bytes()
    assert stat.S_IMODE(os.stat(tls_dir / "tls.key").st_mode) == 0o600
    verify((tls_dir / "tls.crt").read_bytes(), (ca_dir / "ca.crt").read_bytes(), DNSName("localhost"))
    verify((tls_dir / "tls.crt").read_bytes(), (ca_dir / "ca.crt").read_bytes(),
           IPAddress(ipaddress.ip_address("127.0.0.1")))
    manifests = invoke("manifests", "--image", IMAGE, *ca_args)
    assert manifests.exit_code == 0
    ca_b64 = base64.b64encode((ca_dir / "ca.crt").read_bytes()).decode()
    assert all(h["clientConfig"]["caBundle"] == ca_b64 for h in hooks(manifests.stdout))


def test_cert_defaults_to_the_service_names(tmp_path: Path) -> None:
    assert invoke("cert", "--out", str(tmp_path), "-n", "sec").exit_code == 0
    verify((tmp_path / "tls.crt").read_bytes(), (tmp_path / "ca.crt").read_bytes(), DNSName("mamori.sec.svc"))


@pytest.mark.parametrize(("args", "message"), [
    (("--dns", "not a name"), "not a DNS name"),
    (("--ip", "localhost"), "not an IP address"),
    (("--days", "900"), "--days"),
    (("--ca-cert", "x.pem"), "go together"),
])
def test_cert_errors_are_clear(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = invoke("cert", "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o" / "tls.key").exists()


def test_wrong_ca_key_is_refused_without_printing_it(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    invoke("ca", "--out", str(a))
    invoke("ca", "--out", str(b))
    result = invoke("cert", "--out", str(tmp_path / "o"), "--ca-cert", str(a / "ca.crt"), "--ca-key", str(b / "ca.key"))
    assert result.exit_code == 2 and "does not belong" in result.stderr
    assert "PRIVATE KEY" not in result.output


def test_console_script_pipes_into_a_scan(tmp_path: Path) -> None:
    """The documented flow: generate, then `mamori scan` the result; nothing at or above medium."""
    exe = Path(sys.executable).parent / "mamori"
    out = tmp_path / "m.yaml"
    gen = subprocess.run([str(exe), "admission", "manifests", "--image", IMAGE, "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    scan = subprocess.run([str(exe), "scan", "--no-config", "--fail-on", "medium", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert scan.returncode == 0, scan.stdout + scan.stderr
