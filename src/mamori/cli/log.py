"""``mamori log``: the tamper-evident audit log from the command line (append, query, prove, verify)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mamori.audit.entry import Stored
    from mamori.audit.log import AuditLog

MAX_STDIN = 64 * 1024 * 1024
_DB = click.option("--db", metavar="URL", help="Audit store (default: SQLite under $MAMORI_HOME).")
_FMT = click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
_PASS = click.option("--passphrase-env", metavar="VAR",
                     help="Environment variable holding the key passphrase (never a command-line argument).")


def _fail(msg: str, code: int = 2) -> None:
    click.echo(f"mamori: {msg}", err=True)
    sys.exit(code)


def _open(db: str | None) -> AuditLog:
    from sqlalchemy.exc import SQLAlchemyError

    from mamori.audit.log import open_log

    try:
        return open_log(db)
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot open the audit store: {str(exc).splitlines()[0]}")
        raise AssertionError from None


def _passphrase(var: str | None) -> bytes | None:
    if not var:
        return None
    value = os.environ.get(var)
    if value is None:
        _fail(f"--passphrase-env: environment variable {var} is not set")
    return (value or "").encode()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@click.group(name="log")
def log_group() -> None:
    """The tamper-evident audit log: Merkle tree entries, signed checkpoints, proofs."""


@log_group.command()
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Key file (default: $MAMORI_HOME/audit-key.pem); "
              "the public key goes to FILE.pub.")
@click.option("--name", default="mamori-audit", show_default=True, help="Key name in checkpoint signatures.")
@_PASS
def keygen(out: str | None, name: str, passphrase_env: str | None) -> None:
    """Create an Ed25519 checkpoint signing key (PEM, 0600; encrypted with --passphrase-env)."""
    from mamori.audit.keys import generate
    from mamori.audit.note import NoteError
    from mamori.store.db import home

    path = Path(out) if out else home() / "audit-key.pem"
    try:
        signer = generate(path, name, _passphrase(passphrase_env))
    except FileExistsError:
        _fail(f"{path} exists; not overwriting a key")
    except (NoteError, OSError) as exc:
        _fail(str(exc))
    else:
        click.echo(f"private key: {path}\npublic key:  {path}.pub\n{signer.verifier().encode()}")


@log_group.command()
@click.option("--identity", required=True, help="Source identity recorded with this token's entries.")
@click.option("--tokens", "tokens_file", required=True, type=click.Path(dir_okay=False),
              help="Token file to append the token's hash to (for `mamori serve --ingest-tokens`).")
def token(identity: str, tokens_file: str) -> None:
    """Create a collector bearer token: prints it once, stores only its SHA-256."""
    from mamori.audit.entry import EntryError, check_source
    from mamori.server.ingest import token_hash

    try:
        check_source(identity)
    except EntryError as exc:
        _fail(str(exc))
    tok = secrets.token_urlsafe(32)
    fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"sha256:{token_hash(tok)} {identity}\n")
    click.echo(tok)


@log_group.command()
@_DB
@click.option("--type", "etype", help="Event type (for an entry given as payload JSON or key=value args).")
@click.option("--source", default=None, help="Source identity (default: cli:$USER).")
@click.option("--container", help="Container id or name.")
@click.option("--image", help="Image reference.")
@click.argument("args", nargs=-1)
def append(db: str | None, etype: str | None, source: str | None, container: str | None, image: str | None,
           args: tuple[str, ...]) -> None:
    """Append entries: JSON objects (one per line) on stdin, or --type with KEY=VALUE payload arguments.

    Each object has `type` and optional `payload`, `time`, `container`, `image`; with --type,
    stdin lines are payloads. Prints each entry's sequence number once it is committed.
    """
    from mamori.audit.entry import EntryError, new_entry

    src: str = source or f"cli:{os.environ.get('USER') or 'unknown'}"
    objs: list[Any] = []
    if args:
        if not etype:
            _fail("KEY=VALUE arguments need --type")
        payload: dict[str, Any] = {}
        for a in args:
            k, sep, v = a.partition("=")
            if not sep or not k:
                _fail(f"{a!r} is not KEY=VALUE")
            payload[k] = v
        objs.append({"type": etype, "payload": payload})
    else:
        raw = sys.stdin.read(MAX_STDIN + 1)
        if len(raw) > MAX_STDIN:
            _fail(f"more than {MAX_STDIN} bytes on stdin")
        text = raw.strip()
        docs: list[Any] = []
        try:
            docs = [json.loads(text)]  # one document (an object, a list, or {"entries": [...]})
        except ValueError:
            try:
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError as exc:
                _fail(f"stdin is not JSON (one document, or one object per line): {exc}")
        for d in docs:
            if isinstance(d, list):
                objs.extend(d)
            elif isinstance(d, dict) and set(d) == {"entries"} and isinstance(d["entries"], list):
                objs.extend(d["entries"])
            else:
                objs.append({"type": etype, "payload": d} if etype else d)
    for o in objs:
        if isinstance(o, dict) and etype and "type" not in o:
            o["type"] = etype
        if isinstance(o, dict):
            for key, val in (("container", container), ("image", image)):
                if val and key not in o:
                    o[key] = val
    entries = []
    for i, o in enumerate(objs):
        try:
            entries.append(new_entry(o, src))
        except EntryError as exc:
            _fail(f"entry {i}: {exc}")
    if not entries:
        _fail("nothing to append")
    for seq in _open(db).append(entries):
        click.echo(seq)


def _show(e: Stored, fmt: str) -> None:
    d = e.json()
    if fmt == "json":
        click.echo(json.dumps(d, sort_keys=True, ensure_ascii=False))
        return
    where = " ".join(f"{k}={d[k]}" for k in ("container", "image") if d.get(k))
    click.echo(f"{d.get('seq'):>8} {d.get('time')} {d.get('source')} {d.get('type')}"
               f"{' ' + where if where else ''} {json.dumps(d.get('payload'), sort_keys=True, ensure_ascii=False)}")


@log_group.command()
@_DB
@click.option("--since", metavar="TIME", help="Entries at or after this source time (RFC 3339).")
@click.option("--until", metavar="TIME", help="Entries before this source time (RFC 3339).")
@click.option("--container")
@click.option("--image")
@click.option("--source")
@click.option("--type", "etype", help="Event type.")
@click.option("--text", help="Free text anywhere in the entry.")
@click.option("-n", "--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@_FMT
def query(db: str | None, since: str | None, until: str | None, container: str | None, image: str | None,
          source: str | None, etype: str | None, text: str | None, limit: int, fmt: str) -> None:
    """Search the log (oldest first); --format json prints one entry per line."""
    from mamori.audit.entry import EntryError, parse_time

    try:
        since = parse_time(since) if since else None
        until = parse_time(until) if until else None
    except EntryError as exc:
        _fail(str(exc))
    for e in _open(db).query(since=since, until=until, container=container, image=image, source=source,
                             type=etype, text=text, limit=limit):
        _show(e, fmt)


@log_group.command()
@_DB
@click.option("-n", "--lines", default=10, show_default=True, type=click.IntRange(0, 100_000))
@click.option("-f", "--follow", is_flag=True, help="Keep printing new entries as they are committed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def tail(db: str | None, lines: int, follow: bool, fmt: str) -> None:
    """The last entries, and with -f every new one."""
    log = _open(db)
    rows = log.query(limit=lines, newest=True) if lines else []
    last = rows[-1].seq if rows else log.head().size - 1
    for e in rows:
        _show(e, fmt)
    while follow:
        new = log.query(after=last, limit=1000)
        for e in new:
            _show(e, fmt)
            last = e.seq
        if not new:
            time.sleep(0.5)


@log_group.command()
@_DB
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Signing key file.")
@_PASS
@click.option("--export", type=click.Path(dir_okay=False),
              help="Append the signed checkpoint to FILE (an external witness location).")
def checkpoint(db: str | None, key_file: str, passphrase_env: str | None, export: str | None) -> None:
    """Sign a checkpoint of the current tree (unless the latest covers it) and print it."""
    from mamori.audit.keys import KeyFileError, load_signer

    try:
        signer = load_signer(key_file, _passphrase(passphrase_env))
    except KeyFileError as exc:
        _fail(str(exc))
        return
    cp = _open(db).checkpoint(signer)
    if export:
        with open(export, "a", encoding="utf-8") as fh:
            fh.write(cp.note + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    click.echo(cp.note, nl=False)


def _verifiers(keys: tuple[str, ...]) -> list[Any]:
    from mamori.audit.keys import KeyFileError, load_verifier
    from mamori.store.db import home

    if not keys:
        default = home() / "audit-key.pem.pub"
        keys = (str(default),) if default.exists() else ()
    out = []
    for k in keys:
        try:
            out.append(load_verifier(k))
        except KeyFileError as exc:
            _fail(str(exc))
    return out


def _read_witness(path: str) -> list[str]:
    from mamori.audit.note import NoteError, split_notes

    try:
        with open(path, encoding="utf-8") as fh:
            return split_notes(fh.read(256 * 1024 * 1024))
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        _fail(f"witness file {path}: {exc}")
        return []


@log_group.command()
@_DB
@click.option("--key", "keys", multiple=True, metavar="PUB",
              help="Trusted public key (FILE.pub or the key string); default $MAMORI_HOME/audit-key.pem.pub.")
@click.option("--witness", "witness", multiple=True, type=click.Path(dir_okay=False),
              help="File of exported checkpoints to check the store against (repeatable).")
@_FMT
def verify(db: str | None, keys: tuple[str, ...], witness: tuple[str, ...], fmt: str) -> None:
    """Recompute every leaf and the tree from the stored entries; check checkpoints and witnesses.

    Exit 0 when everything matches, 1 naming each difference, 2 on usage errors.
    """
    from mamori.audit.verify import verify_store

    verifiers = _verifiers(keys)
    notes = [n for w in witness for n in _read_witness(w)]
    log = _open(db)
    t0 = time.perf_counter()
    rep = verify_store(log.engine, verifiers, notes)
    secs = time.perf_counter() - t0
    if fmt == "json":
        click.echo(json.dumps({"ok": rep.ok, "entries": rep.entries, "checkpoints": rep.checkpoints,
                               "witnessed": rep.witnessed, "problems": rep.problems, "more_problems": rep.more,
                               "seconds": round(secs, 3)}, indent=2))
    else:
        for p in rep.problems:
            click.echo(f"TAMPERED: {p}")
        if rep.more:
            click.echo(f"... and {rep.more} more problems")
        status = "OK" if rep.ok else "FAILED"
        click.echo(f"{status}: {rep.entries} entries, {rep.checkpoints} checkpoints, {rep.witnessed} witnessed "
                   f"checkpoints checked in {secs:.1f}s")
    sys.exit(0 if rep.ok else 1)


@log_group.command()
@_DB
@click.argument("seq", type=click.IntRange(0))
@click.option("--size", type=click.IntRange(1), help="Tree size (default: the latest checkpoint's, else the head).")
def prove(db: str | None, seq: int, size: int | None) -> None:
    """Print an inclusion proof of entry SEQ as JSON (check it offline with `mamori log check-proof`)."""
    from mamori.audit.merkle import ProofError

    log = _open(db)
    cp = log.latest_checkpoint()
    if size is None:
        size = cp.size if cp is not None and cp.size > seq else log.head().size
    e = log.entry(seq)
    if e is None:
        _fail(f"entry {seq} is not in the log")
        return
    try:
        proof = log.inclusion_proof(seq, size)
        root = log.root_at(size)
    except ProofError as exc:
        _fail(str(exc))
        return
    click.echo(json.dumps({"seq": seq, "size": size, "root": _b64(root), "leaf_hash": _b64(e.leaf),
                           "entry": e.data.decode(), "proof": [_b64(p) for p in proof],
                           "checkpoint": cp.note if cp is not None and cp.size == size else None}, indent=2))


@log_group.command(name="check-proof")
@click.argument("proof_file", type=click.File("r"), default="-")
@click.option("--checkpoint", "checkpoint_file", required=True, type=click.Path(dir_okay=False),
              help="A signed checkpoint (e.g. from a witness file; the last one in the file is used).")
@click.option("--key", "keys", multiple=True, metavar="PUB", help="Trusted public key (FILE.pub or key string).")
def check_proof(proof_file: Any, checkpoint_file: str, keys: tuple[str, ...]) -> None:
    """Verify an inclusion proof offline: entry bytes -> leaf -> audit path -> signed checkpoint root."""
    from mamori.audit import merkle
    from mamori.audit.note import NoteError, open_checkpoint

    verifiers = _verifiers(keys)
    if not verifiers:
        _fail("give --key: a checkpoint is only as good as the key that signed it")
    try:
        doc = json.loads(proof_file.read(16 * 1024 * 1024))
        seq, size = int(doc["seq"]), int(doc["size"])
        entry = str(doc["entry"]).encode()
        proof = [base64.b64decode(p, validate=True) for p in doc["proof"]]
    except (ValueError, KeyError, TypeError) as exc:
        _fail(f"not a proof from `mamori log prove`: {exc}")
        return
    notes = _read_witness(checkpoint_file)
    if not notes:
        _fail(f"{checkpoint_file} holds no checkpoint")
    try:
        cp = open_checkpoint(notes[-1], verifiers)
    except NoteError as exc:
        _fail(f"checkpoint: {exc}", 1)
        return
    if cp.size != size:
        _fail(f"the proof is for tree size {size}, the checkpoint has size {cp.size}", 1)
    try:
        recorded = json.loads(entry).get("seq")
    except (ValueError, AttributeError):
        recorded = None
    if recorded != seq:
        _fail(f"the entry's content does not record position {seq}", 1)
    try:
        merkle.verify_inclusion(seq, size, merkle.leaf_hash(entry), proof, cp.root)
    except merkle.ProofError as exc:
        _fail(f"INVALID: {exc}", 1)
    click.echo(f"OK: entry {seq} is in {cp.origin} at size {size} (checkpoint signed by a trusted key)")
