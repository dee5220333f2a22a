"""Webhook certificates: verified with cryptography's X.509 path validation, as a TLS client would."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, Store, VerificationError

from mamori.enforce.certs import (
    CertError,
    Issued,
    load_ca,
    new_ca,
    read_pem,
    service_names,
    serving_bundle,
    serving_cert,
    write_bundle,
)


def verify(cert_pem: bytes, ca_pem: bytes, name: str) -> list[x509.Certificate]:
    """Full path validation (RFC 5280 + web PKI profile) for ``name``: what the API server's Go client does."""
    store = Store(x509.load_pem_x509_certificates(ca_pem))
    subject = IPAddress(ipaddress.ip_address(name)) if name[0].isdigit() or ":" in name else DNSName(name)
    verifier = PolicyBuilder().store(store).build_server_verifier(subject)
    return verifier.verify(x509.load_pem_x509_certificate(cert_pem), [])


def test_service_names_are_the_ones_the_api_server_uses() -> None:
    assert service_names("mamori", "sec") == ["mamori.sec.svc", "mamori.sec.svc.cluster.local", "mamori",
                                              "mamori.sec"]


def test_serving_bundle_verifies_for_every_service_name_and_no_other() -> None:
    names = service_names("mamori", "mamori")
    b = serving_bundle(names)
    for name in names:
        chain = verify(b.cert_pem, b.ca_pem, name)
        assert len(chain) == 2
    for other in ("mamori.other.svc", "evil.example", "mamori.mamori.svc.cluster.local.evil"):
        with pytest.raises(VerificationError):
            verify(b.cert_pem, b.ca_pem, other)


