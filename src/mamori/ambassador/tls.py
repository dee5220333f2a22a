"""TLS contexts for the ambassador, and the certificate files they are rebuilt from on rotation.

Each handshake takes the context current at accept (or connect) time, so replacing the
context rotates certificates for new connections while established ones keep theirs.
TLS 1.2 is the floor and only ECDHE with AEAD ciphers is offered there (no CBC, no RSA key
exchange); TLS 1.3 is preferred whenever both ends speak it.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

log = logging.getLogger("mamori.ambassador")

MAX_PEM = 1024 * 1024  # a CA bundle may hold many certificates; a leaf and key are a few KiB
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class TlsConfigError(ValueError):
    """Unusable certificate, key or CA files; the message names the file, never its contents."""


@dataclass(frozen=True, slots=True)
class Files:
    cert: str
    key: str
    ca: str

    def mtimes(self) -> tuple[float, ...]:
        out = []
        for p in (self.cert, self.key, self.ca):
            try:
                out.append(os.stat(p).st_mtime_ns)
            except OSError:
                out.append(-1)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Loaded:
    """One generation of credentials: the context and what the logs and metrics say about it."""

    context: ssl.SSLContext
    not_before: datetime
    not_after: datetime
    subject: str
    ca_not_after: datetime
    generation: int


def _check_size(path: str, what: str) -> None:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise TlsConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if size > MAX_PEM:
        raise TlsConfigError(f"{what} {path} is larger than {MAX_PEM} bytes")


def _no_password() -> bytes:
    raise TlsConfigError("the key is encrypted; give an unencrypted PEM key (mode 0600)")


def base_context(server_side: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.verify_mode = ssl.CERT_REQUIRED
    if server_side:
        ctx.num_tickets = 0  # no resumption: every connection proves its identity again (and tickets cost work)
    return ctx


def load(files: Files, server_side: bool, check_hostname: bool, generation: int = 0) -> Loaded:
    """A verifying context from the PEM files; raises TlsConfigError with a clear message."""
    for path, what in ((files.cert, "certificate"), (files.key, "key"), (files.ca, "CA bundle")):
        _check_size(path, what)
    ctx = base_context(server_side)
    ctx.check_hostname = check_hostname and not server_side
    try:
        ctx.load_cert_chain(files.cert, files.key, password=_no_password)
    except TlsConfigError:
        raise
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"cannot load certificate {files.cert} with key {files.key}: {exc}") from None
    try:
        ctx.load_verify_locations(cafile=files.ca)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"cannot load CA bundle {files.ca}: {exc}") from None
    try:
        with open(files.cert, "rb") as fh:
            leaf = x509.load_pem_x509_certificate(fh.read(MAX_PEM))
        with open(files.ca, "rb") as fh:
            cas = x509.load_pem_x509_certificates(fh.read(MAX_PEM))
    except (OSError, ValueError) as exc:
        raise TlsConfigError(f"cannot parse {files.cert} or {files.ca}: {exc}") from None
    ca_after = min(c.not_valid_after_utc for c in cas)
    return Loaded(ctx, leaf.not_valid_before_utc, leaf.not_valid_after_utc, leaf.subject.rfc4514_string(), ca_after,
                  generation)


class CertStore:
    """The current credentials, reloaded when a file's mtime changes; a bad reload keeps the old ones."""

    def __init__(self, files: Files, server_side: bool, check_hostname: bool) -> None:
        self.files, self.server_side, self.check_hostname = files, server_side, check_hostname
        self._stamp = files.mtimes()
        self.current = load(files, server_side, check_hostname)
        self.reloads = 0
        self.reload_errors = 0
        self.last_error: str | None = None

    def poll(self) -> bool | None:
        """True: reloaded; False: reload failed (old context kept); None: nothing changed."""
        stamp = self.files.mtimes()
        if stamp == self._stamp:
            return None
        try:
            fresh = load(self.files, self.server_side, self.check_hostname, self.current.generation + 1)
        except TlsConfigError as exc:
            # A rotation tool may be half-way through writing the files: keep the old context, retry later.
            self.reload_errors += 1
            self.last_error = str(exc)
            log.error("certificate reload failed, keeping the previous certificate: %s", exc)
            return False
        self._stamp = stamp
        self.current = fresh
        self.reloads += 1
        self.last_error = None
        log.info("certificates reloaded (generation %d, %s, valid until %s)", fresh.generation, fresh.subject,
                 fresh.not_after.isoformat())
        return True

    def force(self) -> bool | None:
        self._stamp = ()
        return self.poll()

    def expiry_seconds(self, now: datetime | None = None) -> float:
        return (self.current.not_after - (now or datetime.now(UTC))).total_seconds()

    def expiry_warning(self, now: datetime | None = None) -> str | None:
        """A warning once less than a third of the certificate's lifetime (or of the CA's) remains."""
        now = now or datetime.now(UTC)
        cur = self.current
        left = (cur.not_after - now).total_seconds()
        life = max(1.0, (cur.not_after - cur.not_before).total_seconds())
        if left <= 0:
            return f"the certificate {self.files.cert} ({cur.subject}) expired at {cur.not_after.isoformat()}"
        if left < life / 3:
            return (f"the certificate {self.files.cert} ({cur.subject}) expires in {int(left)} s "
                    f"at {cur.not_after.isoformat()}: rotate it")
        if (cur.ca_not_after - now).total_seconds() < 7 * 86400:
            return f"a CA in {self.files.ca} expires at {cur.ca_not_after.isoformat()}"
        return None
