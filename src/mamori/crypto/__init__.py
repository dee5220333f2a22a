"""Envelope encryption: a fresh AES-256 data key per object, wrapped by a key-encryption key.

``seal_stream`` / ``unseal_stream`` / ``rewrap_stream`` work on binary streams in bounded
memory; KEKs come from a passphrase keyring (:mod:`mamori.crypto.keyring`), a PKCS#11 token
(:mod:`mamori.crypto.pkcs11`) or a KMS (:mod:`mamori.crypto.kms`, Vault transit). The file
format is in docs/crypto.md. Only ``cryptography`` primitives are used.
"""

from mamori.crypto.errors import ContextMismatch, FormatError, IntegrityError, KeyUnavailable, SealError
from mamori.crypto.format import SEGMENT, Envelope, Header, Recipient
from mamori.crypto.keys import KeyUnwrapper, KeyWrapper, Kms
from mamori.crypto.stream import (
    SealWriter,
    iter_unseal,
    read_header,
    rewrap_stream,
    seal_stream,
    unseal_stream,
    unwrap_dek,
)

__all__ = [
    "SEGMENT", "ContextMismatch", "Envelope", "FormatError", "Header", "IntegrityError", "KeyUnavailable",
    "KeyUnwrapper", "KeyWrapper", "Kms", "Recipient", "SealError", "SealWriter", "iter_unseal", "read_header",
    "rewrap_stream", "seal_stream", "unseal_stream", "unwrap_dek",
]
