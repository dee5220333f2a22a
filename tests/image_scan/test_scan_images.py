"""`mamori image scan` on real images built by a private dockerd: exact rule ids, no secret in any output."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mamori.cli.main import cli
from tests.image_scan.conftest import Images

CONFIG_RULES = {"MAM-BUILD-019", "MAM-PRIV-010", "MAM-LIFE-001", "MAM-BUILD-016", "MAM-SECRET-001"}
# busybox --install also links its dpkg and rpm applets into /bin: MAM-IMGFS-002 rightly fires.
CONTENT_RULES = {"MAM-IMGFS-001", "MAM-IMGFS-002", "MAM-IMGFS-003", "MAM-IMGFS-004", "MAM-IMGFS-005", "MAM-IMGFS-006",
                 "MAM-IMGFS-007", "MAM-IMGFS-008", "MAM-IMGFS-009"}


def _scan(images: Images, ref: str, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["image", "scan", ref, "--docker-host", images.daemon.host, "--no-config", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.output


def _assert_no_secret(images: Images, text: str) -> None:
    for value in images.values:
        assert value not in text, "a secret value reached the output"


def test_dirty_image_exact_rules(images: Images) -> None:
    code, out = _scan(images, f"docker:{images.dirty}", "-f", "json", "--fail-on", "high")
    _assert_no_secret(images, out)
    doc = json.loads(out)
    got = {f["rule_id"] for f in doc["findings"]}
    imgfs = {r for r in got if r.startswith("MAM-IMGFS-")}
    assert imgfs == CONTENT_RULES
    assert got - imgfs == CONFIG_RULES, sorted(got - imgfs)
    assert code == 1  # HIGH findings (secrets) at --fail-on high
    by_rule: dict[str, list[dict[str, object]]] = {}
    for f in doc["findings"]:
        by_rule.setdefault(f["rule_id"], []).append(f)
    assert [f["location"]["path"] for f in by_rule["MAM-IMGFS-004"]] == ["/usr/local/bin/pinger"]
    assert [f["location"]["path"] for f in by_rule["MAM-IMGFS-005"]] == ["/data"]  # /tmp is 1777
    assert {f["location"]["path"] for f in by_rule["MAM-IMGFS-006"]} == {"/root/.aws/credentials"}
    assert {f["location"]["path"] for f in by_rule["MAM-IMGFS-008"]} == {"/app/token.txt"}
    secret_paths = {f["location"]["path"] for f in by_rule["MAM-IMGFS-007"]}
    assert secret_paths == {"/app/tls.pem", "/root/.aws/credentials"}
    removed = by_rule["MAM-IMGFS-008"][0]["message"]
    assert "layer 3" in str(removed) and "sha256:" in str(removed)  # COPY token.txt: layer index 3 (0-based)
    assert len(by_rule["MAM-IMGFS-009"]) == 2  # apt archives and apt lists; the lists' lock file is ignored
    assert by_rule["MAM-IMGFS-001"][0]["severity"] == "low"
    assert by_rule["MAM-IMGFS-007"][0]["severity"] == "high"


@pytest.mark.parametrize("fmt", ["text", "sarif", "junit"])
def test_dirty_image_other_formats_redacted(images: Images, fmt: str) -> None:
    code, out = _scan(images, f"docker:{images.dirty}", "-f", fmt, "--show-dockerfile")
    _assert_no_secret(images, out)
    assert "MAM-IMGFS-008" in out
    assert code == 0  # no --fail-on


def test_archive_reads_the_same(images: Images) -> None:
    _, from_daemon = _scan(images, f"docker:{images.dirty}", "-f", "json")
    _, from_archive = _scan(images, f"docker-archive:{images.archive}", "-f", "json")
    ids = [sorted((f["rule_id"], f["location"]["path"]) for f in json.loads(o)["findings"])
           for o in (from_daemon, from_archive)]
    assert ids[0] == ids[1]


def test_clean_image_has_no_findings(images: Images) -> None:
    code, out = _scan(images, f"docker:{images.clean}", "-f", "json", "--fail-on", "info")
    doc = json.loads(out)
    assert [f["rule_id"] for f in doc["findings"]] == []
    assert code == 0


def test_unreadable_image_exits_2(images: Images) -> None:
    code, out = _scan(images, "docker:mamori-test/does-not-exist:1")
    assert code == 2
    assert "Traceback" not in out


def test_registry_reads_the_same(images: Images) -> None:
    from tests import components
    from tests.image import components as comp

    registry = comp.start_registry()
    try:
        pushed = f"{registry.host}/scan/dirty:1"
        images.daemon.docker("tag", images.dirty, pushed)
        r = images.daemon.docker("push", pushed, check=False, timeout=600)
        if r.returncode != 0:
            components.unavailable("registry push", r.stderr[-2000:])
        _, from_daemon = _scan(images, f"docker:{images.dirty}", "-f", "json")
        _, from_registry = _scan(images, f"registry:{pushed}", "--insecure", "-f", "json")
        _assert_no_secret(images, from_registry)
        names = (f"docker:{images.dirty}", f"registry:{pushed}", pushed)

        def anon(message: str) -> str:
            for n in names:
                message = message.replace(n, "IMAGE")
            return message

        ids = [sorted((f["rule_id"], f["location"]["path"], anon(f["message"])) for f in json.loads(o)["findings"])
               for o in (from_daemon, from_registry)]
        assert ids[0] == ids[1]
    finally:
        registry.stop()
