"""``mamori promote REF --to ENV`` and ``mamori status REF``: gated promotion between mamori.yaml environments.

``promote`` exits 0 when promoted, 1 when refused (every missing gate listed), 2 on errors.
``status`` exits 0 when every environment holding the tag holds the same digest, else 1.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

import click

from mamori.cli.attest import errors, load_signer, signer_options
from mamori.cli.common import fail, load_cli_policy
from mamori.cli.sign import connect_options, read_text, registry_options

EXIT_REFUSED = 1



def config_options(fn: Any) -> Any:
    opts = [click.option("--config", type=click.Path(dir_okay=False, exists=True),
                         help="Policy file with `environments:` (default: ./mamori.yaml or .mamori.yaml)."),
            click.option("-f", "--format", "fmt", type=click.Choice(("text", "json")), default="text",
                         show_default=True)]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _environments(config: str | None) -> Any:
    policy, _ = load_cli_policy(config, False)
    if not policy.environments:
        fail("no environments declared (add `environments:` to mamori.yaml; see docs/promote.md)")
    return policy.environments


@click.command(name="promote")
@click.argument("ref")
@click.option("--to", "to_env", required=True, metavar="ENV", help="Target environment from mamori.yaml.")
@click.option("--tag", help="Tag in the target repository (default: REF's tag).")
@click.option("--audit-db", metavar="URL", help="Also record the decision in this audit log (mamori log).")
@signer_options
@registry_options
@config_options
def promote(ref: str, to_env: str, tag: str | None, audit_db: str | None, key_path: str | None, hsm_uri: str | None,
            cert_path: str | None, chain_path: str | None, passphrase_file: str | None, ca_file: str | None,
            insecure: bool, username: str | None, config: str | None, fmt: str) -> None:
    """Verify every gate of ENV for REF's exact digest, copy it there (with signatures and attestations), attest."""
    from mamori.promote.environments import find
    from mamori.promote.promote import audit_entry
    from mamori.promote.promote import promote as do_promote

    envs = _environments(config)
    target = find(envs, to_env)
    if target is None:
        fail(f"no environment {to_env!r} (declared: {', '.join(e.name for e in envs)})")
    with errors():
        signer = load_signer(key_path, hsm_uri, passphrase_file)
        res = do_promote(ref, target, envs, signer, connect_options(ca_file, insecure, username),
                         cert_pem=read_text(cert_path, "certificate"), chain_pem=read_text(chain_path, "chain"),
                         tag=tag)
    if audit_db:
        _audit(audit_db, audit_entry(res, getpass.getuser()))
    if fmt == "json":
        click.echo(json.dumps(res.to_json(), indent=2))
    elif res.promoted:
        s = res.stats
        click.echo(f"PROMOTED {res.digest} to {res.environment}: {res.target}")
        for g in res.gates:
            click.echo(f"  gate {g.gate}: ok: {g.reason}")
        if s is not None:
            click.echo(f"  copied {len(s.manifests)} manifest(s); blobs {s.mounted} mounted, {s.streamed} streamed, "
                       f"{s.present} already there; {', '.join(s.artifacts) or 'no signatures or attestations'}")
        click.echo(f"  promotion attestation in {res.attestation}")
    else:
        click.echo(f"REFUSED {res.digest} for {res.environment}: {len(res.missing)} gate(s) not met")
        for g in res.gates:
            click.echo(f"  gate {g.gate}: {'ok' if g.ok else 'MISSING'}: {g.reason}")
    sys.exit(0 if res.promoted else EXIT_REFUSED)


def _audit(url: str, entry: dict[str, Any]) -> None:
    from mamori.audit.entry import EntryError, new_entry
    from mamori.audit.log import open_log

    try:
        log = open_log(url)
        seq = log.append([new_entry(entry, f"mamori-promote:{getpass.getuser()}")])
    except EntryError as exc:
        fail(f"audit entry refused: {exc}")
    except Exception as exc:  # noqa: BLE001 - a database error is one line, and the promotion already happened
        fail(f"promotion done, but the audit log could not be written: {type(exc).__name__}: "
             f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
    click.echo(f"audit log entry #{seq[0]}", err=True)


@click.command(name="status")
@click.argument("ref")
@registry_options
@config_options
def status(ref: str, ca_file: str | None, insecure: bool, username: str | None, config: str | None, fmt: str) -> None:
    """Which digest each environment holds under REF's tag; exit 1 when they differ or one cannot be read."""
    from mamori.promote.status import consistent, tag_of
    from mamori.promote.status import status as env_status

    envs = _environments(config)
    with errors():
        tag = tag_of(ref)
    rows = env_status(tag, envs, connect_options(ca_file, insecure, username))
    unread = [r for r in rows if r.error]
    same = consistent(rows) and not unread  # an environment we could not read cannot be called the same
    if fmt == "json":
        click.echo(json.dumps({"tag": tag, "same_digest": same, "environments": [
            {"environment": r.environment, "reference": r.reference, "digest": r.digest, "error": r.error}
            for r in rows]}, indent=2))
    else:
        for r in rows:
            click.echo(f"{r.environment:<12} {r.digest or ('error: ' + r.error if r.error else '-'):<72} {r.reference}")
        held = len([r for r in rows if r.digest])
        if unread:
            click.echo(f"could not read {len(unread)} environment(s): {', '.join(r.environment for r in unread)}")
        elif same:
            click.echo(f"same digest in all {held} environment(s) holding {tag}")
        else:
            click.echo(f"DIFFERENT digests for {tag} across environments")
    sys.exit(0 if same else EXIT_REFUSED)
