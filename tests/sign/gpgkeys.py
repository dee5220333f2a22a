"""Throw-away GnuPG signing keys in private home directories (never the user's ~/.gnupg)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from mamori.sign import gpg
from tests import components


@dataclass(frozen=True)
class GpgKey:
    home: Path  # GNUPGHOME holding the secret key
    fingerprint: str
    public: Path  # binary keyring with the public key (gpg --export)
    armored: Path  # the same, ASCII-armored

    def gpg(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--no-tty", *args], input=data,
                              capture_output=True, timeout=60, check=False)

    def stop(self) -> None:
        """Stop the gpg-agent that signing started for this home, then remove the home."""
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True,
                       timeout=30, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def make_key(name: str, base: Path | None = None) -> GpgKey:
    """An Ed25519 signing key without a passphrase (``base``: where the home goes, e.g. inside a chroot)."""
    if shutil.which("gpg") is None or shutil.which("gpgv") is None:
        components.unavailable("gnupg", "gpg/gpgv not installed (Debian package gnupg)")
    home = Path(tempfile.mkdtemp(prefix="mamori-gpg-", dir=base))
    home.chmod(0o700)
    key = GpgKey(home, "", home / "signer.gpg", home / "signer.asc")
    r = key.gpg("--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                f"{name} <{name}@example.test>", "ed25519", "sign", "never")
    if r.returncode != 0:
        components.unavailable("gnupg", f"key generation failed: {r.stderr.decode(errors='replace')[-500:]}")
    listing = key.gpg("--with-colons", "--list-secret-keys").stdout.decode()
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    key.public.write_bytes(key.gpg("--export", fpr).stdout)
    key.armored.write_bytes(key.gpg("--armor", "--export", fpr).stdout)
    return GpgKey(home, fpr, key.public, key.armored)


def tamper_payload(message: bytes, suffix: bytes = b" ") -> bytes:
    """The same OpenPGP signed message with ``suffix`` appended to its signed data (signature packet kept).

    gpg writes ``compressed(one-pass-sig, literal, signature)`` with an indeterminate-length ZIP packet;
    the result is the three packets uncompressed, the literal data changed.
    """
    assert message[:2] == b"\xa3\x01", "expected gpg's compressed (ZIP) signed message"
    inner = zlib.decompress(message[2:], -15)
    out = b""
    for tag, body in gpg._packets(inner):
        if tag == 11:  # literal: format, name length, name, 4-byte date, data
            body += suffix
        out += bytes([0xC0 | tag, 0xFF]) + len(body).to_bytes(4, "big") + body
    return out
