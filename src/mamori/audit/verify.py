"""``mamori log verify``: recompute the whole log from the stored entry bytes and name every difference.

Two trees are folded side by side: one from SHA-256(0x00 || stored data) (what the entries
say now) and one from the stored leaf hashes (what was recorded at append time). A checkpoint
whose root matches the second but not the first pins the change to the entries whose data no
longer hashes to their leaf; a checkpoint matching neither means hashes were recomputed and
the change lies after the last checkpoint that still matches. Signatures are checked with
trusted verifier keys only, never a key found in the store, and witnessed checkpoints (kept
outside the store) catch a rewritten or truncated database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import Connection, Engine, select

from mamori.audit import merkle
from mamori.audit.entry import canonical
from mamori.audit.note import NoteError, Verifier, open_checkpoint, parse_checkpoint, parse_note
from mamori.store.audit import CHECKPOINTS, ENTRIES, HEAD

MAX_LISTED = 200  # problems named one by one; the rest are counted
_COLUMNS = ("time", "received", "source", "type", "container", "image")


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    witnessed: int = 0
    problems: list[str] = field(default_factory=list)
    more: int = 0

    def problem(self, msg: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(msg)
        else:
            self.more += 1

    @property
    def ok(self) -> bool:
        return not self.problems and not self.more


@dataclass(frozen=True, slots=True)
class _Target:
    label: str
    size: int
    root: bytes
    witness: bool


def _rows(conn: Connection, batch: int = 10_000) -> Iterator[tuple[int, str, bytes, tuple[Any, ...]]]:
    """Entries in sequence order, streamed (a server-side cursor on PostgreSQL) in bounded memory."""
    c = ENTRIES.c
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(
        select(c.seq, c.data, c.leaf_hash, *(c[n] for n in _COLUMNS)).order_by(c.seq))
    for r in result:
        yield r[0], r[1], bytes(r[2]), tuple(r[3:])


def _few(seqs: list[int]) -> str:
    return ", ".join(map(str, seqs[:10])) + (f" and {len(seqs) - 10} more" if len(seqs) > 10 else "")


def verify_store(engine: Engine, verifiers: Sequence[Verifier], witness: Sequence[str] = ()) -> Report:
    """Check the store as of one snapshot: appends made meanwhile are neither seen nor reported."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return _verify(conn, verifiers, witness)


