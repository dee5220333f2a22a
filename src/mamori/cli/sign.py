"""``mamori sign REF`` / ``mamori sign keygen`` / ``mamori verify REF``: cosign and GPG image signatures.

Errors are one line on stderr and exit 2; ``verify`` exits 1 when the image is not trusted.
Passphrases come from ``--passphrase-file``, ``$COSIGN_PASSWORD`` (as cosign) or
``$MAMORI_SIGN_PASSPHRASE``, else a prompt; they are never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

import click

from mamori.cli.common import fail as _fail
from mamori.cli.common import failures_exit

EXIT_NOT_TRUSTED, EXIT_ERROR = 1, 2
PASS_ENVS = ("COSIGN_PASSWORD", "MAMORI_SIGN_PASSPHRASE")


def _errors() -> contextlib.AbstractContextManager[None]:
    from mamori.image.errors import ImageError
    from mamori.pki.errors import PkiError
    from mamori.sign.errors import SignError

    return failures_exit(SignError, ImageError, PkiError)


def read_passphrase(path: str | None, *, confirm: bool = False) -> bytes:
    if path:
        from mamori.pki.store import read_small

        raw = read_small(path, "passphrase file")
        return raw.splitlines()[0] if raw.strip() else b""
    for env in PASS_ENVS:
        if env in os.environ:
            return os.environ[env].encode()  # empty is allowed, as with cosign
    if not sys.stdin.isatty():
        _fail("no key passphrase: use --passphrase-file, COSIGN_PASSWORD or MAMORI_SIGN_PASSPHRASE")
    return str(click.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm, err=True)).encode()


def registry_options(fn: Any) -> Any:
    opts = [click.option("--ca-file", type=click.Path(dir_okay=False, exists=True),
                         help="Trust this CA bundle for the registry's TLS certificate."),
            click.option("--insecure", is_flag=True,
                         help="Loopback registries only: skip TLS verification, fall back to plain HTTP."),
            click.option("--username", envvar="MAMORI_REGISTRY_USERNAME",
                         help="Registry user (password from MAMORI_REGISTRY_PASSWORD).")]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def connect_options(ca_file: str | None, insecure: bool, username: str | None) -> Any:
    from mamori.image.auth import Credentials
    from mamori.image.registry import RegistryOptions

    creds = Credentials(username, os.environ.get("MAMORI_REGISTRY_PASSWORD", "")) if username else None
    return RegistryOptions(ca_file=ca_file, insecure=insecure, credentials=creds)


def read_text(path: str | None, what: str) -> str | None:
    if not path:
        return None
    from mamori.pki.store import read_small

    return read_small(path, what).decode("ascii", "replace")


class _SignGroup(click.Group):
    """``mamori sign REF`` signs; ``mamori sign keygen`` is a sub-command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["image", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_SignGroup)
def sign() -> None:
    """Sign images: `mamori sign REF --key cosign.key`, `mamori sign REF --gpg-key FPR --lookaside DIR`, `keygen`."""


@sign.command(name="image")
@click.argument("ref")
@click.option("--key", "key_path", metavar="FILE|pkcs11:URI",
              help="Private key: cosign's encrypted PEM, a PKCS#8 key from `mamori pki issue`, or an HSM key "
                   "pkcs11:token=T;object=L[?module-path=...] (PIN from $MAMORI_PKCS11_PIN[_FILE]).")
@click.option("--cert", "cert_path", type=click.Path(dir_okay=False, exists=True),
              help="Certificate of the key (from `mamori pki issue codesign`), stored with the signature.")
@click.option("--chain", "chain_path", type=click.Path(dir_okay=False, exists=True),
              help="PEM chain up to the root (the PKI's chain.pem), stored with the signature.")
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Extra claim in the payload's optional section (repeatable).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True), help="Key passphrase file.")
@click.option("--gpg-key", metavar="KEYID",
              help="GPG simple signing instead (containers/image format, skopeo `signedBy`): sign with this "
                   "GnuPG key (fingerprint, key id or user id) into --lookaside.")
