"""``mamori seal`` / ``mamori unseal``: envelope-encrypt files with a keyring, a PKCS#11 token or Vault transit.

Errors are one line on stderr and exit 2 (no traceback); output files are written to a
temporary file next to the target and renamed only after the last segment authenticated,
so a failed unseal leaves no partial plaintext behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import click

from mamori.cli.common import fail as _fail
from mamori.cli.common import failures_exit
from mamori.crypto.errors import SealError
from mamori.crypto.format import Envelope
from mamori.crypto.keys import KeyUnwrapper, KeyWrapper
from mamori.secrets.sources import SecretError
from mamori.secrets.value import Origin, Secret, SourceKind

EXIT_ERROR = 2
SUFFIX = ".sealed"
KEY_HELP = ("Key-encryption key (repeatable: every one can unseal): keyring[:PATH[#ID]], "
            "pkcs11:token=LABEL;object=LABEL, vault-transit:[MOUNT/]KEY. Default: the keyring's active key.")


def _setup_logging() -> None:
    """Warnings (a weak secret source) as ``mamori: warning: ...`` on stderr, through the redacting filter."""
    import logging

    from mamori.secrets.logfilter import RedactingFilter

    class _Stderr(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            click.echo(self.format(record), err=True)  # the current stderr, not the one at setup time

    root = logging.getLogger()
    if not root.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("mamori: %(levelname)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        logging.addLevelName(logging.WARNING, "warning")
        root.addHandler(handler)


def _errors() -> contextlib.AbstractContextManager[None]:
    return failures_exit(SealError, SecretError)


def _context(pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--context {pair[:40]!r}: expected KEY=VALUE")
        out[key] = value
    return out


# --- credentials ------------------------------------------------------------------------------
def _passphrase(passphrase_file: str | None, *, confirm: bool = False) -> Secret:
    """--passphrase-file, else the secret ``mamori-keyring-passphrase`` (/run/secrets, *_FILE, env), else a prompt."""
    from mamori.secrets.sources import SecretNotFound, read_bounded
    from mamori.secrets.store import SecretStore

    if passphrase_file:
        raw = read_bounded(passphrase_file).rstrip(b"\r\n")
        return Secret(raw, name="keyring-passphrase", origin=Origin(SourceKind.FILE, passphrase_file))
    try:
        with SecretStore() as store:
            return store.get("mamori-keyring-passphrase")
    except SecretNotFound:
        pass
    if not sys.stdin.isatty():
        _fail("no keyring passphrase: use --passphrase-file, MAMORI_KEYRING_PASSPHRASE_FILE or a terminal")
    typed = click.prompt("Keyring passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return Secret(typed, name="keyring-passphrase", origin=Origin(SourceKind.LITERAL, "prompt"))


def _vault_client() -> Any:
    from mamori.secrets.providers.vault import VaultClient

    client = VaultClient()
    role = os.environ.get("MAMORI_VAULT_K8S_ROLE")
    if role and not os.environ.get("VAULT_TOKEN"):
        client.login_kubernetes(role, mount=os.environ.get("MAMORI_VAULT_K8S_MOUNT", "kubernetes"))
    return client


def _wrapper(spec: str, keyring_path: str | None, passphrase_file: str | None) -> KeyWrapper:
    if spec == "keyring" or spec.startswith("keyring:"):
        from mamori.crypto.keyring import Keyring, default_path

        rest = spec[len("keyring:"):] if ":" in spec else ""
        path, _, kid = rest.partition("#")
        path = path or keyring_path or default_path()
        return Keyring.open(path, _passphrase(passphrase_file)).wrapper(kid or None)
    if spec.startswith("pkcs11:"):
        from mamori.crypto.pkcs11 import Pkcs11Key

        return Pkcs11Key.from_uri(spec)
    if spec.startswith("vault-transit:"):
        from mamori.crypto.kms import VaultTransitKey

        return VaultTransitKey.from_spec(_vault_client(), spec[len("vault-transit:"):])
    raise click.UsageError(f"--key {spec[:60]!r}: expected keyring[:PATH[#ID]], pkcs11:... or vault-transit:KEY")


def _unwrappers(env: Envelope, keyring_path: str | None, passphrase_file: str | None) -> list[KeyUnwrapper]:
    """Unwrappers for the providers this file was sealed for, built lazily (no passphrase prompt for an HSM file)."""
    providers = {r.provider for r in env.recipients}
    out: list[KeyUnwrapper] = []
    problems: list[str] = []
    if "keyring" in providers:
        from mamori.crypto.keyring import Keyring, default_path

        out.append(Keyring.open(keyring_path or default_path(), _passphrase(passphrase_file)).wrapper())
    if "pkcs11" in providers:
        from mamori.crypto.pkcs11 import Pkcs11Key, read_pin

        try:
            pin = read_pin()
            for r in env.recipients:
                if r.provider == "pkcs11":
                    out.append(Pkcs11Key(r.params.get("token", ""), r.params.get("object", ""), pin))
        except SealError as exc:
            problems.append(str(exc))
    if "vault-transit" in providers:
        from mamori.crypto.kms import VaultTransitKey

        try:
            out.append(VaultTransitKey(_vault_client(), "", mount="transit"))
        except SecretError as exc:
            problems.append(str(exc))
    if not out:
        _fail("; ".join(problems) or f"no supported key provider for this file ({', '.join(sorted(providers))})")
    return out


# --- output -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _atomic(path: str, force: bool) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if os.path.lexists(path) and not force:
        _fail(f"{path} exists (use --force to replace it)")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".mamori-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    if os.path.isdir(path):
        _fail(f"{path} is a directory")
    return open(path, "rb")


# --- commands ---------------------------------------------------------------------------------
class _SealGroup(click.Group):
    """``mamori seal FILE`` seals a file; ``mamori seal rewrap|inspect|keyring ...`` are sub-commands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["file", *args]  # a file literally named like a sub-command: `mamori seal file rewrap`
        return super().parse_args(ctx, args)


