"""``mamori forensics``: capture a live container's evidence into a signed bundle, verify a bundle offline.

Exit codes: capture 0 written, 2 error; verify 0 intact, 1 tampered (each problem named), 2 error.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime

import click

from mamori.cli.common import fail

MiB = 1 << 20


def _passphrase(var: str | None) -> bytes | None:
    if not var:
        return None
    value = os.environ.get(var)
    if value is None:
        fail(f"--passphrase-env: environment variable {var} is not set")
    return value.encode()


@click.group()
def forensics() -> None:
    """Evidence bundles of live containers: capture (signed, hash-listed) and verify."""


@forensics.command()
@click.argument("container")
@click.option("-o", "--output", metavar="DIR|FILE.tar",
              help="Bundle directory, or a .tar file (default: ./forensics-NAME-UTCSTAMP). Never overwritten.")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False),
              help="Private key that signs the manifest (PKCS#8 PEM, cosign or `mamori log keygen` key; "
                   "ECDSA, Ed25519 or RSA).")
@click.option("--cert", type=click.Path(dir_okay=False), help="The key's X.509 certificate (PEM), put in signer.pem.")
@click.option("--chain", type=click.Path(dir_okay=False), help="Intermediate certificates (PEM) after --cert.")
@click.option("--passphrase-env", metavar="VAR", help="Environment variable holding the key's passphrase.")
@click.option("-H", "--host", metavar="DOCKER_HOST", help="Docker daemon (unix:///path, tcp://host:port, docker://...; "
                                                          "default: $DOCKER_HOST).")
@click.option("--export-fs", is_flag=True, help="Also keep the whole container file system (docker export).")
@click.option("--max-export", default=2048, show_default=True, type=click.IntRange(1, 1 << 20), metavar="MIB",
              help="Bound of the file system export; a larger one is not kept (and said so).")
@click.option("--max-file", default=8, show_default=True, type=click.IntRange(0, 1 << 20), metavar="MIB",
              help="Bound of one changed file's kept content.")
@click.option("--max-files-total", default=256, show_default=True, type=click.IntRange(0, 1 << 20), metavar="MIB",
              help="Bound of all changed files' kept content.")
@click.option("--max-logs", default=64, show_default=True, type=click.IntRange(0, 1 << 20), metavar="MIB",
              help="Bound of each log stream (stdout, stderr); longer logs are truncated (and marked).")
@click.option("--ps-args", default="-ef", show_default=True, help="ps arguments for the process list (docker top).")
@click.option("--pause", is_flag=True, help="Freeze the container during the capture (thawed afterwards).")
@click.option("--stop", is_flag=True, help="Stop the container once processes, sockets, memory and logs are taken "
                                           "(left stopped).")
@click.option("--no-memory", is_flag=True, help="Do not try a CRIU memory checkpoint (recorded as not requested).")
@click.option("--audit-db", metavar="URL", help="Log store: read the container's audit entries and lifecycle events, "
                                                "and append chain-of-custody entries.")
@click.option("--operator", metavar="TEXT", help="Examiner identity recorded in the manifest and custody entry.")
@click.option("--case", metavar="TEXT", help="Case or ticket reference recorded in the manifest.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def capture(container: str, output: str | None, key_file: str, cert: str | None, chain: str | None,
            passphrase_env: str | None, host: str | None, export_fs: bool, max_export: int, max_file: int,
            max_files_total: int, max_logs: int, ps_args: str, pause: bool, stop: bool, no_memory: bool,
            audit_db: str | None, operator: str | None, case: str | None, fmt: str) -> None:
    """Capture CONTAINER's evidence (name or id) into a signed bundle; the container keeps running unless asked."""
    from mamori.forensics.collect import CaptureOptions
    from mamori.forensics.collect import capture as run
    from mamori.forensics.errors import ForensicsError
    from mamori.forensics.files import FileLimits
    from mamori.forensics.signing import load_signer

    if pause and stop:
        fail("--pause and --stop exclude each other")
    for name, value in (("--operator", operator), ("--case", case), ("--ps-args", ps_args)):
        if value is not None and (len(value) > 256 or not value.isprintable()):
            fail(f"{name}: at most 256 printable characters")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in container)[:64]
    out = output or f"forensics-{safe}-{stamp}"
    opts = CaptureOptions(host=host, export_fs=export_fs, max_export=max_export * MiB, max_logs=max_logs * MiB,
                          files=FileLimits(max_file=max_file * MiB, max_total=max_files_total * MiB),
                          ps_args=ps_args, pause=pause, stop=stop, memory=not no_memory, audit_db=audit_db,
                          operator=operator, case=case)
    try:
        signer = load_signer(key_file, _passphrase(passphrase_env), cert, chain)
        res = run(container, out, signer, opts)
    except ForensicsError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}")
    for a in res.actions:
        if "error" in a:
            click.echo(f"mamori: warning: {a['action']} failed: {a['error']}", err=True)
    if fmt == "json":
        click.echo(json.dumps({"bundle": res.location, "bundle_id": res.bundle_id, "container_id": res.container_id,
                               "manifest_sha256": res.manifest_sha256, "artifacts": res.artifacts,
                               "unavailable": list(res.unavailable), "actions": list(res.actions),
                               "custody_seq": res.custody_seq}, indent=2))
        return
    click.echo(f"bundle {res.location}")
    click.echo(f"  container {res.container_id[:12]}, {res.artifacts} artifacts, manifest sha256 "
               f"{res.manifest_sha256}")
    for u in res.unavailable:
        click.echo(f"  unavailable: {u['kind']}: {u['reason']}")
    if res.custody_seq is not None:
        click.echo(f"  custody entry #{res.custody_seq} appended to the audit log")


