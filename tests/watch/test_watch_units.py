"""The pieces of `mamori watch` that need no daemon: times, keys, records, signing, back-off, drift logic."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile

import pytest

from mamori.live import drift
from mamori.live.events import BadEvent, event_key, parse_time, record_of, rfc3339_nano, since_param, split_action
from mamori.live.notify import NotifyConfigError, Retry, check_url, read_secret, sign, verify
from mamori.store import outbox
from mamori.store.events import open_store, store_event

RAW = {"Type": "container", "Action": "die", "scope": "local", "time": 1795702222, "timeNano": 1795702222470082133,
       "Actor": {"ID": "7a886c0f", "Attributes": {"exitCode": "137", "image": "busybox", "name": "web"}}}


def test_times_keep_nanoseconds_and_round_trip() -> None:
    text = rfc3339_nano(RAW["timeNano"])
    assert text == "2026-11-26T14:10:22.470082133Z"
    assert parse_time(text) == RAW["timeNano"]
    assert parse_time("2026-11-26T15:10:22.470082133+01:00") == RAW["timeNano"]
    assert parse_time("1795702222.470082133") == RAW["timeNano"]
    assert parse_time("2026-11-26") == parse_time("2026-11-26T00:00:00Z")
    assert since_param(RAW["timeNano"]) == "1795702222.470082133"
    assert rfc3339_nano(1_000_000_000) < rfc3339_nano(1_000_000_001)  # fixed width: text order is time order
    for bad in ("", "yesterday", "2026-13-01", "1" * 80):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_record_reads_exit_code_signal_and_health_detail() -> None:
    rec = record_of(RAW, "DAEMON", "host1")
    assert (rec.action, rec.exit_code, rec.container_name, rec.image, rec.daemon) == ("die", 137, "web", "busybox",
                                                                                      "DAEMON")
    kill = record_of({**RAW, "Action": "kill", "Actor": {"ID": "x", "Attributes": {"signal": "15"}}}, "D", "h")
    assert (kill.signal, kill.exit_code) == ("15", None)
    assert split_action("health_status: unhealthy") == ("health_status", "unhealthy")
    health = record_of({**RAW, "Action": "health_status: healthy"}, "D", "h")
    assert (health.action, health.detail) == ("health_status", "healthy")


@pytest.mark.parametrize("raw", [None, [], "x", {"Type": "image", "Action": "pull", "timeNano": 1},
                                 {"Action": "start", "timeNano": 5}, {"Actor": {"ID": "a"}, "timeNano": 5},
                                 {"Action": "start", "Actor": {"ID": "a"}}])
def test_malformed_events_are_refused(raw: object) -> None:
    with pytest.raises(BadEvent):
        record_of(raw, "D", "h")


def test_attributes_are_bounded() -> None:
    attrs = {f"label{i}": "v" * 5000 for i in range(500)}
    rec = record_of({**RAW, "Actor": {"ID": "a", "Attributes": attrs}}, "D", "h")
    assert len(rec.attributes) <= 64 and all(len(v) <= 1024 for v in rec.attributes.values())


def test_keys_tell_same_time_events_apart_and_replays_together() -> None:
    other = {**RAW, "Action": "stop"}  # the same timeNano, another event
    assert event_key("D", RAW) != event_key("D", other)
    replay = {"Actor": {"Attributes": dict(reversed(RAW["Actor"]["Attributes"].items())), "ID": "7a886c0f"},
              **{k: v for k, v in RAW.items() if k != "Actor"}}
    assert event_key("D", RAW) == event_key("D", replay)
    assert event_key("D", RAW) != event_key("E", RAW)  # two daemons, one container id: two events


def test_store_event_is_idempotent_and_cursor_never_rewinds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mamori.store.events import cursor, query

    engine = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    rec = record_of(RAW, "D", "h")
    rows = outbox.rows_for(rec.key, "event", rec.public(), ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"))
    assert store_event(engine, rec, rows)
    assert not store_event(engine, rec, rows)
    assert len(list(query(engine))) == 1
    assert outbox.counts(engine) == {"pending": 2}
    older = record_of({**RAW, "timeNano": RAW["timeNano"] - 10, "Action": "start"}, "D", "h")
    assert store_event(engine, older)
    assert cursor(engine, "D") == RAW["timeNano"]


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"id":"k"}'
    sig = sign(b"s" * 16, body)
    assert sig == "sha256=" + __import__("hmac").new(b"s" * 16, body, hashlib.sha256).hexdigest()
    assert verify(b"s" * 16, body, sig)
    assert not verify(b"t" * 16, body, sig)
    assert not verify(b"s" * 16, body + b" ", sig)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    r = Retry(base=1.0, cap=30.0)
    rand = random.Random(7)
    for n, full in ((1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (60, 30.0)):
        delays = [r.delay(n, rand) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full * 0.2  # jitter spreads retries


def test_secrets_are_checked_and_never_echoed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    with pytest.raises(NotifyConfigError) as err:
        read_secret(str(short))
    assert "hunter2" not in str(err.value)
    with pytest.raises(NotifyConfigError):
        read_secret(str(tmp_path / "missing"))
    good = tmp_path / "good"
    good.write_bytes(b"0123456789abcdefXYZ\n")
    assert read_secret(str(good)) == b"0123456789abcdefXYZ"
    monkeypatch.setenv("HOOK_SECRET", "from-the-environment-1234")
    assert read_secret(None, "HOOK_SECRET") == b"from-the-environment-1234"
    monkeypatch.delenv("HOOK_SECRET")
    with pytest.raises(NotifyConfigError):
        read_secret(None, "HOOK_SECRET")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://", "http://user:pw@127.0.0.1/", "127.0.0.1:80",
                                 "http://127.0.0.1/" + "a" * 3000])
def test_bad_webhook_urls(url: str) -> None:
    with pytest.raises(NotifyConfigError):
        check_url(url)


def _tar(files: dict[str, bytes]) -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        link = tarfile.TarInfo("etc/sh")
        link.type = tarfile.SYMTYPE
        link.linkname = "/bin/busybox"
        tf.addfile(link)
    data = buf.getvalue()
    return [data[i:i + 1000] for i in range(0, len(data), 1000)]


def test_archive_hashes_files_by_absolute_path() -> None:
    got = drift.hash_archive(_tar({"etc/passwd": b"root:x:0:0\n", "etc/big": b"x" * 5000}), "/etc")
    assert got == {"/etc": "dir", "/etc/passwd": "sha256:" + hashlib.sha256(b"root:x:0:0\n").hexdigest(),
                   "/etc/big": "sha256:" + hashlib.sha256(b"x" * 5000).hexdigest(), "/etc/sh": "link:/bin/busybox"}


def test_archive_size_is_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(drift, "MAX_ARCHIVE", 4096)
    with pytest.raises(OverflowError):
        drift.hash_archive(_tar({"etc/big": b"x" * 20000}), "/etc")


def _state(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"image_id": "sha256:a", "config": {"containers": [{"privileged": False}]},
                               "config_hash": "h1", "errors": [], "mounts": ["/data"], "watch_paths": ["/srv"],
                               "processes": [{"user": "root", "pid": "1", "cmd": "sleep 300"}],
                               "diff": [{"path": "/data", "kind": "added"}], "paths": {"/srv": {"files": {}}},
                               "running": True}
    return base | kw


def test_compare_reports_each_kind_of_drift_precisely() -> None:
    now = _state(config={"containers": [{"privileged": True}]}, config_hash="h2",
                 processes=[{"user": "root", "pid": "1", "cmd": "sleep 300"},
                            {"user": "root", "pid": "40", "cmd": "nc -l -p 4444"}],
                 diff=[{"path": "/data", "kind": "added"}, {"path": "/data/db", "kind": "added"},
                       {"path": "/etc", "kind": "changed"}, {"path": "/etc/passwd", "kind": "changed"},
                       {"path": "/tmp", "kind": "changed"}, {"path": "/tmp/out.csv", "kind": "added"}],
                 paths={"/srv": {"files": {"/srv/app.py": "sha256:1"}}})
    rep = drift.compare(_state(), now)
    assert rep["config"] == [{"field": "containers[0].privileged", "before": False, "after": True}]
    assert [p["cmd"] for p in rep["processes"]["new"]] == ["nc -l -p 4444"]
    assert rep["files"]["added"] == [{"path": "/srv/app.py", "hash": "sha256:1"}]
    assert [c["path"] for c in rep["filesystem"]["outside_volumes"]] == ["/etc/passwd", "/tmp/out.csv"]
    assert [c["path"] for c in rep["filesystem"]["sensitive"]] == ["/etc/passwd"]
    assert rep["image"] is None and not rep["clean"]
    assert drift.compare(_state(), _state())["clean"]


def test_fingerprint_ignores_pids_but_not_commands() -> None:
    a = drift.compare(_state(), _state(processes=[{"user": "root", "pid": "7", "cmd": "sh"}]))
    b = drift.compare(_state(), _state(processes=[{"user": "root", "pid": "9", "cmd": "sh"}]))
    c = drift.compare(_state(), _state(processes=[{"user": "root", "pid": "9", "cmd": "bash"}]))
    assert drift.fingerprint(a) == drift.fingerprint(b) != drift.fingerprint(c)


def test_normalised_config_hides_env_values_and_ignores_noise() -> None:
    doc = {"Id": "abc", "Name": "/web", "Config": {"Image": "busybox", "Env": ["TOKEN=s3cr3t-value"], "User": ""},
           "HostConfig": {"Privileged": False, "PidsLimit": 0}, "Mounts": [],
           "State": {"Running": True, "Pid": 4242}}
    cfg, errors = drift.normalised_config(doc)
    assert not errors
    assert "s3cr3t-value" not in repr(cfg)
    moved = {**doc, "Name": "/renamed", "State": {"Running": False, "Pid": 1}}
    assert drift.digest(drift.normalised_config(moved)[0]) == drift.digest(cfg)
    changed = {**doc, "HostConfig": {"Privileged": True, "PidsLimit": 0}}
    fields = [c["field"] for c in drift.config_changes(cfg, drift.normalised_config(changed)[0])]
    assert fields == ["containers[0].privileged"]
