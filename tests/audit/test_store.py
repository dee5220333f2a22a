"""The stored log: gapless appends, proofs from the database, and `verify` naming each kind of tampering."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mamori.audit import merkle
from mamori.audit.entry import EntryError, canonical, new_entry
from mamori.audit.log import AuditLog, open_log
from mamori.audit.note import Ed25519Signer, sign_checkpoint
from mamori.audit.verify import verify_store
from tests.audit.test_merkle import naive_mth


def fill(log: AuditLog, n: int, start: int = 0) -> None:
    log.append([new_entry({"type": "test.event", "payload": {"i": i, "msg": f"event {i}"},
                           "container": f"c{i % 7}", "image": "busybox:1.36"}, "tester") for i in range(start, n)])


def db(log: AuditLog) -> sqlite3.Connection:
    return sqlite3.connect(str(log.engine.url.database))


def problems(log: AuditLog, signer: Ed25519Signer, witness: list[str] | None = None) -> list[str]:
    return verify_store(log.engine, [signer.verifier()], witness or []).problems


@pytest.fixture
def logged(log: AuditLog, signer: Ed25519Signer) -> tuple[AuditLog, Ed25519Signer, list[str]]:
    """300 entries with checkpoints at 64, 200 and 300, each also exported to a witness list."""
    witness = []
    for size in (64, 200, 300):
        fill(log, size, log.head().size)
        witness.append(log.checkpoint(signer).note)
    assert problems(log, signer, witness) == []
    return log, signer, witness


def test_entries_are_numbered_without_gaps_and_hash_their_canonical_bytes(log: AuditLog) -> None:
    fill(log, 5)
    fill(log, 9, 5)
    rows = log.query(limit=100)
    assert [r.seq for r in rows] == list(range(9))
    for r in rows:
        assert r.leaf == merkle.leaf_hash(r.data)
        assert canonical(r.json()) == r.data and r.json()["seq"] == r.seq
    assert log.head().root == naive_mth([r.data for r in rows])


def test_proofs_from_the_store_verify_at_every_size(log: AuditLog) -> None:
    fill(log, 700)  # crosses two 256-leaf tiles
    data = [r.data for r in log.query(limit=1000)]
    for n in (1, 2, 255, 256, 257, 512, 513, 700):
        root = naive_mth(data[:n])
        assert log.root_at(n) == root
        for i in {0, n // 3, n - 1}:
            merkle.verify_inclusion(i, n, merkle.leaf_hash(data[i]), log.inclusion_proof(i, n), root)
        for m in {0, 1, n // 2, n - 1, n}:
            merkle.verify_consistency(m, n, naive_mth(data[:m]), root, log.consistency_proof(m, n))
    with pytest.raises(merkle.ProofError):
        log.inclusion_proof(3, 701)


def test_bad_entries_are_refused_with_the_reason() -> None:
    for obj, why in (({"payload": {}}, "type"), ({"type": "x", "source": "me"}, "unknown field"),
                     ({"type": "x", "payload": []}, "payload"), ({"type": "x", "time": "yesterday"}, "RFC 3339"),
                     ({"type": "x", "payload": {"f": float("nan")}}, "NaN"),
                     ({"type": "x", "payload": {"b": "x" * 70_000}}, "exceeds the limit"),
                     ({"type": "bad type"}, "type")):
        with pytest.raises(EntryError, match=why):
            new_entry(obj, "src")


def test_checkpoint_is_reused_until_the_log_grows(log: AuditLog, signer: Ed25519Signer) -> None:
    fill(log, 3)
    a = log.checkpoint(signer)
    assert log.checkpoint(signer) == a
    fill(log, 4, 3)
    b = log.checkpoint(signer)
    assert (a.size, b.size) == (3, 4) and b.note.startswith("test.example/audit\n4\n")


def test_single_byte_change_in_a_payload_is_named(logged: tuple[AuditLog, Ed25519Signer, list[str]]) -> None:
    log, signer, _ = logged
    with db(log) as c:
        c.execute("UPDATE audit_entries SET data = replace(data, 'event 41', 'event 42') WHERE seq = 41")
    got = problems(log, signer)
    # named once, against the first checkpoint whose tree covers it; every later checkpoint differs too
    assert got[0] == ("entry 41: stored content differs from checkpoint 1's tree "
                      "(its data no longer hashes to the leaf recorded at append time)")
    assert [p.split(":")[0] for p in got[1:]] == ["checkpoint 1 (size 64)", "checkpoint 2 (size 200)",
                                                  "checkpoint 3 (size 300)"]
    assert all(p.endswith("entries 41 changed") for p in got[1:])


def test_deleted_row_is_named_as_a_gap(logged: tuple[AuditLog, Ed25519Signer, list[str]]) -> None:
    log, signer, _ = logged
    with db(log) as c:
        c.execute("DELETE FROM audit_entries WHERE seq = 100")
    got = problems(log, signer)
    assert "entry 100 missing (sequence gap)" in got
    assert any(p.startswith("checkpoint 2 (size 200): root differs") for p in got)


def test_swapped_rows_are_named(logged: tuple[AuditLog, Ed25519Signer, list[str]]) -> None:
    log, signer, _ = logged
    with db(log) as c:
        c.execute("UPDATE audit_entries SET seq = -1 WHERE seq = 10")
        c.execute("UPDATE audit_entries SET seq = 10 WHERE seq = 20")
        c.execute("UPDATE audit_entries SET seq = 20 WHERE seq = -1")
    got = problems(log, signer)
    assert "entry 10: its content records position 20 (reordered or renumbered)" in got
    assert "entry 20: its content records position 10 (reordered or renumbered)" in got
    assert any(p.startswith("checkpoint 1 (size 64): root differs") for p in got)


def test_inserted_row_with_a_correct_hash_is_caught(logged: tuple[AuditLog, Ed25519Signer, list[str]]) -> None:
    log, signer, _ = logged
    forged = new_entry({"type": "test.event", "payload": {"i": -1}}, "tester")
    with db(log) as c:  # shift 150.. up by one and slip a well-formed entry in at 150
        for seq in range(299, 149, -1):
            c.execute("UPDATE audit_entries SET seq = seq + 1 WHERE seq = ?", (seq,))
        data = canonical(forged.data(150, "2026-01-01T00:00:00.000000Z"))
        c.execute("INSERT INTO audit_entries (seq, leaf_hash, time, received, source, type, data) "
                  "VALUES (150, ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'tester', "
                  "'test.event', ?)", (merkle.leaf_hash(data), data.decode()))
    got = problems(log, signer)
    assert "entry 151: its content records position 150 (reordered or renumbered)" in got
    assert any(p.startswith("checkpoint 2 (size 200): root differs") and "[64, 200)" in p for p in got)
    assert any("the log head says 300 entries, the store holds 301" in p for p in got)


def _rewrite(log: AuditLog, seq: int) -> None:
    """A careful attacker: change an entry, recompute its leaf, the tiles and the head."""
    with db(log) as c:
        row = c.execute("SELECT data FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
        doc = json.loads(row[0])
        doc["payload"]["msg"] = "nothing happened"
        data = canonical(doc)
        c.execute("UPDATE audit_entries SET data = ?, leaf_hash = ? WHERE seq = ?",
                  (data.decode(), merkle.leaf_hash(data), seq))
        leaves = [bytes(r[0]) for r in c.execute("SELECT leaf_hash FROM audit_entries ORDER BY seq")]
        f = merkle.Frontier()
        for h in leaves:
            f.append(h)
        c.execute("UPDATE audit_head SET frontier = ? WHERE id = 1", (f.packed(),))
        for t in range(len(leaves) // 256):
            c.execute("UPDATE audit_tiles SET hash = ? WHERE idx = ?", (merkle.root_of(leaves[t * 256:t * 256 + 256]),
                                                                      t))


def test_rewrite_with_recomputed_hashes_is_caught_by_the_checkpoint_signature(
        logged: tuple[AuditLog, Ed25519Signer, list[str]], tmp_path: Path) -> None:
    log, signer, witness = logged
    _rewrite(log, 250)
    got = problems(log, signer)
    assert any(p.startswith("checkpoint 3 (size 300): root differs") and "[200, 300)" in p and "recomputed" in p
               for p in got)
    # ... so the attacker re-signs every checkpoint with a key of their own
    from mamori.audit import keys
    from mamori.audit.note import Checkpoint

    mallory = keys.generate(tmp_path / "mallory.pem", "test-audit")
    with db(log) as c:
        for cid, size in c.execute("SELECT id, size FROM audit_checkpoints").fetchall():
            root = log.root_at(size)
            c.execute("UPDATE audit_checkpoints SET root = ?, note = ? WHERE id = ?",
                      (root, sign_checkpoint(Checkpoint(log.origin, size, root), mallory), cid))
    assert verify_store(log.engine, [mallory.verifier()]).problems == []  # consistent under the wrong key
    got = problems(log, signer)
    assert sum("no trusted key signed this note" in p for p in got) == 3
    got = problems(log, signer, witness)  # the witness still holds the original checkpoints
    assert any(p.startswith("witnessed checkpoint 3 (size 300): root differs") for p in got)
    assert not any(p.startswith("witnessed checkpoint 2") for p in got)  # entries < 200 are untouched


def test_truncated_tail_is_caught_by_the_witness(logged: tuple[AuditLog, Ed25519Signer, list[str]]) -> None:
    log, signer, witness = logged
    with db(log) as c:  # drop the last 40 entries and every trace of them, as if never logged
        c.execute("DELETE FROM audit_entries WHERE seq >= 260")
        c.execute("DELETE FROM audit_checkpoints WHERE size > 260")
        leaves = [bytes(r[0]) for r in c.execute("SELECT leaf_hash FROM audit_entries ORDER BY seq")]
        f = merkle.Frontier()
        for h in leaves:
            f.append(h)
        c.execute("UPDATE audit_head SET size = 260, frontier = ? WHERE id = 1", (f.packed(),))
    assert problems(log, signer) == []  # the store alone looks complete
    got = problems(log, signer, witness)
    assert got == ["witnessed checkpoint 3 (size 300) covers entries 260..299, which the store no longer has "
                   "(truncated tail)"]


def test_column_edits_are_named(logged: tuple[AuditLog, Ed25519Signer, list[str]]) -> None:
    log, signer, _ = logged
    with db(log) as c:
        c.execute("UPDATE audit_entries SET container = 'innocent' WHERE seq = 7")
    assert problems(log, signer) == ["entry 7: column 'container' differs from the logged content"]


def test_several_logs_share_one_store_without_gaps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a, b = open_log(url), open_log(url)
    assert a.origin == b.origin
    for i in range(20):
        (a if i % 2 else b).append([new_entry({"type": "t", "payload": {"i": i}}, "x")] * 3)
    assert [r.seq for r in a.query(limit=100)] == list(range(60))


def test_hand_assembled_bytes_equal_canonical_json() -> None:
    import random
    import string

    from mamori.audit.entry import encode

    rng = random.Random(5)

    def val(d: int = 0) -> object:
        k = rng.randrange(6 if d < 3 else 4)
        if k == 0:
            return rng.choice([rng.randint(-10**15, 10**15), rng.random() * 10 ** rng.randint(-8, 20)])
        if k == 1:
            return "".join(rng.choice(string.printable + "é☃\u2028\x00\x1f\"\\") for _ in range(rng.randint(0, 9)))
        if k == 2:
            return rng.choice([True, False, None])
        if k == 3:
            return []
        if k == 4:
            return [val(d + 1) for _ in range(rng.randint(0, 3))]
        return {"".join(rng.choice("abZ\"é\\") for _ in range(rng.randint(0, 4))): val(d + 1)
                for _ in range(rng.randint(0, 4))}

    for i in range(2000):
        obj: dict[str, object] = {"type": "t.x", "payload": {"p": val(), "q": val()}}
        if i % 2:
            obj["container"] = f'ctr é"{i}'
        if i % 3:
            obj["image"] = f"img☃{i}"
        e = new_entry(obj, 'src "x"')
        assert encode(e, i, "2026-01-01T00:00:00.000000Z")[0] == canonical(e.data(i, "2026-01-01T00:00:00.000000Z"))
