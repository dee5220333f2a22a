"""A CA and a localhost serving certificate for HTTPS tests, made by mamori's own certificate code."""

from __future__ import annotations

from pathlib import Path

from mamori.enforce.certs import serving_bundle, write_bundle


def localhost_tls(out: Path) -> dict[str, str]:
    ca, cert, key = write_bundle(out, serving_bundle(["localhost"], ["127.0.0.1"], days=2))
    return {"ca": str(ca), "cert": str(cert), "key": str(key)}
