"""cosign key format (known answers from real cosign and go-securesystemslib) and the exact payload bytes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mamori.sign import algorithms, keys, payload
from mamori.sign.errors import SignError

DATA = Path(__file__).parent / "data"
PLAIN = b"reallyimportant"
# secure-systems-lab/go-securesystemslib encrypted/encrypted_test.go (passphrase "supersecret")
DECRYPT_VECTOR = (b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},'
                  b'"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},"ciphertext":'
                  b'"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}')
# kdfVectors: Marshal() output, i.e. the plaintext is the JSON string of base64(PLAIN)
KDF_VECTORS = [
    b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"WO3mVvyTwJ9vwT5/Tk5OW5WPIBUofMjcpEfrLnfY4uA="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"tCy7HcTFr4uxv4Nrg/DWmncuZ148U1MX"},'
    b'"ciphertext":"08n43p5G5yviPEZpO7tPPF4aZQkWiWjkv4taFdhDBA0tamKH4nw="}',
    b'{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"FhzPOt9/bJG4PTq6lQ6ecG6GzaOuOy/ynG5+yRiFlNs="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"aw1ng1jHaDz/tQ7V2gR9O2+IGQ8xJEuE"},'
    b'"ciphertext":"HycvuLZL4sYH0BrYTh4E/H20VtAW6u5zL5Pr+IBjYLYnCPzDkq8="}',
    b'{"kdf":{"name":"scrypt","params":{"N":131072,"r":8,"p":1},"salt":"m38E3kouJTtiheLQN22NQ8DTito5hrjpUIskqcd375k="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"Y6PM13yA+o44pE/W1ZBwczeGnTV/m9Zc"},'
    b'"ciphertext":"6H8sqj1K6B6yDjtH5AQ6lbFigg/C2yDDJc4rYJ79w9aVPImFIPI="}',
]
UNSUPPORTED = (b'{"kdf":{"name":"scrypt","params":{"N":99,"r":99,"p":99},"salt":"cZFcQJdwPhPyhU1R4qkl0qVOIjZd4V/7LYYAav'
               b'q166k="},"cipher":{"name":"nacl/secretbox","nonce":"7vhRS7j0hEPBWV05skAdgLj81AkGeE7U"},"ciphertext":'
               b'"6WYU/YSXVbYzl/NzaeAzmjLyfFhOOjLc0d8/GFV0aBFdJvyCcXc="}')


def test_go_securesystemslib_vectors() -> None:
    assert keys.decrypt(DECRYPT_VECTOR, b"supersecret") == PLAIN
    for v in KDF_VECTORS:
        assert base64.b64decode(json.loads(keys.decrypt(v, b"supersecret"))) == PLAIN
    with pytest.raises(SignError, match="wrong passphrase"):
        keys.decrypt(DECRYPT_VECTOR, b"supersecreT")
    with pytest.raises(SignError, match="unsupported scrypt parameters"):
        keys.decrypt(UNSUPPORTED, b"supersecret")


@pytest.mark.parametrize(("name", "password"), [("cosign-v2-sigstore", b"testpassword"),
                                                ("cosign-v1-cosign", b"C@S1GN#$&")])
def test_keys_made_by_real_cosign(name: str, password: bytes) -> None:
    """Published cosign key pairs: the decrypted private key's public half equals the published .pub."""
    key = keys.load_private((DATA / f"{name}.key").read_bytes(), password)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert keys.public_pem(key) == (DATA / f"{name}.pub").read_bytes()
    pub = keys.load_public((DATA / f"{name}.pub").read_bytes())
    sig = algorithms.sign(key, b"payload")
    assert algorithms.verify(pub, sig, b"payload") and not algorithms.verify(pub, sig, b"payloaD")
    with pytest.raises(SignError, match="wrong passphrase"):
        keys.load_private((DATA / f"{name}.key").read_bytes(), password + b"x")


