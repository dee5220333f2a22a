"""The log store's side of a capture: what it knows about the container, and chain-of-custody entries.

Custody entries are ``forensics.custody`` entries of the tamper-evident audit log (see
``mamori.audit.entry``): every capture and every later verification (an access to the evidence)
appends one naming the bundle, its manifest digest, the actor and the outcome.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

from mamori.forensics.errors import ForensicsError

CUSTODY = "forensics.custody"
MAX_ROWS = 10_000


def actor(operator: str | None = None) -> dict[str, Any]:
    """Who is acting: the login (and the sudo user behind it), the uid, the host; the operator's own words."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    d: dict[str, Any] = {"user": user, "uid": os.getuid(), "host": socket.gethostname()}
    if os.environ.get("SUDO_USER"):
        d["sudo_user"] = os.environ["SUDO_USER"]
    if operator:
        d["operator"] = operator
    return d


def _source(who: dict[str, Any]) -> str:
    text = f"mamori-forensics:{who.get('user')}@{who.get('host')}"
    return "".join(c if 0x21 <= ord(c) <= 0x7E else "_" for c in text)[:256]


def _open(db: str | None) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from mamori.audit.log import open_log

    try:
        return open_log(None if db == "default" else db)
    except (SQLAlchemyError, OSError) as exc:
        raise ForensicsError(f"cannot open the audit store: {str(exc).splitlines()[0][:300]}") from None


def check_store(db: str | None) -> None:
    """Open (and create, when new) the audit store, so a capture fails before it starts, not after."""
    _open(db).engine.dispose()


def append_custody(db: str | None, payload: dict[str, Any], who: dict[str, Any], container: str | None = None,
                   image: str | None = None) -> int:
    """Append one custody entry (committed on return); its sequence number."""
    from sqlalchemy.exc import SQLAlchemyError

    from mamori.audit.entry import EntryError, new_entry

    log = _open(db)
    obj: dict[str, Any] = {"type": CUSTODY, "payload": {**payload, "actor": who}}
    if container:
        obj["container"] = container[:256]
    if image:
        obj["image"] = image[:512]
    try:
        return int(log.append([new_entry(obj, _source(who))])[0])
    except EntryError as exc:
        raise ForensicsError(f"custody entry refused: {exc}") from None
    except SQLAlchemyError as exc:
        raise ForensicsError(f"cannot append to the audit store: {str(exc).splitlines()[0][:300]}") from None
    finally:
        log.engine.dispose()


def store_records(db: str | None, names: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None,
                                                             str | None]:
    """Audit entries naming the container (by id or name), its stored lifecycle events (None: no such table),
    and why the events could not be read."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    log = _open(db)
    try:
        seen: dict[int, dict[str, Any]] = {}
        for name in names:
            for e in log.query(container=name, limit=MAX_ROWS):
                seen[e.seq] = e.json()
        entries = [seen[k] for k in sorted(seen)][:MAX_ROWS]
        if not inspect(log.engine).has_table("container_events"):
            return entries, None, "the store has no container_events table (mamori watch never ran on it)"
        from mamori.store import events

        rows: dict[int, dict[str, Any]] = {}
        for name in names:
            for r in events.query(log.engine, container=name, limit=MAX_ROWS, oldest_first=True):
                rows[int(r["id"])] = r
        return entries, [rows[k] for k in sorted(rows)][:MAX_ROWS], None
    except SQLAlchemyError as exc:
        raise ForensicsError(f"cannot query the audit store: {str(exc).splitlines()[0][:300]}") from None
    finally:
        log.engine.dispose()