@click.option("--gpg-home", type=click.Path(file_okay=False, exists=True),
              help="GnuPG home directory holding the secret key (default $GNUPGHOME, ~/.gnupg).")
@click.option("--lookaside", metavar="DIR",
              help="Lookaside directory for GPG signatures (<repo>@sha256=<hex>/signature-N; file:// URL accepted).")
@click.option("--sign-identity", metavar="REF",
              help="The docker-reference the payload names, as skopeo's flag (default: cosign the repository, "
                   "GPG REF itself with its tag). Needed for policy.json matchRepoDigestOrExact/matchExact.")
@registry_options
def sign_image(ref: str, key_path: str | None, cert_path: str | None, chain_path: str | None,
               annotations: tuple[str, ...], passphrase_file: str | None, gpg_key: str | None, gpg_home: str | None,
               lookaside: str | None, sign_identity: str | None, ca_file: str | None, insecure: bool,
               username: str | None) -> None:
    """Sign the manifest REF resolves to: cosign (--key; appended to its sha256-<hex>.sig) or GPG (--gpg-key)."""
    from mamori.sign.keys import load_private
    from mamori.sign.signer import sign_image as do_sign

    if bool(key_path) == bool(gpg_key):
        raise click.UsageError("give exactly one of --key (cosign format) and --gpg-key (GPG simple signing)")
    if gpg_key:
        if not lookaside:
            raise click.UsageError("--gpg-key needs --lookaside DIR (where skopeo/podman read signatures)")
        if cert_path or chain_path or annotations:
            raise click.UsageError("--cert, --chain and --annotation are for cosign signatures (--key)")
        from mamori.sign.simple import sign_image as gpg_sign

        with _errors():
            done = gpg_sign(ref, gpg_key, connect_options(ca_file, insecure, username), lookaside, home=gpg_home,
                           passphrase_file=passphrase_file, sign_identity=sign_identity)
        click.echo(f"signed {done.digest} as {done.identity} with GPG key {done.fingerprint}: {done.path}"
                   + ("" if done.appended else " (this signature was already there)"))
        return
    if gpg_home or lookaside:
        raise click.UsageError("--gpg-home and --lookaside are for GPG signatures (--gpg-key)")
    assert key_path is not None
    extra: dict[str, str] = {}
    for pair in annotations:
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise click.UsageError(f"--annotation {pair[:40]!r}: expected KEY=VALUE")
        extra[k] = v
    with _errors():
        from mamori.pki.store import read_small
        from mamori.sign.signer import Signer

        key: Any
        if key_path.startswith("pkcs11:"):
            from mamori.sign.hsm import Pkcs11Signer

            key = Pkcs11Signer(key_path)
        else:
            data = read_small(key_path, "key")
            key = load_private(data, read_passphrase(passphrase_file) if b"ENCRYPTED" in data else None)
        signer: Signer = key
        res = do_sign(ref, signer, connect_options(ca_file, insecure, username),
                      cert_pem=read_text(cert_path, "certificate"),
                      chain_pem=read_text(chain_path, "chain"), annotations=extra or None, identity=sign_identity)
    click.echo(f"signed {res.digest}: {res.sig_ref} now holds {res.signatures} signature(s)"
               + ("" if res.appended else " (this signature was already there)"))


@sign.command(name="keygen")
@click.option("--output-key-prefix", "prefix", default="cosign", show_default=True,
              help="Writes PREFIX.key (encrypted) and PREFIX.pub.")
