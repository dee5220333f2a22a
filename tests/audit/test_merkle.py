"""RFC 6962 hashing and proofs against the transparency-dev/merkle test vectors and a naive recomputation."""

from __future__ import annotations

import hashlib
import random

import pytest

from mamori.audit import merkle

# transparency-dev/merkle proof/verify_test.go: leaves, roots of sizes 1..8, proofs.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
INCLUSION = [  # (1-based leaf, size, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 as written: recursive, from the data itself."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root_of([]) == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_published_vectors(size: int) -> None:
    assert merkle.root_of(HASHES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_vectors_and_verify(leaf: int, size: int, proof: list[str]) -> None:
    want = [bytes.fromhex(p) for p in proof]
    assert merkle.inclusion_proof(leaf - 1, size, merkle.list_mth(HASHES)) == want
    merkle.verify_inclusion(leaf - 1, size, HASHES[leaf - 1], want, ROOTS[size - 1])
    # the corruptions of transparency-dev's verifierCheck must all fail
    root, lh, idx = ROOTS[size - 1], HASHES[leaf - 1], leaf - 1
    bad = [(idx - 1, size, lh, want, root), (idx + 1, size, lh, want, root), (idx ^ 2, size, lh, want, root),
           (idx, size * 2, lh, want, root), (idx, size // 2, lh, want, root),
           (idx, size, merkle.leaf_hash(b"WrongLeaf"), want, root), (idx, size, lh, want, merkle.EMPTY_ROOT),
           (idx, size, lh, [*want, root], root), (idx, size, lh, [root, *want], root),
           (idx, size, lh, want[:-1], root)]
    for i in range(len(want)):
        flipped = list(want)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((idx, size, lh, flipped, root))
    for args in bad:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*args)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_vectors_and_verify(old: int, new: int, proof: list[str]) -> None:
    want = [bytes.fromhex(p) for p in proof]
    assert merkle.consistency_proof(old, new, merkle.list_mth(HASHES)) == want
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    merkle.verify_consistency(old, new, r1, r2, want)
    bad = [(old - 1, new, r1, r2, want), (old + 1, new, r1, r2, want), (old ^ 2, new, r1, r2, want),
           (old, new * 2, r1, r2, want), (old, new // 2, r1, r2, want), (old, new, r2, r1, want),
           (old, new, merkle.EMPTY_ROOT, r2, want), (old, new, r1, r2, []), (old, new, r1, r2, [*want, r1]),
           (old, new, r1, r2, [r2, *want]), (old, new, r1, r2, want[:-1])]
    for i in range(len(want)):
        flipped = list(want)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((old, new, r1, r2, flipped))
    for args in bad:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*args)


def test_trivial_consistency_cases() -> None:
    merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[4], [])
    merkle.verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(4, 3, ROOTS[3], ROOTS[2], [])


def test_property_against_naive_recomputation() -> None:
    rng = random.Random(6962)
    for _ in range(300):
        n = rng.randint(1, 140)
        data = [rng.randbytes(rng.randint(0, 12)) for _ in range(n)]
        hashes = [merkle.leaf_hash(d) for d in data]
        root = naive_mth(data)
        assert merkle.root_of(hashes) == root
        mth = merkle.list_mth(hashes)
        i, m = rng.randrange(n), rng.randint(0, n)
        merkle.verify_inclusion(i, n, hashes[i], merkle.inclusion_proof(i, n, mth), root)
        merkle.verify_consistency(m, n, naive_mth(data[:m]), root, merkle.consistency_proof(m, n, mth))
        if 0 < m < n and data[:m] != data[:m][::-1]:
            other = naive_mth(data[:m][::-1])  # a different prefix must not pass
            if other != naive_mth(data[:m]):
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, other, root, merkle.consistency_proof(m, n, mth))


def test_frontier_survives_packing_and_reports_tiles() -> None:
    seen: list[tuple[int, int]] = []
    f = merkle.Frontier(on_node=lambda h, i, _: seen.append((h, i)) if h == 2 else None)
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(13)]
    for h in hashes[:10]:
        f.append(h)
    g = merkle.Frontier.unpack(f.size, f.packed())
    for h in hashes[10:]:
        g.append(h)
    assert g.root() == naive_mth([bytes([i]) for i in range(13)])
    assert seen == [(2, 0), (2, 1)]  # the complete 4-leaf subtrees [0,4) and [4,8)