def test_serving_certificate_profile() -> None:
    b = serving_bundle(["mamori.mamori.svc"], ["127.0.0.1", "::1"], days=30)
    cert = x509.load_pem_x509_certificate(b.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mamori.mamori.svc"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    key = serialization.load_pem_private_key(b.key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=30)
    assert cert.not_valid_before_utc < dt.datetime.now(dt.UTC), "backdated for clock skew"
    verify(b.cert_pem, b.ca_pem, "127.0.0.1")
    verify(b.cert_pem, b.ca_pem, "::1")


def test_ca_profile() -> None:
    ca = new_ca(days=10)
    cert = ca.cert
    assert cert.issuer == cert.subject
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_pathlen_zero_means_a_leaf_cannot_act_as_a_ca() -> None:
    ca = new_ca()
    leaf = serving_cert(ca, ["a.example"])
    with pytest.raises(CertError, match="not a CA"):
        serving_cert(leaf, ["b.example"])


def test_given_ca_signs_and_no_new_ca_is_made() -> None:
    ca = new_ca()
    b1 = serving_bundle(["x.svc"], ca=ca)
    b2 = serving_bundle(["x.svc"], ca=ca)
    assert b1.ca_pem == b2.ca_pem == ca.cert.public_bytes(serialization.Encoding.PEM)
    assert b1.cert_pem != b2.cert_pem
    verify(b2.cert_pem, ca.cert_pem, "x.svc")
    # without a CA each bundle gets its own, and one bundle's CA does not verify the other's certificate
    c1, c2 = serving_bundle(["x.svc"]), serving_bundle(["x.svc"])
    with pytest.raises(VerificationError):
        verify(c1.cert_pem, c2.ca_pem, "x.svc")


def test_python_ssl_loads_the_files_written_for_localhost(tmp_path: Path) -> None:
    """The HTTPS tests load these files into ssl contexts: the key must match the certificate."""
    paths = write_bundle(tmp_path, serving_bundle(["localhost"], ["127.0.0.1"]))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(paths[1], paths[2])
    client = ssl.create_default_context(cafile=str(paths[0]))
    assert client.get_ca_certs()[0]["subject"][0][0][1] == "mamori admission CA"
    with pytest.raises(ssl.SSLError):
        server.load_cert_chain(paths[1], write_bundle(tmp_path / "other", serving_bundle(["localhost"]))[2])


def test_write_bundle_modes(tmp_path: Path) -> None:
    out = tmp_path / "new" / "dir"
    paths = write_bundle(out, serving_bundle(["localhost"]))
    assert [p.name for p in paths] == ["ca.crt", "tls.crt", "tls.key"]
    assert stat.S_IMODE(os.stat(paths[2]).st_mode) == 0o600
    (out / "tls.key").chmod(0o644)
    write_bundle(out, serving_bundle(["localhost"]))  # rewriting an existing, too-open key fixes its mode
    assert stat.S_IMODE(os.stat(paths[2]).st_mode) == 0o600


@pytest.mark.parametrize(("dns", "ips", "message"), [
    ([], [], "at least one"), (["bad name"], [], "not a DNS name"), (["a..b"], [], "not a DNS name"),
    (["-a.example"], [], "not a DNS name"), (["a" * 64 + ".example"], [], "not a DNS name"),
    ([], ["300.1.1.1"], "not an IP address"), ([f"h{i}.example" for i in range(101)], [], "more than 100"),
])
def test_bad_names_are_refused(dns: list[str], ips: list[str], message: str) -> None:
    with pytest.raises(CertError, match=message):
        serving_bundle(dns, ips)


def test_names_are_normalised_and_deduplicated() -> None:
    b = serving_bundle(["Mamori.Example.", "mamori.example"], ["127.0.0.1", "127.0.0.1"])
    san = x509.load_pem_x509_certificate(b.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["mamori.example"]
    assert len(san.value.get_values_for_type(x509.IPAddress)) == 1


@pytest.mark.parametrize("days", [0, -1, 826])
def test_lifetime_bounds(days: int) -> None:
    with pytest.raises(CertError, match="lifetime"):
        serving_bundle(["a.example"], days=days)


def test_certificate_may_not_outlive_its_ca() -> None:
    with pytest.raises(CertError, match="CA expires"):
        serving_bundle(["a.example"], days=90, ca=new_ca(days=30))


def _self_signed(ca: bool, days: int = 10, start: dt.datetime | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(start).not_valid_after(start + dt.timedelta(days=days)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM),
                  key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def test_a_ca_without_key_identifier_still_signs() -> None:
    ca = _self_signed(ca=True)
    b = serving_bundle(["x.svc"], days=5, ca=ca)
    assert x509.load_pem_x509_certificate(b.cert_pem).issuer == ca.cert.subject


def test_bad_ca_inputs_are_refused() -> None:
    good = new_ca()
    other = new_ca()
    with pytest.raises(CertError, match="does not belong"):
        load_ca(good.cert_pem, other.key_pem)
    with pytest.raises(CertError, match="not a CA"):
        load_ca(_self_signed(ca=False).cert_pem, _self_signed(ca=False).key_pem)
    old = _self_signed(ca=True, days=1, start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(CertError, match="expired"):
        load_ca(old.cert_pem, old.key_pem)
    with pytest.raises(CertError, match="not a PEM certificate"):
        load_ca(b"junk", good.key_pem)
    with pytest.raises(CertError, match="not an unencrypted PEM private key"):
        load_ca(good.cert_pem, b"junk")
    encrypted = serialization.load_pem_private_key(good.key_pem, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(CertError, match="unencrypted"):
        load_ca(good.cert_pem, encrypted)


def test_read_pem_bounds_and_errors(tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(CertError, match="larger than"):
        read_pem(big, "CA key")
    with pytest.raises(CertError, match="cannot read CA key"):
        read_pem(tmp_path / "missing.pem", "CA key")


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """A full TLS handshake in memory (no socket): client and server exchange through BIOs."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, obj in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_tls_handshake_succeeds_for_the_certificate_names(tmp_path: Path, hostname: str) -> None:
    paths = write_bundle(tmp_path, serving_bundle(["localhost"], ["127.0.0.1"]))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(paths[1], paths[2])
    _handshake(server, ssl.create_default_context(cafile=str(paths[0])), hostname)


def test_tls_handshake_fails_for_another_name(tmp_path: Path) -> None:
    paths = write_bundle(tmp_path, serving_bundle(["localhost"]))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(paths[1], paths[2])
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, ssl.create_default_context(cafile=str(paths[0])), "mamori.other.svc")
