"""``mamori-entrypoint``: decrypt a sealed application into private tmpfs, run it, remove it (CSA-3.1.17.3).

Usage as a container ENTRYPOINT::

    mamori-entrypoint --bundle /app.sealed [--key SPEC] [--context K=V] -- ./bin/server ARGS...

The bundle (``mamori seal DIR``) is authenticated completely into an anonymous memory file
(``memfd``) before anything is extracted, then extracted with tarfile's ``data`` filter into a
fresh 0700 directory on tmpfs. The command runs as a *child* (not ``exec``) in that directory,
with SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 forwarded, so that the plaintext can be
removed when it ends; its exit status is ours (128+N when killed by signal N). Every failure
before the child starts is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import types
from collections.abc import Iterator, Sequence
from typing import IO, NoReturn

from mamori.crypto.errors import SealError
from mamori.crypto.keys import KeyUnwrapper
from mamori.crypto.tmpfs import MountInfo, mount_of
from mamori.secrets.sources import SecretError

EXIT_ERROR = 2
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
MEMORY_FS = frozenset({"tmpfs", "ramfs"})
DEFAULT_BASE = "/dev/shm"
MAX_BUNDLE = 1 << 30  # the plaintext lives in memory twice while extracting: bound it
# Credentials the entrypoint needs and the application must not inherit.
SCRUBBED_ENV = ("MAMORI_KEYRING_PASSPHRASE", "MAMORI_KEYRING_PASSPHRASE_FILE", "MAMORI_PKCS11_PIN",
                "MAMORI_PKCS11_PIN_FILE")


class EntrypointError(Exception):
    """A one-line reason to refuse to start the application."""


def _fail(message: str) -> NoReturn:
    print(f"mamori-entrypoint: error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_ERROR)


# --- arguments --------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mamori-entrypoint",
        usage="mamori-entrypoint --bundle PATH [options] -- COMMAND [ARGS...]",
        description="Decrypt a sealed application bundle into private tmpfs, run COMMAND in it (a relative "
                    "COMMAND path is inside the bundle), forward signals, remove the plaintext when it ends.")
    p.add_argument("--bundle", required=True, help="Sealed directory bundle (`mamori seal DIR`).")
    p.add_argument("--key", action="append", default=[], metavar="SPEC",
                   help="keyring[:PATH[#ID]], pkcs11:token=LABEL;object=LABEL[;pin-source=file:PATH], "
                        "vault-transit:[MOUNT/]KEY (repeatable; default: the providers the bundle was sealed for).")
    p.add_argument("--context", action="append", default=[], metavar="KEY=VALUE",
                   help="Encryption context the bundle must carry (repeatable).")
    p.add_argument("--keyring", metavar="PATH", help="Keyring file (default: $MAMORI_KEYRING).")
    p.add_argument("--passphrase-file", metavar="PATH", help="Keyring passphrase file (a mounted secret).")
    p.add_argument("--pin-file", metavar="PATH", help="PKCS#11 token PIN file (a mounted secret).")
    p.add_argument("--workdir", metavar="DIR",
                   help=f"tmpfs directory to create the private plaintext directory in (default: {DEFAULT_BASE}).")
    p.add_argument("--allow-disk", action="store_true",
                   help="Allow a --workdir that is not memory-backed (the plaintext then touches a disk).")
    return p


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Options before ``--``, the application's command line after it."""
    argv = list(argv)
    if "--" not in argv:
        _parser().error("give the command to run after --")
    cut = argv.index("--")
    opts = _parser().parse_args(argv[:cut])
    command = argv[cut + 1:]
    if not command:
        _parser().error("no command after --")
    return opts, command