@click.option("--label", type=click.Choice(("sigstore", "cosign")), default="sigstore", show_default=True,
              help="PEM label: SIGSTORE (cosign v2+, containers/image >= 5.25) or COSIGN (cosign v1, older skopeo).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True), help="Key passphrase file.")
@click.option("--force", is_flag=True, help="Replace existing files.")
@click.option("--pkcs11", "pkcs11_uri", metavar="URI",
              help="Generate the key inside a PKCS#11 token (pkcs11:token=T;object=L); writes only PREFIX.pub.")
def keygen(prefix: str, label: str, passphrase_file: str | None, force: bool, pkcs11_uri: str | None) -> None:
    """An ECDSA P-256 key pair in cosign's format (scrypt N=32768 r=8 p=1, NaCl secretbox)."""
    from mamori.sign.keys import COSIGN_LABEL, SIGSTORE_LABEL, encrypted_pem, generate, public_pem

    key_file, pub_file = f"{prefix}.key", f"{prefix}.pub"
    for f in (pub_file,) if pkcs11_uri else (key_file, pub_file):
        if os.path.exists(f) and not force:
            _fail(f"{f} exists (use --force to replace it)")
    if pkcs11_uri:
        from mamori.sign.hsm import Pkcs11Signer

        with _errors():
            pub = Pkcs11Signer(pkcs11_uri).generate()
            with open(pub_file, "wb") as fh:
                fh.write(public_pem(pub))
        click.echo(f"generated the key on the token; wrote {pub_file}")
        return
    with _errors():
        key = generate()
        pem = encrypted_pem(key, read_passphrase(passphrase_file, confirm=True),
                            SIGSTORE_LABEL if label == "sigstore" else COSIGN_LABEL)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        with open(pub_file, "wb") as fh:
            fh.write(public_pem(key))
    click.echo(f"wrote {key_file} (encrypted) and {pub_file}")


@click.command(name="verify")
@click.argument("ref")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Trusted public key (cosign.pub; repeatable).")
@click.option("--pki", "pki_dir", type=click.Path(file_okay=False, exists=True),
              help="Trust certificates from this mamori PKI (its root, intermediate and crl.pem).")
@click.option("--root", "roots", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Trusted root certificate (repeatable).")
@click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False, exists=True), help="CRL (repeatable).")
@click.option("--identity", "identities", multiple=True, metavar="SAN|KEY",
              help="Count only signatures by these identities (certificate SAN, key file name or key id).")
@click.option("--require", "required", multiple=True, metavar="SAN|KEY",
              help="This signer must be among the verified ones (repeatable: all of them).")
@click.option("--min-signatures", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Distinct verified signers needed.")
@click.option("--any-repository", is_flag=True, help="Accept payloads naming another repository (copied images).")
@click.option("--gpg-keyring", type=click.Path(dir_okay=False, exists=True),
              help="Also count GPG simple signatures made by a key of this keyring (gpg --export [--armor]).")
@click.option("--lookaside", metavar="DIR", help="Where the GPG signatures are (file:// URL accepted).")
@click.option("--signed-identity", type=click.Choice(("repository", "repo-digest-or-exact", "exact")),
              help="How the signed docker-reference must match REF (policy.json matchRepository / "
                   "matchRepoDigestOrExact / matchExact). Default: repository for cosign, "
                   "repo-digest-or-exact for GPG.")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@registry_options
def verify(ref: str, keys: tuple[str, ...], pki_dir: str | None, roots: tuple[str, ...], crls: tuple[str, ...],
           identities: tuple[str, ...], required: tuple[str, ...], min_signatures: int, any_repository: bool,
           gpg_keyring: str | None, lookaside: str | None, signed_identity: str | None,
           fmt: str, ca_file: str | None, insecure: bool, username: str | None) -> None:
    """Verify REF's cosign and/or GPG signatures: exit 0 trusted, 1 not trusted, 2 error."""
    from mamori.sign.config import build_policy
    from mamori.sign.verifier import verify_image

    if any_repository and signed_identity:
        raise click.UsageError("--any-repository and --signed-identity contradict each other")
    with _errors():
        policy = build_policy(keys=keys, pki=pki_dir, roots=roots, crls=crls, identities=identities,
                              required=required, min_signatures=min_signatures, match_repository=not any_repository,
                              gpg_keyring=gpg_keyring, lookaside=lookaside, signed_identity=signed_identity)
    report = verify_image(ref, policy, connect_options(ca_file, insecure, username))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(f"{'VERIFIED' if report.ok else 'NOT VERIFIED'} {ref} {report.digest or ''}".rstrip())
        click.echo(f"  {report.reason}")
        for s in report.signatures:
            click.echo(f"  signature #{s.index}: {'ok' if s.ok else 'FAILED'}: {s.reason}")
    sys.exit(0 if report.ok else EXIT_NOT_TRUSTED)