@pytest.mark.parametrize("label", keys.LABELS)
def test_written_key_format(label: str) -> None:
    key = keys.generate()
    pem = keys.encrypted_pem(key, b"pw", label)
    lines = pem.decode().splitlines()
    assert lines[0] == f"-----BEGIN {label}-----" and lines[-1] == f"-----END {label}-----"
    assert all(len(line) <= 64 for line in lines[1:-1])
    doc = json.loads(base64.b64decode("".join(lines[1:-1])))
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert doc["cipher"] == {"name": "nacl/secretbox", "nonce": doc["cipher"]["nonce"]}
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    back = keys.load_private(pem, b"pw")
    assert keys.public_pem(back) == keys.public_pem(key)
    assert keys.encrypted_pem(key, b"pw", label) != pem  # fresh salt and nonce


def test_empty_passphrase_like_cosign() -> None:
    key = keys.generate()
    assert keys.public_pem(keys.load_private(keys.encrypted_pem(key, b""), None)) == keys.public_pem(key)


def test_tampered_and_hostile_key_files() -> None:
    pem = keys.encrypted_pem(keys.generate(), b"pw")
    body = "".join(pem.decode().splitlines()[1:-1])
    doc = json.loads(base64.b64decode(body))
    ct = bytearray(base64.b64decode(doc["ciphertext"]))
    ct[5] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    with pytest.raises(SignError, match="wrong passphrase or corrupted"):
        keys.decrypt(json.dumps(doc).encode(), b"pw")
    begin = b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    end = b"\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    for bad in (b"", b"not pem", b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", begin + b"!!!" + end,
                begin + b"bm90IGEga2V5" + end,
                b"x" * (keys.MAX_KEY_FILE + 1)):
        with pytest.raises(SignError):
            keys.load_private(bad, b"pw")
    doc2 = json.loads(DECRYPT_VECTOR)
    doc2["kdf"]["name"] = "pbkdf2"
    with pytest.raises(SignError, match="unsupported kdf"):
        keys.decrypt(json.dumps(doc2).encode(), b"supersecret")


def test_payload_bytes_are_go_json() -> None:
    digest = "sha256:" + "ab" * 32
    assert payload.build("127.0.0.1:5000/app", digest) == (
        b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app"},"image":{"docker-manifest-digest":"'
        + digest.encode() + b'"},"type":"cosign container image signature"},"optional":null}')
    with_opt = payload.build("r/app", digest, {"z": "1", "a": "<&>"})
    assert with_opt.endswith(b'"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}}')
    p = payload.parse(with_opt)
    assert p.digest == digest and p.docker_reference == "r/app" and p.optional == {"a": "<&>", "z": "1"}


@pytest.mark.parametrize("doc", [
    {"critical": {"identity": {"docker-reference": "r"}, "image": {"docker-manifest-digest": "d"},
                  "type": "atomic container signature"}, "optional": None},
    {"critical": {"identity": {"docker-reference": "r"}, "image": {"docker-manifest-digest": "d"},
                  "type": "cosign container image signature", "env": "x"}, "optional": None},
    {"critical": {"identity": {"docker-reference": "r"}, "image": {"docker-manifest-digest": "d", "x": 1},
                  "type": "cosign container image signature"}},
    {"critical": {"identity": {}, "image": {"docker-manifest-digest": "d"},
                  "type": "cosign container image signature"}},
    {"critical": {"identity": {"docker-reference": "r"}, "image": {"docker-manifest-digest": "d"},
                  "type": "cosign container image signature"}, "optional": "x"},
    {"critical": {"identity": {"docker-reference": "r"}, "image": {"docker-manifest-digest": "d"},
                  "type": "cosign container image signature"}, "extra": 1},
    [],
])
def test_payload_parse_is_strict(doc: object) -> None:
    with pytest.raises(SignError):
        payload.parse(json.dumps(doc).encode())
