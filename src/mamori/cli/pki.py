"""``mamori pki``: the organisation's root and intermediate CA, leaf certificates, revocation, checks.

The PKI passphrase comes from ``--passphrase-file`` or ``$MAMORI_PKI_PASSPHRASE``, never from a
command-line value. Errors are one line on stderr and exit 2; ``verify`` exits 1 when the
certificate is not valid.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from mamori.cli.common import fail as _fail
from mamori.cli.common import failures_exit

EXIT_INVALID, EXIT_ERROR = 1, 2
MIN_PASSPHRASE = 12


def _errors() -> contextlib.AbstractContextManager[None]:
    from mamori.pki.errors import PkiError
    from mamori.sign.errors import SignError

    return failures_exit(PkiError, SignError)


def _dir_opt(fn: Any) -> Any:
    return click.option("--dir", "pki_dir", type=click.Path(file_okay=False), envvar="MAMORI_PKI_DIR",
                        help="PKI directory (default: $MAMORI_HOME/pki).")(fn)


def _pass_opt(fn: Any) -> Any:
    return click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True),
                        help="PKI passphrase file (else $MAMORI_PKI_PASSPHRASE).")(fn)


def _lifetime(text: str | None) -> dt.timedelta | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d{1,4})([hd])", text)
    if not m:
        raise click.UsageError(f"--lifetime {text[:20]!r}: expected e.g. 24h or 30d")
    n = int(m.group(1))
    return dt.timedelta(hours=n) if m.group(2) == "h" else dt.timedelta(days=n)


@click.group(name="pki")
def pki() -> None:
    """Organisation PKI: `init`, `issue codesign|workload`, `revoke`, `crl`, `inspect`, `verify`, `list`."""


@pki.command(name="init")
@_dir_opt
@_pass_opt
@click.option("--org", default="mamori", show_default=True, help="Organisation name in the CA subjects.")
@click.option("--algorithm", type=click.Choice(("ecdsa-p256", "ed25519")), default="ecdsa-p256", show_default=True,
              help="CA key type (Ed25519 chains cannot be used by Web PKI clients).")
@click.option("--pkcs11", "pkcs11_uri", metavar="URI",
              help="Keep both CA keys in a PKCS#11 token: pkcs11:token=T;object=PREFIX (keys PREFIX-root, "
                   "PREFIX-intermediate; PIN from $MAMORI_PKCS11_PIN[_FILE], module from $MAMORI_PKCS11_MODULE).")
def init_cmd(pki_dir: str | None, passphrase_file: str | None, org: str, algorithm: str,
             pkcs11_uri: str | None) -> None:
    """Create the root CA and the intermediate, keys encrypted with the passphrase (or inside an HSM)."""
    from mamori.pki import ca
    from mamori.pki.store import PkiDir, read_passphrase

    with _errors():
        store = PkiDir(pki_dir)
        passphrase = b""
        if pkcs11_uri is None:
            passphrase = read_passphrase(passphrase_file)
            if len(passphrase) < MIN_PASSPHRASE:
                _fail(f"the PKI passphrase must have at least {MIN_PASSPHRASE} characters (it protects the CA keys)")
        root, inter = ca.init(store, passphrase, org, algorithm, pkcs11_uri)
    click.echo(f"created {store.path}: root {root.subject.rfc4514_string()} "
               f"(until {root.not_valid_after_utc:%Y-%m-%d}), intermediate {inter.subject.rfc4514_string()}; "
               f"trust anchor: {store.file('root.crt')}")


def _ca_pass(store: Any, passphrase_file: str | None) -> bytes:
    """The PKI passphrase, unless the CA keys live in a token (then its PIN is used instead)."""
    from mamori.pki.store import read_passphrase

    store.require()
    return b"" if store.hsm() is not None else read_passphrase(passphrase_file)


def _leaf_key_passphrase(path: str | None, pki_pass: bytes) -> bytes:
    if path:
        from mamori.pki.store import read_small

        raw = read_small(path, "key passphrase file")
        return raw.splitlines()[0] if raw.strip() else b""
    for env in ("COSIGN_PASSWORD", "MAMORI_SIGN_PASSPHRASE"):
        if os.environ.get(env):
            return os.environ[env].encode()
    if not pki_pass:  # CA keys in a token: there is no PKI passphrase to fall back on
        _fail("the new private key needs a passphrase: --key-passphrase-file or COSIGN_PASSWORD")
    click.echo("mamori: note: the new private key is encrypted with the PKI passphrase "
               "(use --key-passphrase-file or COSIGN_PASSWORD for another one)", err=True)
    return pki_pass


def _issue(kind: str, pki_dir: str | None, passphrase_file: str | None, out: str, public_key: str | None,
           key_passphrase_file: str | None, lifetime: str | None, plain_key: bool, **names: tuple[str, ...]) -> None:
    from mamori.pki import ca
    from mamori.pki.store import PkiDir, cert_pem, read_small, write_atomic
    from mamori.sign.keys import encrypted_pem, load_public

    with _errors():
        store = PkiDir(pki_dir)
        store.require()
        pass_ = _ca_pass(store, passphrase_file)
        req = ca.LeafRequest(kind, emails=names.get("emails", ()), uris=names.get("uris", ()),
                             dns=names.get("dns", ()), ips=names.get("ips", ()), lifetime=_lifetime(lifetime))
        if public_key:
            pub = load_public(read_small(public_key, "public key"))
            cert = ca.issue(store, pass_, req, pub)
            key_file = None
        else:
            key = ca.new_key("ecdsa-p256")
            cert = ca.issue(store, pass_, req, key.public_key())
            key_file = Path(f"{out}.key")
            if kind == "codesign":
                data = encrypted_pem(key, _leaf_key_passphrase(key_passphrase_file, pass_))
            elif plain_key:
                from cryptography.hazmat.primitives import serialization

                data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
            else:
                from mamori.pki.store import encrypt_key

                data = encrypt_key(key, _leaf_key_passphrase(key_passphrase_file, pass_))
        crt = Path(f"{out}.crt")
        crt.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(crt, cert_pem(cert), 0o644)
        write_atomic(Path(f"{out}.chain.pem"), read_small(store.file("chain.pem"), "chain"), 0o644)
        if key_file is not None:
            write_atomic(key_file, data, 0o600)
    click.echo(f"issued {kind} certificate serial {cert.serial_number:x} "
               f"until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: "
               f"{crt}{', ' + str(key_file) if key_file else ''}, {out}.chain.pem")


def _issue_opts(fn: Any) -> Any:
    opts = [_dir_opt, _pass_opt,
            click.option("--out", required=True, metavar="PREFIX",
                         help="Writes PREFIX.crt, PREFIX.key and PREFIX.chain.pem."),
            click.option("--public-key", type=click.Path(dir_okay=False, exists=True),
                         help="Certify this existing public key (e.g. cosign.pub) instead of making a key."),
            click.option("--key-passphrase-file", type=click.Path(dir_okay=False, exists=True),
                         help="Passphrase for the new private key (else $COSIGN_PASSWORD, else the PKI passphrase)."),
            click.option("--lifetime", metavar="24h|30d", help="Validity (default: codesign 30d, workload 24h).")]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@pki.group(name="issue")
def issue() -> None:
    """Issue a leaf certificate signed by the intermediate."""


@issue.command(name="codesign")
@_issue_opts
@click.option("--email", "emails", multiple=True, help="Signer identity as an e-mail SAN.")
@click.option("--uri", "uris", multiple=True, help="Signer identity as a URI SAN (e.g. a pipeline URL).")
def issue_codesign(pki_dir: str | None, passphrase_file: str | None, out: str, public_key: str | None,
                   key_passphrase_file: str | None, lifetime: str | None, emails: tuple[str, ...],
                   uris: tuple[str, ...]) -> None:
    """Code signing (EKU codeSigning); the key is written in cosign's encrypted format."""
    _issue("codesign", pki_dir, passphrase_file, out, public_key, key_passphrase_file, lifetime, False,
           emails=emails, uris=uris)


