"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their offline verification.

Everything here is a pure function of hashes: the store supplies subtree hashes through an
``mth(start, end)`` callback, so the same proof code serves an in-memory list and a database
of a million leaves. Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
(consistency) step by step; docs/audit.md walks through both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF, _NODE = b"\x00", b"\x01"

Mth = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify, or one asked for impossible sizes."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the 0x00 prefix keeps a leaf from posing as an inner node."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The compact range [0, size): one perfect-subtree hash per set bit of ``size``, largest first.

    Appending is amortised O(1) and the root O(log n), which is how a million leaves are folded
    in seconds. ``on_node(height, index, hash)`` sees every perfect subtree as it completes, so a
    store can keep the ones it wants (mamori keeps height 8, one per 256 leaves).
    """

    __slots__ = ("hashes", "on_node", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = (),
                 on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} hashes, not {len(hashes)}")
        self.size = size
        self.hashes = list(hashes)
        self.on_node = on_node

    def append(self, leaf: bytes) -> None:
        h = leaf
        size = self.size
        height = 0
        sha = hashlib.sha256
        while size & 1:
            h = sha(_NODE + self.hashes.pop() + h).digest()
            size >>= 1
            height += 1
            if self.on_node is not None:
                self.on_node(height, (self.size + 1 >> height) - 1, h)
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def packed(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def unpack(cls, size: int, blob: bytes) -> Frontier:
        return cls(size, [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    f = Frontier()
    for h in leaves:
        f.append(h)
    return f.root()


def list_mth(leaves: Sequence[bytes]) -> Mth:
    """An ``mth`` callback over leaf hashes held in memory (tests, small trees)."""
    return lambda a, b: root_of(leaves[a:b])


def inclusion_proof(index: int, size: int, mth: Mth) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[size]): sibling hashes from the leaf up to the root."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:  # walk down, record siblings, reverse at the end (leaf first)
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(old: int, new: int, mth: Mth) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(old, D[new]): shows D[old] is a prefix of D[new]."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old == 0 or old == new:
        return []
    path: list[bytes] = []
    lo, hi, complete = 0, new, True
    m = old
    while True:
        if m == hi - lo:  # SUBPROOF(m, D[m], b)
            if not complete:
                path.append(mth(lo, hi))
            break
        k = split_point(hi - lo)
        if m <= k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            m -= k
            lo += k
            complete = False
    path.reverse()
    return path


def _check(h: bytes, what: str) -> None:
    if len(h) != HASH_SIZE:
        raise ProofError(f"{what} is {len(h)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-3: the root an inclusion proof implies."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    _check(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check(p, f"proof element {i}")
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``leaf`` is entry ``index`` of the tree ``(size, root)``."""
    _check(root, "the root")
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"the inclusion proof for entry {index} does not lead to the root of size {size}")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofError` unless tree ``old`` is a prefix of tree ``new``."""
    if not 0 <= old <= new:
        raise ProofError(f"size {new} is smaller than size {old}: a log never shrinks")
    if old == new:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old}")
        return
    if old == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check(old_root, "the old root")
    _check(new_root, "the new root")
    path = list(proof)
    for i, p in enumerate(path):
        _check(p, f"proof element {i}")
    if old & (old - 1) == 0:  # step 2: old is an exact power of two
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {old}")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the root of size {new}")
