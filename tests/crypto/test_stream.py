"""The sealed stream: round trips, and every kind of damage is a clear SealError."""

from __future__ import annotations

import io
import os
import struct

import pytest

from mamori.crypto import (
    ContextMismatch,
    FormatError,
    IntegrityError,
    KeyUnavailable,
    SealError,
    SealWriter,
    read_header,
    rewrap_stream,
    seal_stream,
    unseal_stream,
)
from mamori.crypto.format import MAGIC, TAG
from mamori.crypto.keyring import Keyring

SEG = 1024  # small segments so multi-segment cases stay small


def seal(ring: Keyring, data: bytes, context: dict[str, str] | None = None, segment: int = SEG) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, [ring.wrapper()], context=context, segment=segment)
    return out.getvalue()


def unseal(ring: Keyring, blob: bytes, context: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    unseal_stream(io.BytesIO(blob), out, [ring.wrapper()], context=context)
    return out.getvalue()


def split(blob: bytes) -> tuple[bytes, list[bytes]]:
    """(header bytes, segments) of a sealed blob with SEG-byte segments."""
    n = struct.unpack(">I", blob[8:12])[0]
    m = struct.unpack(">I", blob[12 + n:16 + n])[0]
    head, body = blob[:16 + n + m], blob[16 + n + m:]
    size = SEG + TAG
    return head, [body[i:i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 5 * SEG + 17])
def test_round_trip(ring: Keyring, size: int) -> None:
    data = os.urandom(size)
    blob = seal(ring, data, {"app": "web"})
    assert blob.startswith(MAGIC) and (size < 16 or data[:16] not in blob)
    assert unseal(ring, blob, {"app": "web"}) == data
    assert len(split(blob)[1]) == max(1, -(-size // SEG))  # a final segment even when empty


def test_fresh_data_key_and_nonces_per_file(ring: Keyring) -> None:
    a, b = seal(ring, b"same" * 100), seal(ring, b"same" * 100)
    ha, hb = read_header(io.BytesIO(a)).header, read_header(io.BytesIO(b)).header
    assert ha.dek_id != hb.dek_id and ha.salt != hb.salt and ha.prefix != hb.prefix
    assert split(a)[1] != split(b)[1]


def test_every_byte_flip_is_detected(ring: Keyring) -> None:
    blob = seal(ring, os.urandom(2 * SEG + 100), {"app": "web"})
    for i in range(len(blob)):
        damaged = bytearray(blob)
        damaged[i] ^= 0x01
        with pytest.raises(SealError):
            unseal(ring, bytes(damaged), {"app": "web"})


def test_truncation_at_and_inside_segments(ring: Keyring) -> None:
    blob = seal(ring, os.urandom(3 * SEG + 10))
    head, segs = split(blob)
    for k in range(len(segs)):  # drop whole trailing segments: the new last one was not sealed as last
        with pytest.raises(IntegrityError) as exc:
            unseal(ring, head + b"".join(segs[:k]))
        assert "truncated" in str(exc.value) or "failed authentication" in str(exc.value)
    for cut in (1, TAG, SEG):
        with pytest.raises(IntegrityError):
            unseal(ring, blob[:-cut])
    with pytest.raises(FormatError):
        unseal(ring, head[:20])


def test_reorder_duplicate_and_append(ring: Keyring) -> None:
    head, segs = split(seal(ring, os.urandom(3 * SEG + 10)))
    swapped = [segs[1], segs[0], *segs[2:]]
    duplicated = [segs[0], *segs]
    for body in (swapped, duplicated, [*segs, segs[-1]], [*segs[:-1], segs[-1], b"extra"]):
        with pytest.raises(IntegrityError):
            unseal(ring, head + b"".join(body))


def test_segments_from_another_file_rejected(ring: Keyring) -> None:
    head_a, segs_a = split(seal(ring, os.urandom(2 * SEG)))
    _, segs_b = split(seal(ring, os.urandom(2 * SEG)))
    with pytest.raises(IntegrityError):
        unseal(ring, head_a + segs_a[0] + segs_b[1])


def test_wrong_key_and_wrong_context(ring: Keyring, other_ring: Keyring) -> None:
    blob = seal(ring, b"payload", {"app": "web", "env": "prod"})
    with pytest.raises(KeyUnavailable) as exc:
        unseal(other_ring, blob)
    assert "keyring" in str(exc.value)
    with pytest.raises(ContextMismatch):
        unseal(ring, blob, {"app": "web", "env": "dev"})
    with pytest.raises(ContextMismatch):
        unseal(ring, blob, {})
    assert unseal(ring, blob, None) == b"payload"  # no expectation: the bound context is still authenticated


def test_rewritten_header_context_fails_authentication(ring: Keyring) -> None:
    """An attacker who re-encodes the header with another context (lengths fixed up) gets nothing."""
    blob = seal(ring, b"payload", {"env": "prod"})
    n = struct.unpack(">I", blob[8:12])[0]
    bound = blob[12:12 + n].replace(b'"env":"prod"', b'"env":"test"')
    forged = blob[:8] + struct.pack(">I", len(bound)) + bound + blob[12 + n:]
    with pytest.raises(SealError):
        unseal(ring, forged, {"env": "test"})


def test_garbage_and_version(ring: Keyring) -> None:
    for junk in (b"", b"hello world", b"MAMSEAL", b"MAMSEAL\x02" + b"\x00" * 20, os.urandom(100)):
        with pytest.raises(FormatError):
            unseal(ring, junk)
    with pytest.raises(FormatError) as exc:
        unseal(ring, b"MAMSEAL\x02" + b"\x00" * 20)
    assert "version 2" in str(exc.value)


def test_rewrap_keeps_segments_and_moves_key(ring: Keyring, other_ring: Keyring) -> None:
    data = os.urandom(2 * SEG + 5)
    blob = seal(ring, data)
    out = io.BytesIO()
    rewrap_stream(io.BytesIO(blob), out, [ring.wrapper()], [other_ring.wrapper()])
    new = out.getvalue()
    assert split(new)[1] == split(blob)[1]  # the data was not re-encrypted
    assert unseal(other_ring, new) == data
    with pytest.raises(KeyUnavailable):
        unseal(ring, new)


def test_rewrap_refuses_a_damaged_file(ring: Keyring, other_ring: Keyring) -> None:
    blob = bytearray(seal(ring, os.urandom(SEG)))
    blob[-1] ^= 1
    with pytest.raises(IntegrityError):
        rewrap_stream(io.BytesIO(bytes(blob)), io.BytesIO(), [ring.wrapper()], [other_ring.wrapper()])


def test_seal_writer_for_tar_bundles(ring: Keyring) -> None:
    import tarfile

    out = io.BytesIO()
    with SealWriter(out, [ring.wrapper()], kind="tar", segment=SEG) as w, \
            tarfile.open(fileobj=w, mode="w|") as tar:  # type: ignore[call-overload]
        payload = os.urandom(3000)
        info = tarfile.TarInfo("app/config.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    assert read_header(io.BytesIO(out.getvalue())).header.kind == "tar"
    with tarfile.open(fileobj=io.BytesIO(unseal(ring, out.getvalue())), mode="r:") as tar:
        member = tar.extractfile("app/config.bin")
        assert member is not None and member.read() == payload


def test_multiple_recipients(ring: Keyring, other_ring: Keyring) -> None:
    out = io.BytesIO()
    seal_stream(io.BytesIO(b"shared"), out, [ring.wrapper(), other_ring.wrapper()])
    assert unseal(ring, out.getvalue()) == b"shared" and unseal(other_ring, out.getvalue()) == b"shared"