def _verify(conn: Connection, verifiers: Sequence[Verifier], witness: Sequence[str]) -> Report:
    rep = Report()
    head = conn.execute(select(HEAD.c.origin, HEAD.c.size).where(HEAD.c.id == 1)).first()
    stored_cps = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)).all()
    origin = head.origin if head else None
    targets: list[_Target] = []
    last_size = -1
    for i, cp in enumerate(stored_cps, 1):
        label = f"checkpoint {i}"
        try:
            body = open_checkpoint(cp.note, verifiers) if verifiers else parse_checkpoint(parse_note(cp.note).text)
        except NoteError as exc:
            rep.problem(f"{label} (size {cp.size}): {exc}")
            continue
        if body.size != cp.size or body.root != bytes(cp.root):
            rep.problem(f"{label}: size/root columns differ from its signed note")
        if origin is not None and body.origin != origin:
            rep.problem(f"{label}: origin {body.origin!r} is not this log's origin {origin!r}")
        if body.size < last_size:
            rep.problem(f"{label}: size {body.size} is smaller than the previous checkpoint's {last_size}")
        last_size = max(last_size, body.size)
        targets.append(_Target(label, body.size, body.root, False))
    rep.checkpoints = len(stored_cps)
    if not verifiers and stored_cps:
        rep.problem("checkpoint signatures not checked: no trusted public key (give --key FILE)")
    for i, note in enumerate(witness, 1):
        label = f"witnessed checkpoint {i}"
        try:
            body = open_checkpoint(note, verifiers) if verifiers else parse_checkpoint(parse_note(note).text)
        except NoteError as exc:
            rep.problem(f"{label}: {exc}")
            continue
        if origin is not None and body.origin != origin:
            rep.problem(f"{label}: origin {body.origin!r} is not this log's origin {origin!r}")
            continue
        targets.append(_Target(label, body.size, body.root, True))
    rep.witnessed = len(witness)

    by_size: dict[int, list[_Target]] = {}
    for t in targets:
        by_size.setdefault(t.size, []).append(t)
    content = merkle.Frontier()
    recorded: merkle.Frontier | None = None  # the tree of stored leaf hashes; the same as content until one differs
    changed: list[int] = []  # entries whose data no longer hashes to the leaf recorded at append time
    named: set[int] = set()
    last_good = 0
    suspect = False  # an entry-level problem was seen since the last matching checkpoint
    expected = 0

    def check(size: int) -> None:
        nonlocal last_good, suspect
        for t in by_size.get(size, ()):
            if content.root() == t.root:
                last_good, suspect = size, False
                continue
            recent = [s for s in changed if s >= last_good]
            if recent and recorded is not None and recorded.root() == t.root:
                for seq in recent:
                    if seq not in named:
                        named.add(seq)
                        rep.problem(f"entry {seq}: stored content differs from {t.label}'s tree "
                                    f"(its data no longer hashes to the leaf recorded at append time)")
                why = f"entries {_few(recent)} changed"
            elif recent or suspect:
                why = f"entries in [{last_good}, {size}) were changed, removed, inserted or reordered (see above)"
            else:
                why = (f"entries in [{last_good}, {size}) were changed, removed, inserted or reordered and their "
                       f"hashes recomputed, or the checkpoint was not made from this log")
            rep.problem(f"{t.label} (size {size}): root differs from the tree of the stored entries; {why}")

    check(0)
    for seq, data, leaf, cols in _rows(conn):
        if seq != expected:
            if seq > expected:
                gap = f"entry {expected} missing" if seq == expected + 1 else f"entries {expected}..{seq - 1} missing"
                rep.problem(f"{gap} (sequence gap)")
                suspect = True
            expected = seq
        h = merkle.leaf_hash(data.encode())
        if h != leaf:
            changed.append(seq)
            if recorded is None:
                recorded = content.copy()
        if not _fits(data, seq, cols):  # the fast path needs no JSON parse
            _inspect(rep, seq, data, cols)
            suspect = True
        content.append(h)
        if recorded is not None:
            recorded.append(leaf)
        expected += 1
        rep.entries += 1
        check(content.size)
    for seq in changed:
        if seq not in named:
            rep.problem(f"entry {seq}: stored content does not hash to its recorded leaf hash")
    _tail_checks(rep, by_size, content.size, head)
    return rep


def _inspect(rep: Report, seq: int, data: str, cols: tuple[object, ...]) -> None:
    """The slow path: parse the entry and name what disagrees with its row."""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        rep.problem(f"entry {seq}: data is not a JSON object")
        return
    if doc.get("seq") != seq:
        rep.problem(f"entry {seq}: its content records position {doc.get('seq')} (reordered or renumbered)")
    for name, val in zip(_COLUMNS, cols, strict=True):
        if doc.get(name) != val:
            rep.problem(f"entry {seq}: column {name!r} differs from the logged content")
    if doc.get("v") != 1 or canonical(doc) != data.encode():
        rep.problem(f"entry {seq}: data is not a canonical version 1 entry")


def _fits(data: str, seq: int, cols: tuple[Any, ...]) -> bool:
    """True when the canonical bytes carry exactly this row's position and columns.

    Sorted keys put container and image before the payload object and the six always-present
    fields after it, and JSON strings delimit themselves, so a prefix and a suffix comparison is
    exact; only an entry that fails it is parsed.
    """
    t, received, source, etype, container, image = cols
    enc = encode_basestring
    try:
        head = "{" + ('"container":' + enc(container) + "," if container is not None else "") + (
            '"image":' + enc(image) + "," if image is not None else "") + '"payload":{'
        tail = ('},"received":' + enc(received) + ',"seq":' + str(seq) + ',"source":' + enc(source) + ',"time":'
                + enc(t) + ',"type":' + enc(etype) + ',"v":1}')
    except TypeError:
        return False
    return len(data) >= len(head) + len(tail) and data.startswith(head) and data.endswith(tail)


def _tail_checks(rep: Report, by_size: dict[int, list[_Target]], size: int, head: Any) -> None:
    for cp_size, ts in sorted(by_size.items()):
        if cp_size > size:
            for t in ts:
                rep.problem(f"{t.label} (size {cp_size}) covers entries {size}..{cp_size - 1}, which the store "
                            f"no longer has (truncated tail)")
    if head is not None and int(head.size) != size:
        rep.problem(f"the log head says {head.size} entries, the store holds {size}")
