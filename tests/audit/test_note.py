"""Signed notes and checkpoints: byte-compatible with golang.org/x/mod/sumdb/note, and key files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from mamori.audit import keys, note

# golang.org/x/mod/sumdb/note: the documented example key and signed note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + ("\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
                     "pRZb6KE6RyyBwJnAM=\n")


def go_signer() -> note.Ed25519Signer:
    return note.Ed25519Signer("PeterNeumann", ed25519.Ed25519PrivateKey.from_private_bytes(GO_SEED))


def test_signing_reproduces_the_go_example_byte_for_byte() -> None:
    s = go_signer()
    assert s.verifier().encode() == GO_VKEY
    assert note.sign_note(GO_TEXT, [s]) == GO_NOTE


def test_the_go_example_verifies_and_tampering_does_not() -> None:
    v = note.parse_verifier(GO_VKEY)
    n, names = note.verify_note(GO_NOTE, [v])
    assert n.text == GO_TEXT and names == ["PeterNeumann"]
    with pytest.raises(note.NoteError):
        note.verify_note(GO_NOTE.replace("answer", "Answer"), [v])
    other = note.Ed25519Signer("Other", ed25519.Ed25519PrivateKey.generate()).verifier()
    with pytest.raises(note.NoteError, match="no trusted key"):
        note.verify_note(GO_NOTE, [other])
    with pytest.raises(note.NoteError):
        note.parse_verifier(GO_VKEY.replace("c74f20a3", "c74f20a4"))


def test_checkpoint_round_trip_and_foreign_key() -> None:
    s = note.Ed25519Signer("log-key", ed25519.Ed25519PrivateKey.generate())
    cp = note.Checkpoint("example.com/log", 42, bytes(range(32)))
    signed = note.sign_checkpoint(cp, s)
    assert signed.startswith("example.com/log\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n\u2014 log-key ")
    assert note.open_checkpoint(signed, [s.verifier()]) == cp
    forged = note.sign_checkpoint(note.Checkpoint("example.com/log", 41, bytes(32)),
                                  note.Ed25519Signer("log-key", ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(note.NoteError):
        note.open_checkpoint(forged, [s.verifier()])
    assert note.split_notes(signed + "\n" + forged + "\n") == [signed, forged]


@pytest.mark.parametrize("body", ["o\n042\nAAAA\n", "o\n1\nnot base64!\n", "o\n1\n", "\n1\n" + "A" * 44 + "\n"])
def test_malformed_checkpoints_are_refused(body: str) -> None:
    with pytest.raises(note.NoteError):
        note.parse_checkpoint(body)


def test_key_files_plain_and_encrypted(tmp_path: Path) -> None:
    s = keys.generate(tmp_path / "k.pem", "audit-1")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    assert keys.load_signer(tmp_path / "k.pem").public == s.public
    assert keys.load_verifier(str(tmp_path / "k.pem.pub")) == s.verifier()
    e = keys.generate(tmp_path / "e.pem", "audit-2", b"correct horse")
    assert b"ENCRYPTED" in (tmp_path / "e.pem").read_bytes()
    assert keys.load_signer(tmp_path / "e.pem", b"correct horse").public == e.public
    with pytest.raises(keys.KeyFileError, match="passphrase") as err:
        keys.load_signer(tmp_path / "e.pem", b"wrong")
    assert "wrong" not in str(err.value).replace("wrong passphrase", "")
    with pytest.raises(keys.KeyFileError, match="encrypted"):
        keys.load_signer(tmp_path / "e.pem")
    with pytest.raises(FileExistsError):
        keys.generate(tmp_path / "k.pem", "again")
