"""Peer identities from certificates and the allow-list semantics (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mamori.ambassador import svid
from mamori.ambassador.identity import AllowList, IdentityError, Peer, check_spiffe_id, peer_from_der


@pytest.fixture(scope="module")
def ca() -> svid.Pem:
    return svid.new_ca("example.org")


def peer(ca: svid.Pem, **kw: Any) -> Peer:
    pem = svid.issue(ca, **kw)
    return peer_from_der(x509.load_pem_x509_certificate(pem.cert).public_bytes(Encoding.DER))


def test_spiffe_id_syntax() -> None:
    assert check_spiffe_id("spiffe://example.org/ns/a/sa/b") is None
    assert check_spiffe_id("spiffe://example.org") is None
    for bad in ("spiffe://Example.org/x", "spiffe://example.org/a//b", "spiffe://example.org/a/", "https://x/y",
                "spiffe://example.org/a/../b", "spiffe://ex:443/a", "spiffe://example.org/a%20b",
                "spiffe://example.org/" + "a" * 2100):
        assert check_spiffe_id(bad) is not None, bad


def test_uri_exact_prefix_and_segment(ca: svid.Pem) -> None:
    p = peer(ca, spiffe="spiffe://example.org/ns/app/sa/client")
    assert p.spiffe_id == "spiffe://example.org/ns/app/sa/client"
    assert AllowList.build(uris=("spiffe://example.org/ns/app/sa/client",)).check(p)[0]
    assert AllowList.build(uris=("spiffe://example.org/ns/app/*",)).check(p)[0]
    assert AllowList.build(uris=("spiffe://example.org/ns/*/sa/client",)).check(p)[0]
    assert AllowList.build(uris=("spiffe://example.org/*",)).check(p)[0]
    for no in ("spiffe://example.org/ns/app", "spiffe://example.org/ns/app/sa/client2",
               "spiffe://example.org/ns/ap/*", "spiffe://example.org/ns/*/sa/other",
               "spiffe://other.org/ns/app/*", "spiffe://example.org/ns/app/sa/client/*"):
        ok, reason = AllowList.build(uris=(no,)).check(p)
        assert not ok, no
        assert "spiffe://example.org/ns/app/sa/client" in reason


def test_dns_subject_cn(ca: svid.Pem) -> None:
    p = peer(ca, dns=("api.shop.internal",), cn="api")
    assert p.spiffe_id is None and p.dns == ("api.shop.internal",)
    assert AllowList.build(dns=("API.shop.internal.",)).check(p)[0]
    assert AllowList.build(dns=("*.shop.internal",)).check(p)[0]
    assert not AllowList.build(dns=("*.internal",)).check(p)[0]
    assert not AllowList.build(dns=("shop.internal",)).check(p)[0]
    assert AllowList.build(subjects=("CN=api",)).check(p)[0]
    assert not AllowList.build(subjects=("CN=api,O=shop",)).check(p)[0]
    assert AllowList.build(cns=("api",)).check(p)[0]
    assert not AllowList.build(cns=("ap",)).check(p)[0]
    assert not AllowList.build(uris=("spiffe://example.org/*",)).check(p)[0]


def test_lists_are_ored(ca: svid.Pem) -> None:
    p = peer(ca, spiffe="spiffe://example.org/ns/x/sa/y", dns=("y.x.svc",))
    allow = AllowList.build(uris=("spiffe://example.org/ns/z/*",), dns=("y.x.svc",))
    ok, reason = allow.check(p)
    assert ok and "dns y.x.svc" in reason


def test_invalid_svid_is_denied_even_with_allow_all(ca: svid.Pem) -> None:
    p = peer(ca, spiffe="spiffe://example.org/ns/a/sa/b", extra_uris=("spiffe://example.org/ns/c/sa/d",))
    assert p.svid_error and "exactly one URI SAN" in p.svid_error
    assert p.spiffe_id is None
    for allow in (AllowList.build(allow_all=True), AllowList.build(uris=("spiffe://example.org/*",))):
        ok, reason = allow.check(p)
        assert not ok and "X.509-SVID" in reason


def test_bad_patterns_fail_at_start() -> None:
    kws: list[dict[str, Any]] = [{"uris": ("spiffe://Bad.Domain/x",)}, {"uris": ("no-scheme",)}, {"dns": ("a.*.b",)},
               {"subjects": ("not a dn",)}, {"uris": ("spiffe://e.org/x",), "allow_all": True}]
    for kw in kws:
        with pytest.raises(IdentityError):
            AllowList.build(**kw)
    assert AllowList().empty and not AllowList.build(cns=("x",)).empty
