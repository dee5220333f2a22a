"""Who the peer is (from its verified leaf certificate) and whether a listener lets it in.

The ``ssl`` module has already validated the chain against the CA bundle when these run;
here the leaf is parsed with ``cryptography`` so that identities come from the SAN extension
itself, never from text matching on a printed subject. A leaf carrying a ``spiffe://`` URI
must also be a valid X.509-SVID (exactly one URI SAN, CA=false, no certificate signing),
as the SPIFFE standard asks validators to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from cryptography import x509
from cryptography.x509.oid import NameOID

MAX_PATTERNS = 1000
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]{1,255}")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


class IdentityError(ValueError):
    """A certificate or an allow-list entry that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The identities of a verified leaf certificate."""

    subject: str
    common_name: str | None
    uris: tuple[str, ...]
    dns: tuple[str, ...]
    spiffe_id: str | None
    serial: str
    sha256: str
    not_after: datetime
    svid_error: str | None = None  # a spiffe:// leaf that breaks the X.509-SVID rules

    def summary(self) -> str:
        return self.spiffe_id or (self.uris[0] if self.uris else None) or (
            f"dns:{self.dns[0]}" if self.dns else self.subject or f"sha256:{self.sha256[:16]}")


def check_spiffe_id(uri: str) -> str | None:
    """None when ``uri`` is a valid SPIFFE ID (SPIFFE-ID.md §2), else the reason it is not."""
    if len(uri.encode()) > 2048:
        return "longer than 2048 bytes"
    if not uri.startswith("spiffe://"):
        return "scheme is not spiffe"
    rest = uri[len("spiffe://"):]
    domain, slash, path = rest.partition("/")
    if not _TRUST_DOMAIN.fullmatch(domain):
        return "trust domain must be lowercase [a-z0-9._-], no port or user info"
    if slash:
        segments = path.split("/")
        for seg in segments:
            if seg in ("", ".", ".."):
                return "path has an empty, '.' or '..' segment (or a trailing '/')"
            if not _SEGMENT.fullmatch(seg):
                return "path segments may contain only [A-Za-z0-9._-]"
    return None


def _svid_problem(cert: x509.Certificate, uris: list[str]) -> str | None:
    if not any(u.startswith("spiffe://") for u in uris):
        return None
    if len(uris) != 1:
        return f"an X.509-SVID has exactly one URI SAN, this one has {len(uris)}"
    bad = check_spiffe_id(uris[0])
    if bad:
        return f"invalid SPIFFE ID: {bad}"
    if "/" not in uris[0][len("spiffe://"):]:
        return "a leaf SVID's SPIFFE ID has a path"
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "a leaf SVID must not be a CA"
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if ku.key_cert_sign or ku.crl_sign:
            return "a leaf SVID must not have keyCertSign or cRLSign"
        if not ku.digital_signature:
            return "a leaf SVID needs digitalSignature key usage"
    except x509.ExtensionNotFound:
        pass
    return None


def peer_from_der(der: bytes) -> Peer:
    """Parse the peer's leaf; raises IdentityError on a certificate cryptography refuses."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise IdentityError(f"unparsable peer certificate: {exc}") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = list(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns = [d.lower().rstrip(".") for d in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        uris, dns = [], []
    except ValueError as exc:
        raise IdentityError(f"unparsable subjectAltName: {exc}") from None
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        problem = _svid_problem(cert, uris)
    except ValueError as exc:  # a malformed extension that the chain check did not look at
        raise IdentityError(f"unparsable peer certificate extension: {exc}") from None
    cn = cns[0].value if cns else None
    spiffe = uris[0] if problem is None and uris and uris[0].startswith("spiffe://") else None
    return Peer(subject=cert.subject.rfc4514_string(), common_name=cn if isinstance(cn, str) else None,
                uris=tuple(uris[:16]), dns=tuple(dns[:64]), spiffe_id=spiffe, serial=format(cert.serial_number, "x"),
                sha256=sha256(der).hexdigest(), not_after=cert.not_valid_after_utc, svid_error=problem)


