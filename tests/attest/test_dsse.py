"""DSSE, in-toto statements and predicates without a registry: the bytes cosign signs and what is refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mamori.attest import dsse, predicates, statement
from mamori.attest.attestor import envelope
from mamori.attest.errors import AttestError
from mamori.attest.layout import AttLayer
from mamori.attest.verify import check_signature
from mamori.sign import keys
from mamori.sign.signer import KeySigner
from mamori.sign.verifier import TrustPolicy

DIGEST = "sha256:" + "ab" * 32
K1, K2 = keys.generate(), keys.generate()
LAYER = AttLayer("sha256:" + "00" * 32, 1, "", None, None, {})


def test_pae_matches_the_spec_example() -> None:
    # secure-systems-lab/dsse protocol.md: the PAE of "hello world" with type http://example.com/HelloWorld
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "
    # lengths count bytes, not characters
    assert dsse.pae("t\u00e9", b"\xff") == b"DSSEv1 3 t\xc3\xa9 1 \xff"


def test_envelope_signs_pae_not_json_and_verifies() -> None:
    blob = envelope("reg/app", DIGEST, statement.APPROVAL, {"environment": "prod"}, KeySigner(K1))
    doc = json.loads(blob)
    assert doc["payloadType"] == "application/vnd.in-toto+json" and doc["signatures"][0]["keyid"] == ""
    body = base64.b64decode(doc["payload"])
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    K1.public_key().verify(sig, dsse.pae(dsse.IN_TOTO, body), ec.ECDSA(hashes.SHA256()))
    st = statement.parse(body)
    assert st.subjects == (("reg/app", "ab" * 32),) and st.predicate_type == statement.APPROVAL
    assert json.loads(body)["_type"] == "https://in-toto.io/Statement/v1"
    env = dsse.parse(blob)
    assert check_signature(env, LAYER, TrustPolicy(keys={"qa": K1.public_key()}))[0] == "qa"
    signer, why = check_signature(env, LAYER, TrustPolicy(keys={"other": K2.public_key()}))
    assert signer is None and "does not verify" in why
    signer, why = check_signature(env, LAYER, TrustPolicy(keys={"qa": K1.public_key()}, identities=("ops",)))
    assert signer is None and "not a required identity" in why


def test_signature_over_json_instead_of_pae_is_refused() -> None:
    body = statement.build("reg/app", DIGEST, statement.SBOM, {})
    bad = dsse.Envelope(dsse.IN_TOTO, body, (("", K1.sign(body, ec.ECDSA(hashes.SHA256()))),))
    assert check_signature(dsse.parse(bad.to_json()), LAYER, TrustPolicy(keys={"k": K1.public_key()}))[0] is None


def test_url_safe_base64_is_accepted() -> None:
    blob = json.loads(envelope("reg/app", DIGEST, statement.SBOM, {"x": "?>?>"}, KeySigner(K1)))
    blob["payload"] = base64.urlsafe_b64encode(base64.b64decode(blob["payload"])).decode().rstrip("=")
    env = dsse.parse(json.dumps(blob).encode())
    assert check_signature(env, LAYER, TrustPolicy(keys={"k": K1.public_key()}))[0] == "k"


@pytest.mark.parametrize("data, msg", [
    (b"not json", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'{"payload":"","signatures":[{"sig":""}]}', "no payloadType"),
    (b'{"payload":"","payloadType":"x","signatures":[]}', "no signatures"),
    (b'{"payload":"%%%","payloadType":"x","signatures":[{"sig":"AA=="}]}', "not valid base64"),
    (b'{"payload":"","payloadType":"x","signatures":[{"sig":1}]}', "malformed"),
    (b"{" + b" " * dsse.MAX_ENVELOPE + b"}", "larger than"),
])
def test_bad_envelopes(data: bytes, msg: str) -> None:
    with pytest.raises(AttestError, match=msg):
        dsse.parse(data)


def test_statements_v01_accepted_and_bad_ones_refused() -> None:
    v01 = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": statement.VULN,
           "subject": [{"name": "index.docker.io/library/alpine", "digest": {"sha256": "AB" * 32}}], "predicate": {}}
    st = statement.parse(json.dumps(v01).encode())
    assert st.names_digest(DIGEST)  # hex compared case-insensitively
    for bad, msg in [({**v01, "_type": "https://example.com/x"}, "not an in-toto Statement"),
                     ({**v01, "subject": []}, "no subject"),
                     ({**v01, "subject": [{"name": "x", "digest": {"sha512": "00"}}]}, "no sha256"),
                     ({**v01, "predicate": []}, "not a JSON object"),
                     ({**v01, "predicateType": ""}, "no predicateType")]:
        with pytest.raises(AttestError, match=msg):
            statement.parse(json.dumps(bad).encode())
    with pytest.raises(AttestError, match="sha256"):
        statement.build("x", "sha512:" + "0" * 128, statement.SBOM, {})


def test_predicate_types() -> None:
    assert statement.predicate_type("sbom") == "https://cyclonedx.org/bom"
    assert statement.predicate_type("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert statement.predicate_type("approval") == "https://mamori.dev/attestation/approval/v1"
    assert statement.predicate_type("https://example.com/p/v1") == "https://example.com/p/v1"
    assert statement.short_name(statement.SBOM) == "sbom"
    with pytest.raises(AttestError, match="unknown attestation type"):
        statement.predicate_type("sbomm")


def test_worst_severity_reads_mamori_and_trivy_results() -> None:
    mine = predicates.vuln([{"id": "CVE-1", "severity": "medium"}, {"id": "CVE-2", "severity": "high"}], [],
                           "t0", "t1")
    assert mine["scanner"]["result"]["summary"]["high"] == 1
    assert predicates.worst_severity(mine)[0] == "high"
    assert predicates.worst_severity(predicates.vuln([], [], "t0", "t1"))[0] == "none"
    trivy = {"scanner": {"result": {"Results": [{"Vulnerabilities": [{"Severity": "CRITICAL"}, {"Severity": "LOW"}]},
                                                {"Target": "no vulns"}]}}}
    assert predicates.worst_severity(trivy)[0] == "critical"
    assert predicates.worst_severity({"scanner": {"result": {"other": 1}}})[0] is None
    assert predicates.worst_severity({})[0] is None
    assert predicates.severity_at_most("high", "high") and not predicates.severity_at_most("critical", "high")
    assert predicates.severity_at_most("none", "negligible")


def test_approval_predicate() -> None:
    p = predicates.approval("qa@acme.test", "prod", ["all tests green"], [(statement.SBOM, "sha256:" + "cd" * 32)])
    assert p["reliedOn"] == [{"predicateType": statement.SBOM, "digest": {"sha256": "cd" * 32}}]
    assert predicates.approval_environment(p) == "prod"
    assert predicates.approval_environment({**p, "decision": "rejected"}) is None
    with pytest.raises(AttestError, match="environment"):
        predicates.approval("qa", "", [], [])
    with pytest.raises(AttestError, match="result"):
        predicates.test_result({"result": "OK"})


def test_cosign_v01_statement_for_a_docker_hub_image() -> None:
    """cosign writes Statement v0.1 and names Docker Hub images index.docker.io/...: both verify."""
    from mamori.attest.verify import check_layer

    body = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": statement.VULN,
                       "subject": [{"name": "index.docker.io/library/alpine",
                                    "digest": {"sha256": DIGEST.removeprefix("sha256:")}}],
                       "predicate": {}}, separators=(",", ":")).encode()
    sig = K1.sign(dsse.pae(dsse.IN_TOTO, body), ec.ECDSA(hashes.SHA256()))
    blob = dsse.Envelope(dsse.IN_TOTO, body, (("", sig),)).to_json()
    policy = TrustPolicy(keys={"k": K1.public_key()})
    ok = check_layer(LAYER, blob, DIGEST, "docker.io/library/alpine", policy, 0)
    assert ok.ok and ok.predicate_type == statement.VULN, ok.reason
    other = check_layer(LAYER, blob, DIGEST, "docker.io/library/busybox", policy, 0)
    assert not other.ok and "not docker.io/library/busybox" in other.reason
    wrong_type = dsse.Envelope("application/json", body, (("", K1.sign(dsse.pae("application/json", body),
                                                                      ec.ECDSA(hashes.SHA256()))),)).to_json()
    assert "payloadType" in check_layer(LAYER, wrong_type, DIGEST, "docker.io/library/alpine", policy, 0).reason