@issue.command(name="workload")
@_issue_opts
@click.option("--spiffe", required=True, help="SPIFFE ID, e.g. spiffe://trust.domain/ns/NS/sa/SA.")
@click.option("--dns", "dns", multiple=True, help="Also a DNS name SAN (repeatable).")
@click.option("--ip", "ips", multiple=True, help="Also an IP address SAN (repeatable).")
@click.option("--plain-key", is_flag=True, help="Write the private key unencrypted (0600) for TLS servers.")
def issue_workload(pki_dir: str | None, passphrase_file: str | None, out: str, public_key: str | None,
                   key_passphrase_file: str | None, lifetime: str | None, spiffe: str, dns: tuple[str, ...],
                   ips: tuple[str, ...], plain_key: bool) -> None:
    """Workload identity for mTLS (SPIFFE URI SAN, serverAuth + clientAuth)."""
    _issue("workload", pki_dir, passphrase_file, out, public_key, key_passphrase_file, lifetime, plain_key,
           uris=(spiffe,), dns=dns, ips=ips)


@pki.command(name="revoke")
@click.argument("serial")
@click.option("--reason", help="CRL reason, e.g. keyCompromise, superseded, cessationOfOperation.")
@_dir_opt
@_pass_opt
def revoke_cmd(serial: str, reason: str | None, pki_dir: str | None, passphrase_file: str | None) -> None:
    """Revoke an issued serial (hex, as `list` shows) and publish a new CRL."""
    from mamori.pki import ca
    from mamori.pki.store import PkiDir

    with _errors():
        store = PkiDir(pki_dir)
        ca.revoke(store, _ca_pass(store, passphrase_file), serial, reason)
    click.echo(f"revoked {serial}; CRL written to {store.file('crl.pem')}")


