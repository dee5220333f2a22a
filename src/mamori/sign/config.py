"""Build a :class:`TrustPolicy` from files: public keys, a PKI directory or root/CRL files, identities.

Shared by ``mamori verify`` flags and the policy's ``trust.signatures`` mapping, so both mean
the same thing. Paths are read once at load time; a file that cannot be read is an error, never
an empty trust set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography import x509

from mamori.pki.errors import PkiError
from mamori.pki.store import load_certs, read_small
from mamori.sign.errors import SignError
from mamori.sign.gpg import Keyring, load_keyring
from mamori.sign.identity import RULES
from mamori.sign.keys import PublicKey, load_public
from mamori.sign.verifier import TrustPolicy

KEYS = {"keys", "pki", "roots", "intermediates", "crls", "identities", "required", "min-signatures",
        "match-repository", "cache-ttl", "gpg-keyring", "lookaside", "signed-identity"}


def _read(path: str, what: str) -> bytes:
    try:
        return read_small(path, what)
    except PkiError as exc:
        raise SignError(str(exc)) from None


def load_keys(paths: Iterable[str]) -> dict[str, PublicKey]:
    out: dict[str, PublicKey] = {}
    for p in paths:
        name = os.path.basename(p).removesuffix(".pub").removesuffix(".pem") or p
        if name in out:
            name = p
        out[name] = load_public(_read(p, "public key"))
    return out


def load_crls(paths: Iterable[str]) -> tuple[x509.CertificateRevocationList, ...]:
    crls = []
    for p in paths:
        data = _read(p, "CRL")
        try:
            crls.append(x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data))
        except ValueError:
            raise SignError(f"{p} is not a CRL") from None
    return tuple(crls)


def build_policy(*, keys: Iterable[str] = (), pki: str | None = None, roots: Iterable[str] = (),
                 intermediates: Iterable[str] = (), crls: Iterable[str] = (), identities: Iterable[str] = (),
                 required: Iterable[str] = (), min_signatures: int = 1, match_repository: bool = True,
                 gpg_keyring: str | None = None, lookaside: str | None = None,
                 signed_identity: str | None = None) -> TrustPolicy:
    root_certs: list[x509.Certificate] = []
    inter_certs: list[x509.Certificate] = []
    crl_paths = list(crls)
    if pki:
        base = Path(pki)
        root_certs += load_certs(_read(str(base / "root.crt"), "PKI root"), "root.crt")
        inter_certs += load_certs(_read(str(base / "intermediate.crt"), "PKI intermediate"), "intermediate.crt")
        if (base / "crl.pem").exists():
            crl_paths.append(str(base / "crl.pem"))
    for r in roots:
        root_certs += load_certs(_read(r, "root certificate"), r)
    for i in intermediates:
        inter_certs += load_certs(_read(i, "intermediate certificate"), i)
    if min_signatures < 1 or min_signatures > 64:
        raise SignError("min-signatures must be between 1 and 64")
    if signed_identity is not None and signed_identity not in RULES:
        raise SignError(f"signed identity must be one of {', '.join(RULES)}")
    ring: Keyring | None = None
    if gpg_keyring:
        ring = load_keyring(_read(gpg_keyring, "GPG keyring"))
        if not lookaside:
            raise SignError("a GPG keyring needs a lookaside directory (where the signatures are)")
        required = [_full_fingerprint(r, ring) for r in required]
    elif lookaside:
        raise SignError("a lookaside directory is only read for GPG signatures: give a GPG keyring")
    policy = TrustPolicy(keys=load_keys(keys), roots=tuple(root_certs), intermediates=tuple(inter_certs),
                         crls=load_crls(crl_paths), identities=tuple(identities), required=tuple(required),
                         min_signatures=min_signatures, match_repository=match_repository, gpg_keyring=ring,
                         lookaside=lookaside, signed_identity=signed_identity)
    if not policy.keys and not policy.roots and policy.gpg_keyring is None:
        raise SignError("no trusted key or root: give at least one key, a PKI or a GPG keyring")
    return policy


def _full_fingerprint(name: str, ring: Keyring) -> str:
    """A required GPG signer given as a fingerprint or long key id -> the keyring's full fingerprint."""
    want = name.upper().removeprefix("0X")
    if len(want) < 16 or any(c not in "0123456789ABCDEF" for c in want):
        return name
    hits = [f for f in ring.fingerprints if f.endswith(want)]
    return hits[0] if len(hits) == 1 else want


def _strs(doc: Mapping[str, object], key: str) -> list[str]:
    value = doc.get(key, [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SignError(f"trust.signatures.{key} must be a list of strings")
    return [str(v) for v in value]


def policy_from_mapping(doc: Mapping[str, object]) -> tuple[TrustPolicy, float]:
    """The policy's ``trust.signatures`` mapping -> (policy, cache TTL seconds)."""
    unknown = set(doc) - KEYS
    if unknown:
        raise SignError(f"trust.signatures: unknown key(s) {', '.join(sorted(unknown))}")
    pki = doc.get("pki")
    if pki is not None and not isinstance(pki, str):
        raise SignError("trust.signatures.pki must be a directory path")
    n = doc.get("min-signatures", 1)
    ttl = doc.get("cache-ttl", 300)
    match = doc.get("match-repository", True)
    if not isinstance(n, int) or isinstance(n, bool):
        raise SignError("trust.signatures.min-signatures must be an integer")
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 0 <= ttl <= 86400:
        raise SignError("trust.signatures.cache-ttl must be 0..86400 seconds")
    if not isinstance(match, bool):
        raise SignError("trust.signatures.match-repository must be true or false")
    opt: dict[str, str | None] = {}
    for key in ("gpg-keyring", "lookaside", "signed-identity"):
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise SignError(f"trust.signatures.{key} must be a string")
        opt[key] = value
    policy = build_policy(keys=_strs(doc, "keys"), pki=pki, roots=_strs(doc, "roots"),
                          intermediates=_strs(doc, "intermediates"), crls=_strs(doc, "crls"),
                          identities=_strs(doc, "identities"), required=_strs(doc, "required"),
                          min_signatures=n, match_repository=match, gpg_keyring=opt["gpg-keyring"],
                          lookaside=opt["lookaside"], signed_identity=opt["signed-identity"])
    return policy, float(ttl)
