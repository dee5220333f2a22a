"""``mamori attest REF --type T`` and ``mamori verify-attestation REF --type T``: in-toto attestations, cosign layout.

Signer options are those of ``mamori sign`` (key file, PKI certificate and chain, PKCS#11 key);
trust options those of ``mamori verify``. Errors are one line on stderr and exit 2;
``verify-attestation`` exits 1 when no attestation of the type verifies.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mamori.cli.common import failures_exit
from mamori.cli.sign import connect_options, read_passphrase, read_text, registry_options

EXIT_NOT_VERIFIED = 1


def errors() -> Any:
    from mamori.attest.errors import AttestError
    from mamori.image.errors import ImageError
    from mamori.pki.errors import PkiError
    from mamori.sign.errors import SignError

    return failures_exit(AttestError, SignError, ImageError, PkiError)


def signer_options(fn: Any) -> Any:
    """``--key``/``--hsm``, ``--cert``, ``--chain``, ``--passphrase-file``: the signing options of ``mamori sign``."""
    opts = [click.option("--key", "key_path", metavar="FILE|pkcs11:URI",
                         help="Private key: cosign's encrypted PEM, a PKCS#8 key from `mamori pki issue`, "
                              "or pkcs11:token=T;object=L (PIN from $MAMORI_PKCS11_PIN[_FILE])."),
            click.option("--hsm", "hsm_uri", metavar="pkcs11:URI", help="Sign with this PKCS#11 key (same as --key)."),
            click.option("--cert", "cert_path", type=click.Path(dir_okay=False, exists=True),
                         help="Certificate of the key (from `mamori pki issue codesign`), stored with the envelope."),
            click.option("--chain", "chain_path", type=click.Path(dir_okay=False, exists=True),
                         help="PEM chain up to the root (the PKI's chain.pem)."),
            click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True),
                         help="Key passphrase file (else $COSIGN_PASSWORD / $MAMORI_SIGN_PASSPHRASE / prompt).")]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def load_signer(key_path: str | None, hsm_uri: str | None, passphrase_file: str | None) -> Any:
    """The signer the options name; call inside :func:`errors`."""
    if bool(key_path) == bool(hsm_uri):
        raise click.UsageError("give exactly one of --key and --hsm")
    uri = hsm_uri or key_path or ""
    if uri.startswith("pkcs11:"):
        from mamori.sign.hsm import Pkcs11Signer

        return Pkcs11Signer(uri)
    from mamori.pki.store import read_small
    from mamori.sign.keys import load_private
    from mamori.sign.signer import KeySigner

    data = read_small(uri, "key")
    return KeySigner(load_private(data, read_passphrase(passphrase_file) if b"ENCRYPTED" in data else None))


@click.command(name="attest")
@click.argument("ref")
@click.option("--type", "ptype", required=True, metavar="sbom|vuln|test|approval|URI",
              help="Predicate type: a short name or any predicate type URI.")
@click.option("--predicate", "predicate_file", type=click.Path(dir_okay=False, exists=True),
              help="Predicate JSON file (required for test and URI types; else computed).")
@click.option("--vuln-db", metavar="URL", envvar="MAMORI_DB",
              help="vuln without --predicate: scan the image against this advisory database (mamori vuln db).")
@click.option("--environment", help="approval: the environment approved for (e.g. prod).")
@click.option("--approver", help="approval: who approves (the signer's identity is what gates trust).")
@click.option("--criteria", multiple=True, metavar="TEXT", help="approval: an acceptance criterion met (repeatable).")
@signer_options
@registry_options
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def attest(ref: str, ptype: str, predicate_file: str | None, vuln_db: str | None, environment: str | None,
           approver: str | None, criteria: tuple[str, ...], key_path: str | None, hsm_uri: str | None,
           cert_path: str | None, chain_path: str | None, passphrase_file: str | None, ca_file: str | None,
           insecure: bool, username: str | None, fmt: str) -> None:
    """Attest the manifest REF resolves to: an in-toto Statement in a signed DSSE envelope, appended to its .att."""
    from mamori.attest import predicates, sources, statement
    from mamori.attest.attestor import PredicateSource, attest_image

    opts = connect_options(ca_file, insecure, username)
    with errors():
        kind = statement.predicate_type(ptype)
        pred: dict[str, Any] | PredicateSource
        if predicate_file:
            pred = predicates.load_file(predicate_file)
            if kind == statement.TEST:
                pred = predicates.test_result(pred)
        elif kind == statement.SBOM:
            pred = sources.sbom(opts)
        elif kind == statement.VULN:
            if not vuln_db:
                raise click.UsageError("--type vuln needs --vuln-db URL (or --predicate FILE)")
            pred = sources.vuln(vuln_db, opts)
        elif kind == statement.APPROVAL:
            if not environment or not (approver or cert_path):
                raise click.UsageError("--type approval needs --environment and --approver (or --predicate FILE)")
            pred = sources.approval(approver or _cert_identity(cert_path or ""), environment, list(criteria), opts)
        else:
            raise click.UsageError(f"--type {ptype} needs --predicate FILE")
        signer = load_signer(key_path, hsm_uri, passphrase_file)
        res = attest_image(ref, kind, pred, signer, opts, cert_pem=read_text(cert_path, "certificate"),
                           chain_pem=read_text(chain_path, "chain"))
    if fmt == "json":
        click.echo(json.dumps({"digest": res.digest, "attestations": res.att_ref, "predicateType": res.predicate_type,
                               "envelope": res.layer_digest, "count": res.attestations}, indent=2))
    else:
        click.echo(f"attested {res.digest} ({statement.short_name(res.predicate_type)}): {res.att_ref} now holds "
                   f"{res.attestations} attestation(s)")


def _cert_identity(path: str) -> str:
    from cryptography import x509

    from mamori.attest.errors import AttestError
    from mamori.pki.store import read_small

    try:
        cert = x509.load_pem_x509_certificate(read_small(path, "certificate"))
    except ValueError:
        raise AttestError(f"{path} is not a PEM certificate") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
    except x509.ExtensionNotFound:
        names = []
    return names[0] if names else cert.subject.rfc4514_string()


@click.command(name="verify-attestation")
@click.argument("ref")
@click.option("--type", "ptype", required=True, metavar="sbom|vuln|test|approval|URI", help="Predicate type to find.")
@click.option("--environment", help="approval: it must approve this environment.")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Trusted public key (repeatable).")
@click.option("--pki", "pki_dir", type=click.Path(file_okay=False, exists=True),
              help="Trust certificates from this mamori PKI (root, intermediate, crl.pem).")
@click.option("--root", "roots", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Trusted root certificate (repeatable).")
@click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False, exists=True), help="CRL (repeatable).")
@click.option("--identity", "identities", multiple=True, metavar="SAN|KEY",
              help="Count only attestations signed by these identities.")
@click.option("--any-repository", is_flag=True, help="Accept statements whose subject names another repository.")
@click.option("--print-predicate", is_flag=True, help="Print the predicate of the newest verified attestation.")
@click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@registry_options
def verify_attestation(ref: str, ptype: str, environment: str | None, keys: tuple[str, ...], pki_dir: str | None,
                       roots: tuple[str, ...], crls: tuple[str, ...], identities: tuple[str, ...],
                       any_repository: bool, print_predicate: bool, fmt: str, ca_file: str | None, insecure: bool,
                       username: str | None) -> None:
    """Verify REF's attestations of a type: exit 0 verified, 1 not verified, 2 error."""
    from mamori.attest import statement
    from mamori.attest.trust import Requirement, meets
    from mamori.attest.verify import verify_attestations
    from mamori.sign.config import build_policy

    with errors():
        kind = statement.predicate_type(ptype)
        if environment and kind != statement.APPROVAL:
            raise click.UsageError("--environment applies to --type approval")
        policy = build_policy(keys=keys, pki=pki_dir, roots=roots, crls=crls, identities=identities,
                              match_repository=not any_repository)
    report = verify_attestations(ref, policy, connect_options(ca_file, insecure, username), kind,
                                 only=frozenset({kind}))
    ok, reason = report.ok, report.reason
    if ok and environment:
        ok, reason = meets(report, Requirement(kind, environment))
    if fmt == "json":
        doc = report.to_json()
        doc.update({"verified": ok, "reason": reason})
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(f"{'VERIFIED' if ok else 'NOT VERIFIED'} {ref} {report.digest or ''}".rstrip())
        click.echo(f"  {reason}")
        for a in report.attestations:
            click.echo(f"  attestation #{a.index} {statement.short_name(a.predicate_type) or '?'}: "
                       f"{'ok' if a.ok else 'FAILED'}: {a.reason}")
    if ok and print_predicate:
        good = report.verified(kind)
        if good and good[-1].statement is not None:
            click.echo(json.dumps(good[-1].statement.predicate, indent=2))
    sys.exit(0 if ok else EXIT_NOT_VERIFIED)