@pki.command(name="crl")
@_dir_opt
@_pass_opt
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Also copy the CRL here.")
def crl_cmd(pki_dir: str | None, passphrase_file: str | None, output: str | None) -> None:
    """Publish a fresh CRL (valid 7 days) signed by the intermediate."""
    from mamori.pki import ca
    from mamori.pki.store import PkiDir

    with _errors():
        store = PkiDir(pki_dir)
        data = ca.crl(store, _ca_pass(store, passphrase_file))
        if output:
            Path(output).write_bytes(data)
    click.echo(f"CRL written to {store.file('crl.pem')}" + (f" and {output}" if output else ""))


@pki.command(name="list")
@_dir_opt
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def list_cmd(pki_dir: str | None, fmt: str) -> None:
    """Issued serials from the index."""
    from mamori.pki.store import PkiDir

    with _errors():
        store = PkiDir(pki_dir)
        store.require()
        entries = store.index()
    if fmt == "json":
        click.echo(json.dumps([e.to_json() for e in entries.values()], indent=2))
        return
    for e in entries.values():
        state = f"REVOKED {e.revoked_at}" if e.revoked_at else f"until {e.not_after}"
        click.echo(f"{e.serial}  {e.kind:<9} {', '.join(e.identities)}  {state}")


def _load_cert(path: str) -> Any:
    from mamori.pki.store import load_certs, read_small

    certs = load_certs(read_small(path, "certificate"), path)
    return certs[0], certs[1:]


@pki.command(name="inspect")
@click.argument("cert", type=click.Path(dir_okay=False, exists=True))
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def inspect_cmd(cert: str, fmt: str) -> None:
    """Show a certificate: subject, issuer, serial, validity, identities, EKU, fingerprint."""
    from mamori.pki.verify import describe

    with _errors():
        leaf, _ = _load_cert(cert)
        info = describe(leaf)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        return
    for k, v in info.items():
        click.echo(f"{k:<11} {', '.join(map(str, v)) if isinstance(v, list) else v}")


@pki.command(name="verify")
@click.argument("cert", type=click.Path(dir_okay=False, exists=True))
@click.option("--chain", "chain", type=click.Path(dir_okay=False, exists=True),
              help="Intermediates (PEM); certificates after the first in CERT are used too.")
@click.option("--root", "roots", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Trusted root (default: the PKI's root.crt).")
@click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="CRL to check (default: the PKI's crl.pem if present).")
@click.option("--eku", type=click.Choice(("codesign", "server", "client")), help="Required extended key usage.")
@click.option("--identity", "identities", multiple=True, help="Required identity (SAN; any of them).")
@_dir_opt
def verify_cmd(cert: str, chain: str | None, roots: tuple[str, ...], crls: tuple[str, ...], eku: str | None,
               identities: tuple[str, ...], pki_dir: str | None) -> None:
    """Path to a trusted root, validity, CA constraints, EKU, revocation: exit 0 valid, 1 invalid."""
    from mamori.pki.store import PkiDir, load_certs, read_small
    from mamori.pki.verify import verify_chain
    from mamori.sign.config import load_crls

    with _errors():
        leaf, extra = _load_cert(cert)
        inter = list(extra) + (load_certs(read_small(chain, "chain"), chain) if chain else [])
        store = PkiDir(pki_dir)
        root_certs = [c for r in roots for c in load_certs(read_small(r, "root"), r)]
        crl_list = list(load_crls(crls))
        if not roots:
            store.require()
            root_certs = [store.cert("root")]
            inter.append(store.cert("intermediate"))
            if not crls and store.file("crl.pem").exists():
                crl_list = list(load_crls([str(store.file("crl.pem"))]))
        # a root given inside CERT/--chain is not trusted because of that
        inter = [c for c in inter if c not in root_certs]
        res = verify_chain(leaf, inter, root_certs, eku=eku, crls=crl_list, allowed_identities=identities)
    click.echo(f"{'VALID' if res.ok else 'INVALID'}: {res.reason}"
               + (f" (identities: {', '.join(res.identities)})" if res.identities else ""))
    sys.exit(0 if res.ok else EXIT_INVALID)