def _context(pairs: Sequence[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EntrypointError(f"--context {pair[:40]!r}: expected KEY=VALUE")
        out[key] = value
    return out


# --- keys -------------------------------------------------------------------------------------
def _unwrappers(opts: argparse.Namespace, bundle: str) -> list[KeyUnwrapper]:
    """The explicit --key providers, else those the bundle's header names; credentials from mounted secrets."""
    from mamori.crypto.format import read_envelope
    from mamori.crypto.unwrappers import resolve

    if opts.pin_file:
        os.environ["MAMORI_PKCS11_PIN_FILE"] = opts.pin_file  # read by mamori.crypto.pkcs11.read_pin
    with open(bundle, "rb") as fh:
        env = read_envelope(fh)
    if env.header.kind != "tar":
        raise EntrypointError(f"{bundle} is a sealed file, not an application bundle (seal a directory)")
    return resolve(opts.key, env, opts.keyring, opts.passphrase_file)


# --- the private directory --------------------------------------------------------------------
def private_dir(base: str | None, allow_disk: bool) -> tuple[str, MountInfo]:
    """A fresh 0700 directory under ``base``, which must be memory-backed unless ``allow_disk``."""
    base = base or DEFAULT_BASE
    if not os.path.isdir(base):
        raise EntrypointError(f"work directory base {base} does not exist (mount a tmpfs and give --workdir)")
    info = mount_of(base)
    if info is None and not allow_disk:
        raise EntrypointError(f"cannot tell which file system {base} is on (/proc/mounts unreadable); "
                              "give --allow-disk to accept that")
    if info is not None and info.fstype not in MEMORY_FS and not allow_disk:
        raise EntrypointError(f"{base} is on {info.fstype} ({info.target}), not tmpfs: the plaintext would reach "
                              "a disk (mount a tmpfs there, or give --allow-disk)")
    path = tempfile.mkdtemp(prefix="mamori-", dir=base)  # mode 0700, unpredictable name
    os.chmod(path, 0o700)
    return path, info or MountInfo(base, "unknown", ())


def remove(path: str) -> None:
    """Remove the plaintext, even files and directories the application made read-only."""
    if not os.path.lexists(path):
        return
    for root, dirs, _files in os.walk(path):
        for name in (root, *(os.path.join(root, d) for d in dirs)):
            if not os.path.islink(name):
                with contextlib.suppress(OSError):
                    os.chmod(name, 0o700)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _memfd() -> Iterator[IO[bytes]]:
    """An anonymous memory file: the authenticated tar stream never has a name or a disk block."""
    fd = os.memfd_create("mamori-bundle", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b") as fh:
        yield fh


def unseal_into(bundle: str, target: str, unwrappers: Sequence[KeyUnwrapper], context: dict[str, str] | None) -> int:
    """Authenticate the whole bundle into memory, then extract it (``data`` filter) into ``target``."""
    from mamori.crypto.stream import unseal_stream

    size = os.path.getsize(bundle)
    if size > MAX_BUNDLE:
        raise EntrypointError(f"{bundle} is {size} bytes; the limit is {MAX_BUNDLE}")
    with open(bundle, "rb") as src, _memfd() as mem:
        n = unseal_stream(src, mem, unwrappers, context=context)
        mem.seek(0)
        try:
            with tarfile.open(fileobj=mem, mode="r:") as tar:
                tar.extractall(target, filter="data")  # no absolute paths, escaping links or devices
        except (tarfile.TarError, OSError) as exc:
            raise EntrypointError(f"bundle authenticated but could not be extracted: {exc}") from None
    os.chmod(target, 0o700)  # the bundle's "." entry carries the source directory's mode
    return n


# --- the child --------------------------------------------------------------------------------
def _command(command: list[str], appdir: str, mount: MountInfo) -> list[str]:
    """A relative path with a slash (``./run.sh``, ``bin/server``) is inside the bundle; a bare name is on PATH."""
    exe = command[0]
    if "/" in exe and not os.path.isabs(exe):
        exe = os.path.normpath(os.path.join(appdir, exe))
        if not exe.startswith(appdir + os.sep):
            raise EntrypointError(f"command {command[0][:80]!r} leaves the bundle")
    if exe.startswith(appdir + os.sep):
        if not os.path.isfile(exe):
            raise EntrypointError(f"{command[0][:80]} is not in the bundle")
        if "noexec" in mount.options:
            raise EntrypointError(f"{mount.target} is mounted noexec (Docker's /dev/shm is): mount a tmpfs with exec "
                                  "and give --workdir, or run the script through its interpreter (sh ./run.sh)")
    return [exe, *command[1:]]


def _child_env(appdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["MAMORI_APP_DIR"] = appdir
    return env


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: if the entrypoint is SIGKILLed the application does not outlive it."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class Runner:
    """Signal handling for the whole life of the entrypoint: before the child starts, a stop is remembered."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.stopped: int | None = None
        for sig in FORWARDED:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: types.FrameType | None) -> None:
        if self.child is not None and self.child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signum)
        elif self.stopped is None:
            self.stopped = signum

    def run(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        if self.stopped is not None:
            return 128 + self.stopped
        own_group = not os.isatty(0)  # without a terminal, only we deliver signals (no double SIGINT)
        try:
            self.child = subprocess.Popen(argv, cwd=cwd, env=env, close_fds=True, preexec_fn=_die_with_parent,
                                          process_group=0 if own_group else None)
        except OSError as exc:
            raise EntrypointError(f"cannot start {argv[0][:80]}: {exc.strerror or exc}") from None
        if self.stopped is not None:  # a signal between the check and Popen
            self.child.send_signal(self.stopped)
        return exit_status(self.child.wait())


def main(argv: Sequence[str] | None = None) -> int:
    opts, command = parse(sys.argv[1:] if argv is None else argv)
    runner = Runner()
    appdir: str | None = None
    try:
        try:
            if not os.path.isfile(opts.bundle):
                raise EntrypointError(f"{opts.bundle}: no such bundle")
            context = _context(opts.context)
            unwrappers = _unwrappers(opts, opts.bundle)
            appdir, mount = private_dir(opts.workdir, opts.allow_disk)
            unseal_into(opts.bundle, appdir, unwrappers, context)
            del unwrappers
            argv_ = _command(command, appdir, mount)
            return runner.run(argv_, appdir, _child_env(appdir))
        except (EntrypointError, SealError, SecretError) as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}")
    finally:
        if appdir is not None:
            remove(appdir)


def console() -> None:
    """The console-script entry point."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - never a traceback from an ENTRYPOINT; the type only, no data
        print(f"mamori-entrypoint: error: internal error ({type(exc).__name__})", file=sys.stderr, flush=True)
        code = EXIT_ERROR
    sys.exit(code)