@click.group(cls=_SealGroup)
def seal() -> None:
    """Envelope-encrypt files: `mamori seal FILE`, `mamori seal rewrap FILE`, `mamori seal keyring init`."""
    _setup_logging()


_keyring_opt = click.option("--keyring", "keyring_path", type=click.Path(dir_okay=False), metavar="PATH",
                            help="Keyring file (default: $MAMORI_KEYRING or ~/.config/mamori/keyring.json).")
_pass_opt = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True),
                         help="Read the keyring passphrase from this file (else $MAMORI_KEYRING_PASSPHRASE_FILE, "
                              "/run/secrets/mamori-keyring-passphrase, a prompt).")


@seal.command(name="file")
@click.argument("path", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Sealed file (default: PATH.sealed; - stdout).")
@click.option("--key", "keys", multiple=True, metavar="SPEC", help=KEY_HELP)
@click.option("--context", "context", multiple=True, metavar="KEY=VALUE",
              help="Encryption context bound to the file; unseal must give the same (repeatable).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_keyring_opt
@_pass_opt
def seal_file(path: str, output: str | None, keys: tuple[str, ...], context: tuple[str, ...], force: bool,
              keyring_path: str | None, passphrase_file: str | None) -> None:
    """Seal PATH (a file, a directory as a tar bundle, or - for stdin) with a fresh data key wrapped by each --key."""
    from mamori.crypto.stream import seal_stream

    ctx = _context(context) or {}
    target = output or (path.rstrip("/") + SUFFIX if path != "-" else "-")
    with _errors():
        wrappers = [_wrapper(k, keyring_path, passphrase_file) for k in (keys or ("keyring",))]
        if path != "-" and os.path.isdir(path):
            with _atomic(target, force) as dst:
                _seal_dir(path, dst, wrappers, ctx)
        else:
            with _open_input(path) as src, _atomic(target, force) as dst:
                seal_stream(src, dst, wrappers, context=ctx)
    if target != "-":
        click.echo(f"mamori: sealed {path} -> {target} ({', '.join(f'{w.provider}:{w.key_id}' for w in wrappers)})",
                   err=True)


def _seal_dir(path: str, dst: IO[bytes], wrappers: list[KeyWrapper], ctx: dict[str, str]) -> None:
    """A directory as a tar stream (POSIX pax, written straight into the sealed stream, no temporary copy)."""
    import tarfile

    from mamori.crypto.stream import SealWriter

    with SealWriter(dst, wrappers, context=ctx, kind="tar") as writer, \
            tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        tar.add(path, arcname=".")


def _unseal_dir(src: IO[bytes], target: str, unwrappers: list[KeyUnwrapper], ctx: dict[str, str] | None) -> int:
    """Authenticate the whole bundle into a temporary file first, then extract with tarfile's ``data`` filter."""
    import tarfile

    from mamori.crypto.stream import unseal_stream

    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        _fail(f"{target} exists and is not an empty directory")
    parent = os.path.dirname(os.path.abspath(target))
    with tempfile.TemporaryFile(dir=parent) as tmp:
        n = unseal_stream(src, tmp, unwrappers, context=ctx)
        tmp.seek(0)
        os.makedirs(target, mode=0o700, exist_ok=True)
        try:
            with tarfile.open(fileobj=tmp, mode="r:") as tar:
                tar.extractall(target, filter="data")  # no absolute paths, no escaping links, no devices
        except (tarfile.TarError, OSError) as exc:
            raise SealError(f"bundle authenticated but could not be extracted: {exc}") from None
    return n


@seal.command(name="rewrap")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "keys", multiple=True, metavar="SPEC", help=KEY_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of replacing PATH.")
@_keyring_opt
@_pass_opt
def seal_rewrap(path: str, keys: tuple[str, ...], output: str | None, keyring_path: str | None,
                passphrase_file: str | None) -> None:
    """Re-wrap PATH's data key under --key (default: the keyring's active key) without re-encrypting the data."""
    from mamori.crypto.format import read_envelope
    from mamori.crypto.kms import VaultTransitKey
    from mamori.crypto.stream import rewrap_stream

    with _errors():
        with open(path, "rb") as fh:
            env = read_envelope(fh)
        wrappers = [_wrapper(k, keyring_path, passphrase_file) for k in (keys or ("keyring",))]
        unwrappers: list[KeyUnwrapper]
        if all(isinstance(w, VaultTransitKey) for w in wrappers) and {r.provider for r in env.recipients} == {
                "vault-transit"}:
            unwrappers = []  # Vault rewraps inside Vault: the data key never reaches this process
        else:
            unwrappers = _unwrappers(env, keyring_path, passphrase_file)
        with open(path, "rb") as src, _atomic(output or path, force=True) as dst:
            if not unwrappers:
                _vault_rewrap(src, dst, env, wrappers)
            else:
                rewrap_stream(src, dst, unwrappers, wrappers)
    click.echo(f"mamori: rewrapped {path} for {', '.join(f'{w.provider}:{w.key_id}' for w in wrappers)}", err=True)


def _vault_rewrap(src: IO[bytes], dst: IO[bytes], env: Envelope, wrappers: list[KeyWrapper]) -> None:
    from mamori.crypto.format import read_envelope
    from mamori.crypto.kms import VaultTransitKey

    read_envelope(src)
    new = []
    for w in wrappers:
        assert isinstance(w, VaultTransitKey)
        same = [r for r in env.recipients if r.params.get("key") == w.key and r.params.get("mount") == w.mount]
        if not same:
            raise SealError(f"Vault can only rewrap within one transit key; {w.key_id} is not one this file uses "
                            "(give --key for a keyring or HSM as well to move between providers)")
        new.append(w.rewrap(same[0]))
    dst.write(Envelope(env.header, tuple(new)).encode())
    while chunk := src.read(1 << 20):
        dst.write(chunk)


@seal.command(name="inspect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def seal_inspect(path: str) -> None:
    """Show a sealed file's header (unauthenticated until unsealed): format, context, keys it is wrapped for."""
    from mamori.crypto.format import VERSION, read_envelope

    with _errors(), open(path, "rb") as fh:
        env = read_envelope(fh)
    h = env.header
    click.echo(json.dumps({"version": VERSION, "alg": h.alg, "segment": h.segment, "kind": h.kind,
                           "data_key_id": h.dek_id, "context": h.context,
                           "recipients": [{"provider": r.provider, "key_id": r.key_id, "params": r.params}
                                          for r in env.recipients]}, indent=2))


@seal.group(name="keyring")
def keyring_group() -> None:
    """The passphrase-protected local keyring (scrypt, AES-256-GCM)."""


@keyring_group.command(name="init")
@_keyring_opt
@_pass_opt
@click.option("--scrypt-n", type=click.IntRange(1 << 14, 1 << 22), default=1 << 17, show_default=True,
              help="scrypt cost (a power of two); recorded in the keyring.")
def keyring_init(keyring_path: str | None, passphrase_file: str | None, scrypt_n: int) -> None:
    """Create a keyring with one active key."""
    from mamori.crypto.keyring import Keyring, default_path

    path = keyring_path or default_path()
    with _errors():
        ring = Keyring.create(path, _passphrase(passphrase_file, confirm=True), n=scrypt_n)
    click.echo(f"mamori: keyring {path} created, active key {ring.active}", err=True)


@keyring_group.command(name="rotate")
@_keyring_opt
@_pass_opt
def keyring_rotate(keyring_path: str | None, passphrase_file: str | None) -> None:
    """Add a new active key (then `mamori seal rewrap` the files and `keyring retire` the old key)."""
    from mamori.crypto.keyring import Keyring, default_path

    with _errors():
        ring = Keyring.open(keyring_path or default_path(), _passphrase(passphrase_file))
        kid = ring.rotate()
    click.echo(kid)


@keyring_group.command(name="list")
@_keyring_opt
@_pass_opt
def keyring_list(keyring_path: str | None, passphrase_file: str | None) -> None:
    """Key ids, creation times and which is active."""
    from mamori.crypto.keyring import Keyring, default_path

    with _errors():
        ring = Keyring.open(keyring_path or default_path(), _passphrase(passphrase_file))
    for kid, created, active in ring.key_ids():
        click.echo(f"{kid}  {created}{'  active' if active else ''}")


@keyring_group.command(name="retire")
@click.argument("key_id")
@_keyring_opt
@_pass_opt
def keyring_retire(key_id: str, keyring_path: str | None, passphrase_file: str | None) -> None:
    """Remove an old key: files still wrapped under it can no longer be unsealed."""
    from mamori.crypto.keyring import Keyring, default_path

    with _errors():
        Keyring.open(keyring_path or default_path(), _passphrase(passphrase_file)).retire(key_id)
    click.echo(f"mamori: retired {key_id}", err=True)


@seal.command(name="pkcs11-keygen")
@click.argument("uri")
def pkcs11_keygen(uri: str) -> None:
    """Generate a non-extractable AES-256 KEK on a token: URI is pkcs11:token=LABEL;object=LABEL."""
    from mamori.crypto.pkcs11 import Pkcs11Key

    with _errors():
        Pkcs11Key.from_uri(uri).generate()
    click.echo(f"mamori: generated {uri}", err=True)


@click.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Plaintext file, or the directory a bundle is extracted into (default: PATH without .sealed; "
                   "- for stdout, unauthenticated until exit 0).")
@click.option("--context", "context", multiple=True, metavar="KEY=VALUE",
              help="The encryption context the file must have been sealed with (repeatable).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_keyring_opt
@_pass_opt
def unseal(path: str, output: str | None, context: tuple[str, ...], force: bool, keyring_path: str | None,
           passphrase_file: str | None) -> None:
    """Decrypt a sealed file; any modification, truncation or wrong key is an error (exit 2)."""
    from mamori.crypto.format import read_envelope
    from mamori.crypto.stream import unseal_stream

    _setup_logging()
    if output is None:
        if path == "-" or not path.endswith(SUFFIX):
            raise click.UsageError("give -o/--output (PATH does not end in .sealed)")
        output = path[: -len(SUFFIX)]
    ctx = _context(context)
    with _errors():
        if path == "-":
            _fail("unseal reads a file, not stdin (the header is read twice)")
        with _open_input(path) as fh:
            env = read_envelope(fh)
        unwrappers = _unwrappers(env, keyring_path, passphrase_file)
        if env.header.kind == "tar" and output != "-":
            with _open_input(path) as src:
                n = _unseal_dir(src, output, unwrappers, ctx)
        else:
            with _open_input(path) as src, _atomic(output, force) as dst:
                n = unseal_stream(src, dst, unwrappers, context=ctx)
    if output != "-":
        click.echo(f"mamori: unsealed {path} -> {output} ({n} bytes)", err=True)