def _uri_match(pattern: str, uri: str) -> bool:
    """Exact, ``*`` for one path segment, and a trailing ``/*`` for any path below the prefix."""
    if pattern == uri:
        return True
    if "*" not in pattern:
        return False
    prefix_mode = pattern.endswith("/*")
    p_parts = pattern.split("/")
    u_parts = uri.split("/")
    if prefix_mode:
        head = p_parts[:-1]
        if len(u_parts) <= len(head):
            return False
        return all(p == "*" or p == u for p, u in zip(head, u_parts, strict=False)) and all(u_parts[len(head):])
    return len(p_parts) == len(u_parts) and all((p == "*" and bool(u)) or p == u for p, u in zip(p_parts, u_parts,
                                                                                          strict=True))


def _dns_match(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        head, _, tail = name.partition(".")
        return bool(head) and tail == pattern[2:]
    return pattern == name


@dataclass(frozen=True, slots=True)
class AllowList:
    """The identities a listener admits; entries of different kinds are OR'd (like Ghostunnel)."""

    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    cns: tuple[str, ...] = ()
    allow_all: bool = False

    @property
    def empty(self) -> bool:
        return not (self.uris or self.dns or self.subjects or self.cns or self.allow_all)

    @classmethod
    def build(cls, uris: tuple[str, ...] = (), dns: tuple[str, ...] = (), subjects: tuple[str, ...] = (),
              cns: tuple[str, ...] = (), allow_all: bool = False) -> AllowList:
        """Validate the patterns up front, so that a typo fails at start-up rather than denying everyone."""
        if len(uris) + len(dns) + len(subjects) + len(cns) > MAX_PATTERNS:
            raise IdentityError(f"more than {MAX_PATTERNS} allow-list entries")
        if allow_all and (uris or dns or subjects or cns):
            raise IdentityError("--allow-all cannot be combined with other --allow-* options")
        for u in uris:
            concrete = u[:-2] if u.endswith("/*") else u
            if u.startswith("spiffe://"):
                bad = check_spiffe_id(concrete.replace("*", "x"))
                if bad:
                    raise IdentityError(f"--allow-uri {u[:100]!r}: {bad}")
            elif ":" not in u or len(u) > 2048:
                raise IdentityError(f"--allow-uri {u[:100]!r} is not a URI")
        norm_dns = tuple(d.strip().lower().rstrip(".") for d in dns)
        for d in norm_dns:
            if not d or len(d) > 253 or "*" in d[1:]:
                raise IdentityError(f"--allow-dns {d[:100]!r}: a DNS name, or *.domain for one label")
        norm_subjects = []
        for s in subjects:
            try:
                norm_subjects.append(x509.Name.from_rfc4514_string(s).rfc4514_string())
            except ValueError as exc:
                raise IdentityError(f"--allow-subject {s[:100]!r} is not an RFC 4514 name: {exc}") from None
        return cls(tuple(uris), norm_dns, tuple(norm_subjects), tuple(cns), allow_all)

    def check(self, peer: Peer) -> tuple[bool, str]:
        """(allowed, reason): the reason names the matching entry or says nothing matched."""
        if peer.svid_error:
            return False, f"peer certificate is not a valid X.509-SVID: {peer.svid_error}"
        if self.allow_all:
            return True, "allow-all"
        for pat in self.uris:
            for uri in peer.uris:
                if _uri_match(pat, uri):
                    return True, f"uri {uri} matches {pat}"
        for pat in self.dns:
            for name in peer.dns:
                if _dns_match(pat, name):
                    return True, f"dns {name} matches {pat}"
        if peer.subject in self.subjects:
            return True, f"subject {peer.subject}"
        if peer.common_name is not None and peer.common_name in self.cns:
            return True, f"cn {peer.common_name}"
        return False, f"identity {peer.summary()[:300]} is not on the allow-list"