@forensics.command()
@click.argument("bundle", type=click.Path(exists=False))
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False), metavar="PUB",
              help="Trusted signer: a PUBLIC KEY PEM or a certificate (repeatable).")
@click.option("--ca", "cas", multiple=True, type=click.Path(dir_okay=False), metavar="ROOTS",
              help="Trusted CA roots (PEM): the bundle's signer certificate must chain to one (repeatable).")
@click.option("--audit-db", metavar="URL", help="Append this access (and its outcome) as a chain-of-custody entry.")
@click.option("--operator", metavar="TEXT", help="Examiner identity for the custody entry.")
@click.option("--reason", metavar="TEXT", help="Why the evidence is accessed (custody entry).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify(bundle: str, keys: tuple[str, ...], cas: tuple[str, ...], audit_db: str | None, operator: str | None,
           reason: str | None, fmt: str) -> None:
    """Check BUNDLE (directory or tar) offline: signature, and every artifact changed, added or missing."""
    from mamori.forensics.custody import actor, append_custody, check_store
    from mamori.forensics.errors import ForensicsError
    from mamori.forensics.signing import load_trust
    from mamori.forensics.verify import verify_bundle

    for name, value in (("--operator", operator), ("--reason", reason)):
        if value is not None and (len(value) > 256 or not value.isprintable()):
            fail(f"{name}: at most 256 printable characters")
    try:
        trust = load_trust(keys, cas)
        if audit_db is not None:
            check_store(audit_db)
        rep = verify_bundle(bundle, trust)
    except ForensicsError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}")
    seq = None
    if audit_db is not None:
        m = rep.manifest or {}
        subject = m.get("subject") if isinstance(m.get("subject"), dict) else {}
        cid = subject.get("container_id") if isinstance(subject, dict) else None
        try:
            seq = append_custody(audit_db, {
                "action": "verify", "bundle_id": str(m.get("bundle_id"))[:64], "manifest_sha256": rep.manifest_sha256,
                "location": os.path.abspath(bundle), "result": "intact" if rep.ok else "tampered",
                "problems": [p.line()[:300] for p in rep.problems[:50]], "reason": reason},
                actor(operator), container=cid if isinstance(cid, str) else None)
        except ForensicsError as exc:
            fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps({**rep.public(), "custody_seq": seq}, indent=2))
    else:
        for p in rep.problems:
            click.echo(p.line())
        verdict = "INTACT" if rep.ok else f"TAMPERED ({len(rep.problems)} problem{'s' * (len(rep.problems) != 1)})"
        click.echo(f"{verdict}: {bundle}: {rep.checked} artifacts verified, manifest sha256 {rep.manifest_sha256}")
        if seq is not None:
            click.echo(f"custody entry #{seq} appended to the audit log")
    sys.exit(0 if rep.ok else 1)
