"""OpenPGP signing and verification through GnuPG, for containers/image "simple signing".

GnuPG is the independent implementation skopeo/podman/CRI-O themselves rely on (via gpgme), so
mamori drives the real binaries instead of re-implementing OpenPGP: ``gpg --sign`` (inline,
binary: containers/image rejects detached signatures) to sign, and ``gpgv`` against a keyring
file to verify (no agent, no home directory state, every key in the file trusted). The exit
code is never trusted alone: a signature counts only with exactly one ``NEWSIG``, one
``GOODSIG`` and one ``VALIDSIG`` whose primary-key fingerprint is in the keyring (parsed here,
independently of gpg), and no bad, expired or revoked signature status. Output is bounded:
the signed plaintext is read from a pipe up to a limit and the process killed beyond it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mamori.sign.errors import SignError

MAX_KEYRING = 1024 * 1024
MAX_SIGNATURE = 64 * 1024
MAX_PLAINTEXT = 64 * 1024
MAX_STATUS = 64 * 1024
TIMEOUT = 30.0
_BAD = {"BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY", "FAILURE", "DECRYPTION_FAILED"}


@dataclass(frozen=True, slots=True)
class Keyring:
    """An OpenPGP public keyring (binary, armor removed) and the fingerprints of its primary keys."""

    data: bytes
    fingerprints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verified:
    fingerprint: str  # the primary key's fingerprint (upper-case hex)
    signing_key: str  # the (sub)key that made the signature
    plaintext: bytes


def dearmor(data: bytes) -> bytes:
    """ASCII armor (``-----BEGIN PGP PUBLIC KEY BLOCK-----``) -> binary; binary input unchanged."""
    text = data.lstrip()
    if not text.startswith(b"-----BEGIN PGP "):
        return data
    lines = text.decode("ascii", "replace").splitlines()
    try:
        start = lines.index("") + 1  # armor headers end at the first empty line
    except ValueError:
        raise SignError("keyring: armor without a blank line after the header") from None
    body = []
    for line in lines[start:]:
        line = line.strip()
        if line.startswith("-----END PGP ") or line.startswith("="):
            break
        body.append(line)
    try:
        return base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise SignError("keyring: the armored block is not base64") from None


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each OpenPGP packet (RFC 4880 §4.2, old and new headers; no partial lengths)."""
    out, i = [], 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise SignError("keyring: not an OpenPGP packet stream")
        if head & 0x40:  # new format
            tag, i = head & 0x3F, i + 1
            if i >= len(data):
                raise SignError("keyring: truncated packet header")
            first = data[i]
            if first < 192:
                length, i = first, i + 1
            elif first < 224:
                if i + 1 >= len(data):
                    raise SignError("keyring: truncated packet header")
                length, i = ((first - 192) << 8) + data[i + 1] + 192, i + 2
            elif first == 255:
                length, i = int.from_bytes(data[i + 1:i + 5], "big"), i + 5
            else:
                raise SignError("keyring: partial-length packets are not allowed in a keyring")
        else:
            tag, kind, i = (head >> 2) & 0x0F, head & 3, i + 1
            if kind == 3:
                raise SignError("keyring: indeterminate-length packets are not allowed in a keyring")
            n = 1 << kind
            length, i = int.from_bytes(data[i:i + n], "big"), i + n
        if i + length > len(data):
            raise SignError("keyring: truncated packet")
        out.append((tag, data[i:i + length]))
        i += length
    return out


def load_keyring(data: bytes) -> Keyring:
    """Parse a keyring file (``gpg --export [--armor]``); refuses anything without a v4 primary key."""
    if len(data) > MAX_KEYRING:
        raise SignError(f"keyring is larger than {MAX_KEYRING} bytes")
    raw = dearmor(data)
    fprs = []
    for tag, body in _packets(raw):
        if tag == 6:  # public-key packet = a primary key
            if not body or body[0] != 4:
                raise SignError(f"keyring: unsupported public key version {body[0] if body else 0}")
            fprs.append(hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper())
        elif tag == 5 or tag == 7:
            raise SignError("keyring holds a secret key: export only the public key (gpg --export)")
    if not fprs:
        raise SignError("keyring holds no public key")
    return Keyring(raw, tuple(dict.fromkeys(fprs)))


