"""The plugin's decisions on real and crafted AuthZReq messages, bypass classes above all."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mamori.enforce import authz as az
from mamori.policy.config import Policy
from tests.authz.helpers import captured, captured_body, message, policy, with_body

STRICT = """\
allow:
  registries: [localhost]
enforcement:
  deny-on: medium
"""
CREATE = "/v1.41/containers/create?name=web"


def decide(raw: bytes | dict[str, object], pol: Policy | None = None) -> az.Outcome:
    data = json.dumps(raw).encode() if isinstance(raw, dict) else raw
    return az.decide(az.parse_message(data), pol or Policy())


# --- real messages ---------------------------------------------------------------------------------


def test_insecure_run_is_denied_with_rule_ids_and_what_to_change() -> None:
    out = decide(captured("run-insecure"))
    assert not out.allow and out.result == "denied" and out.operation == "container create"
    for rule in ("MAM-PRIV-001", "MAM-HOST-003", "MAM-HOST-002", "MAM-CAP-004", "MAM-PRIV-003"):
        assert rule in out.rules and f"[{rule}]" in out.msg
    assert "field /HostConfig/Privileged" in out.msg and "Fix:" in out.msg
    assert "--privileged" in out.msg and "-v/--volume" in out.msg
    assert "s3cr3t-value" not in out.msg  # a secret value is never echoed
    assert out.answer() == {"Allow": False, "Msg": out.msg, "Err": ""}


def test_hardened_run_is_allowed_and_recorded(tmp_path: Path) -> None:
    body = captured_body("run-hardened")
    body["Image"] = "localhost/app:1"
    body["Labels"]["data-classification"] = "public"
    out = decide(with_body("run-hardened", body), policy(tmp_path, STRICT))
    assert out.allow and out.result == "allowed" and out.record and out.msg == ""
    assert out.verdict is not None and out.verdict.audited  # low findings are kept for the record


def test_warn_mode_allows_and_says_why(tmp_path: Path) -> None:
    pol = policy(tmp_path, "enforcement:\n  rules:\n    MAM-PRIV-001: warn\n")
    out = decide(with_body("run-insecure", {"Image": "x:1", "HostConfig": {"Privileged": True}}), pol)
    assert out.allow and out.result == "warned" and out.rules == ("MAM-PRIV-001",)
    assert "allowed with warnings" in out.msg and "[MAM-PRIV-001]" in out.msg


def test_exec_privileged_and_root(tmp_path: Path) -> None:
    priv = decide(captured("exec-privileged"))
    assert not priv.allow and priv.rules == ("MAM-PRIV-001",) and priv.operation == "exec create"
    root = decide(captured("exec-root"))
    assert not root.allow and "MAM-PRIV-009" in root.rules and "hardened as root" in root.subject
    allowed = decide(captured("exec-root"), policy(tmp_path, "enforcement:\n  docker:\n    allow-root-exec: true\n"))
    assert allowed.allow


def test_pull_outside_the_allowed_registries(tmp_path: Path) -> None:
    out = decide(captured("pull"), policy(tmp_path, STRICT))
    assert not out.allow and out.rules == ("MAM-IMG-003",) and out.subject == "registry.invalid/team/app:1.0"
    # only the registry rule judges a pull: a floating tag from an allowed registry may be fetched
    assert decide(message("POST", "/v1.41/images/create?fromImage=localhost%2Fapp&tag=latest"),
                  policy(tmp_path, STRICT)).allow
    assert decide(captured("pull")).allow  # no allowlist configured: the rule stays quiet
    imported = decide(message("POST", "/v1.41/images/create?fromSrc=-&repo=x", length=0))
    assert imported.allow and not imported.record


def test_plugin_installs_follow_the_allowlist(tmp_path: Path) -> None:
    out = decide(captured("plugin-install"))
    assert not out.allow and out.rules == ("enforcement.docker.allow-plugins",)
    pol = policy(tmp_path, 'enforcement:\n  docker:\n    allow-plugins: ["registry.invalid/vieux/*"]\n')
    assert decide(captured("plugin-install"), pol).allow
    upgrade = message("POST", "/v1.41/plugins/sshfs/upgrade?remote=evil.example%2Fsshfs%3A2", [])
    assert not decide(upgrade, pol).allow
    created = message("POST", "/v1.41/plugins/create?name=local%2Fthing", raw=b"tar", ctype="application/x-tar")
    assert not decide(created, pol).allow


def test_volumes(tmp_path: Path) -> None:
    bind = decide(captured("volume-bind"))
    assert not bind.allow and "MAM-HOST-002" in bind.rules
    other = decide(message("POST", "/v1.41/volumes/create", {"Name": "v", "Driver": "rexray", "DriverOpts": {}}))
    assert not other.allow and other.rules == ("enforcement.docker.volume-drivers",)
    plain = decide(message("POST", "/v1.41/volumes/create", {"Name": "v", "Driver": "local", "DriverOpts": {}}))
    assert plain.allow and plain.record


def test_other_requests_are_allowed_and_not_recorded() -> None:
    for method, uri in (("GET", "/v1.41/containers/json?all=1"), ("POST", "/v1.41/containers/abc/kill"),
                        ("POST", "/v1.41/build?t=x"), ("GET", "/_ping"), ("GET", "/v1.41/containers/create")):
        out = decide(message(method, uri, raw=b"tar-bytes", ctype="application/x-tar", length=99_000_000))
        assert out.allow and not out.record, uri


def test_request_uri_key_spelled_as_in_the_docs() -> None:
    m = captured("run-insecure")
    m["RequestURI"] = m.pop("RequestUri")
    assert "MAM-PRIV-001" in decide(m).rules


# --- bypass classes: refused, fail closed -------------------------------------------------------


@pytest.mark.parametrize("uri", [CREATE, "/v1.41/containers/web/exec", "/v1.41/volumes/create"])
@pytest.mark.parametrize("length", [0, None])
def test_no_body_is_refused_cve_2024_41110(uri: str, length: int | None) -> None:
    out = decide(message("POST", uri, length=length))
    assert not out.allow and out.reason == "empty-body" and "CVE-2024-41110" in out.msg
    assert out.result == "error" and out.record


def test_empty_body_with_json_type_is_refused() -> None:
    assert decide(message("POST", CREATE, raw=b"  \n")).reason == "empty-body"


def test_body_the_daemon_did_not_forward_is_refused() -> None:
    # The client declared 1571 bytes; the plugin saw none (chunked or dropped).
    assert decide(message("POST", CREATE, length=1571)).reason == "length"
    # More than the daemon shows to plugins: refused rather than judged on nothing.
    big = decide(message("POST", CREATE, length=az.MAX_BODY + 1))
    assert big.reason == "too-large" and "1048576" in big.msg
    huge = json.dumps({"Image": "x", "Env": ["A=" + "x" * az.MAX_BODY]}).encode()
    assert decide(message("POST", CREATE, raw=huge)).reason == "too-large"


def test_a_body_that_is_not_json_is_refused() -> None:
    assert decide(message("POST", CREATE, raw=b"{}", ctype="text/plain")).reason == "content-type"
    # a JSON media type with parameters is what the daemon forwards: judged, not refused
    assert decide(message("POST", CREATE, raw=b"{}", ctype="application/json; charset=utf-8")).reason is None


@pytest.mark.parametrize("raw", [
    b'{"Image": "x", "HostConfig": {"Privileged": true}',  # truncated
    b'{"Image": "x"} {"HostConfig": {"Privileged": true}}',  # a second value
    b'{"Image": "x", "HostConfig": {"Memory": NaN}}',
    b'{"Image": "\xff"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"Image": "x", "HostConfig": {"Privileged": false, "privileged": true}}',
    b'{"Image": "x", "Privileged": true}',
])
def test_malformed_or_ambiguous_json_is_refused(raw: bytes) -> None:
    out = decide(message("POST", CREATE, raw=raw))
    assert not out.allow and out.reason == "malformed", out.msg


def test_wrong_types_deny_as_incomplete_input() -> None:
    out = decide(message("POST", CREATE, {"Image": "x", "HostConfig": {"Privileged": "yes"}}))
    assert not out.allow and out.result == "error" and "could not be read completely" in out.msg


@pytest.mark.parametrize("uri", ["/v1.23/containers/create", "/v1.53/containers/create", "/v1/containers/create",
                                 "/v1.41.0/containers/create", "/v2.0/containers/create", "/v1..41/containers/create"])
def test_unsupported_api_versions_are_refused(uri: str) -> None:
    out = decide(message("POST", uri, {"Image": "x"}))
    assert not out.allow and out.reason in ("version", "path"), out.msg


def test_supported_and_unversioned_paths_are_judged() -> None:
    for uri in ("/v1.24/containers/create", "/v1.52/containers/create", "/containers/create"):
        assert decide(message("POST", uri, {"Image": "x:1", "HostConfig": {"Privileged": True}})).rules[0] == (
            "MAM-PRIV-001"), uri


@pytest.mark.parametrize("uri", [
    "/v1.41//containers/create", "/v1.41/containers/./create", "/v1.41/containers/x/../create",
    "/v1.41/containers%2Fcreate", "/v1.41/containers/%2e%2e/create", "/v1.41/containers/%252Fcreate",
    "/v1.41/containers/cre%00ate", "/v1.41/containers\\create", "/v1.41/containers/%zzcreate",
    "v1.41/containers/create",
])
def test_path_tricks_are_refused(uri: str) -> None:
    out = decide(message("POST", uri, {"Image": "x"}))
    assert not out.allow and out.reason == "path", out.msg


def test_percent_encoded_letters_route_like_the_daemon() -> None:
    # gorilla/mux matches the decoded path: /containers/%63reate is a create, and is judged as one.
    out = decide(message("POST", "/v1.41/containers/%63reate", {"Image": "x:1", "HostConfig": {"Privileged": True}}))
    assert not out.allow and out.rules == ("MAM-PRIV-001",)


def test_start_with_a_body_is_refused() -> None:
    out = decide(message("POST", "/v1.41/containers/web/start", {"Privileged": True}))
    assert not out.allow and out.reason == "start-body"
    assert decide(message("POST", "/v1.41/containers/web/start", length=0)).allow


@pytest.mark.parametrize("uri", ["/v1.41/containers/create?name=a&name=b",
                                 "/v1.41/images/create?fromImage=localhost%2Fa&fromImage=evil.example%2Fb",
                                 "/v1.41/images/create?fromImage=localhost%2Fa;fromImage=evil.example%2Fb"])
def test_ambiguous_queries_are_refused(uri: str) -> None:
    out = decide(message("POST", uri, {"Image": "x"}))
    assert not out.allow and out.reason == "query"


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"RequestMethod": "POST"}',
                                 b'{"RequestMethod": "POST", "RequestUri": "/x", "RequestBody": "***"}',
                                 b'{"RequestMethod": "POST", "RequestUri": "/x", "RequestBody": 5}'])
def test_unusable_messages_are_refused(raw: bytes) -> None:
    with pytest.raises(az.Refused):
        az.parse_message(raw)


def test_message_and_uri_sizes_are_bounded() -> None:
    with pytest.raises(az.Refused, match="exceeds"):
        az.parse_message(b" " * (az.MAX_MESSAGE_BYTES + 1))
    with pytest.raises(az.Refused, match="longer"):
        az.parse_message(message("GET", "/" + "a" * az.MAX_URI))


def test_user_and_headers_are_read() -> None:
    req = az.parse_message(message("POST", CREATE, {"Image": "x"}, user="CN=alice"))
    assert req.user == "CN=alice" and req.headers["content-type"] == "application/json"
    assert req.body is not None and json.loads(req.body) == {"Image": "x"}
    assert base64.b64encode(req.body)


def test_response_phase_is_always_allowed() -> None:
    assert az.response_answer(b"{}") == {"Allow": True, "Msg": "", "Err": ""}