def _run(argv: list[str], *, env: dict[str, str] | None = None, limit: int, timeout: float = TIMEOUT
         ) -> tuple[int, bytes, list[list[str]], str]:
    """Run with stdout bounded to ``limit``; status lines go to a file descriptor of their own."""
    with tempfile.TemporaryFile() as status, tempfile.TemporaryFile() as err:
        fd = status.fileno()
        argv = [argv[0], "--status-fd", str(fd), *argv[1:]]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                    pass_fds=(fd,), env=env)
        except OSError as exc:
            raise SignError(f"cannot run {argv[0]}: {exc.strerror}") from None
        assert proc.stdout is not None
        out, deadline, over = bytearray(), time.monotonic() + timeout, False
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    proc.kill()
                    proc.wait()
                    raise SignError(f"{os.path.basename(argv[0])} did not finish within {timeout:.0f} s")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    over = True
                    proc.kill()
                    break
        proc.stdout.close()
        try:
            rc = proc.wait(max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise SignError(f"{os.path.basename(argv[0])} did not finish within {timeout:.0f} s") from None
        if over:
            raise SignError(f"{os.path.basename(argv[0])} output is larger than {limit} bytes")
        status.seek(0)
        lines = [ln.split(" ")[1:] for ln in status.read(MAX_STATUS).decode("utf-8", "replace").splitlines()
                 if ln.startswith("[GNUPG:] ")]
        err.seek(0)
        errors = err.read(4096).decode("utf-8", "replace").strip()
    return rc, bytes(out), lines, errors


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise SignError(f"{name} is not installed (Debian package {'gpgv' if name == 'gpgv' else 'gnupg'})")
    return exe


def verify(blob: bytes, keyring: Keyring) -> Verified:
    """Check an inline-signed OpenPGP message against ``keyring``; the signed bytes on success."""
    if len(blob) > MAX_SIGNATURE:
        raise SignError("the GPG signature is larger than 64 KiB")
    with tempfile.TemporaryDirectory(prefix="mamori-gpgv-") as tmp:
        kr, msg = Path(tmp, "keyring.gpg"), Path(tmp, "message")
        kr.write_bytes(keyring.data)
        msg.write_bytes(blob)
        rc, plain, status, errors = _run([_tool("gpgv"), "--homedir", tmp, "--keyring", str(kr), "--output", "-",
                                          str(msg)], env={"LANG": "C", "PATH": os.environ.get("PATH", "")},
                                         limit=MAX_PLAINTEXT)
    keywords = [s[0] for s in status if s]
    bad = sorted(set(keywords) & _BAD)
    if bad:
        why = "the key is not in the trusted keyring" if "NO_PUBKEY" in bad else f"gpgv reports {', '.join(bad)}"
        raise SignError(f"invalid GPG signature: {why}")
    valid = [s for s in status if s and s[0] == "VALIDSIG"]
    if keywords.count("NEWSIG") != 1 or keywords.count("GOODSIG") != 1 or len(valid) != 1 or len(valid[0]) < 11:
        raise SignError("invalid GPG signature: not exactly one good signature"
                        + (f" ({errors.splitlines()[-1][:200]})" if errors else ""))
    if rc != 0:
        raise SignError(f"invalid GPG signature: gpgv exited with {rc}")
    signing, primary = valid[0][1].upper(), valid[0][10].upper()
    if primary not in keyring.fingerprints:
        raise SignError(f"invalid GPG signature: key {primary[:40]} is not a primary key of the trusted keyring")
    return Verified(primary, signing, plain)


def sign(data: bytes, key: str, *, home: str | None = None, passphrase_file: str | None = None) -> tuple[bytes, str]:
    """``gpg --sign`` (inline, binary) with ``key`` from ``home`` (default $GNUPGHOME); (message, fingerprint)."""
    if not key or len(key) > 256 or key.startswith("-") or any(c in key for c in "\n\r\0"):
        raise SignError("--gpg-key must be a key id, fingerprint or user id")
    with tempfile.TemporaryDirectory(prefix="mamori-gpg-") as tmp:
        msg = Path(tmp, "payload")
        msg.write_bytes(data)
        argv = [_tool("gpg"), "--batch", "--no-tty", "--yes", "--no-auto-key-retrieve", "--local-user", key]
        if home:
            argv += ["--homedir", home]
        if passphrase_file:
            argv += ["--pinentry-mode", "loopback", "--passphrase-file", passphrase_file]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "GNUPGHOME", "HOME", "GPG_AGENT_INFO")}
        env["LANG"] = "C"
        rc, out, status, errors = _run([*argv, "--sign", "--output", "-", str(msg)], env=env, limit=MAX_SIGNATURE)
    created = [s for s in status if s and s[0] == "SIG_CREATED"]
    if rc != 0 or len(created) != 1 or len(created[0]) < 7 or not out:
        last = errors.splitlines()[-1][:200] if errors else f"exit code {rc}"
        raise SignError(f"gpg could not sign with {key[:80]!r}: {last}")
    return out, created[0][6].upper()
