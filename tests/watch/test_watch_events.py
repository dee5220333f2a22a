"""`mamori watch` against a real private dockerd: every lifecycle event once, verdicts on create, signed webhooks."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from mamori.live.events import parse_time
from tests import dockerd
from tests.watch.conftest import Receiver, Watch, wait_until

RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def _of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["container_name"] == name]


def test_every_lifecycle_event_recorded_once_and_notified_signed(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch], receiver: Receiver, secret_file: Any) -> None:
    w = watch("--webhook", receiver.url, "--webhook-secret-file", str(secret_file)).start()
    daemon.docker("create", "--name", "life", image, "sleep", "300")
    daemon.docker("start", "life")
    daemon.docker("pause", "life")
    daemon.docker("unpause", "life")
    daemon.docker("stop", "-t", "1", "life")  # sleep as PID 1 ignores SIGTERM: kill 15, then kill 9
    daemon.docker("rm", "life")
    assert daemon.docker("run", "--name", "exit42", image, "sh", "-c", "exit 42", check=False).returncode == 42
    r = daemon.docker("run", "--name", "oomy", "--memory", "8m", "--memory-swap", "8m", image, "sh", "-c",
                      "x=$(head -c 200000000 /dev/zero | tr '\\0' a)", check=False)
    assert r.returncode == 137, r.stderr
    wait_until(lambda: any(e["action"] == "die" for e in _of(w.events(), "oomy")), 30, "the oom container's die")
    events = w.events()
    life = _of(events, "life")
    assert Counter(e["action"] for e in life) == Counter(
        {"create": 1, "start": 1, "pause": 1, "unpause": 1, "kill": 2, "die": 1, "stop": 1, "destroy": 1})
    assert [e["action"] for e in life] == ["create", "start", "pause", "unpause", "kill", "kill", "die", "stop",
                                           "destroy"]
    assert [e["signal"] for e in life if e["action"] == "kill"] == ["15", "9"]
    assert [e["exit_code"] for e in life if e["action"] == "die"] == [137]
    assert [e["exit_code"] for e in _of(events, "exit42") if e["action"] == "die"] == [42]
    oomy = _of(events, "oomy")
    # The kernel may kill several times before the container dies: the daemon's own stream is the truth.
    truth = daemon.docker("events", "--since", "0", "--until", str(int(oomy[-1]["time_nano"] // 10**9) + 1),
                          "--filter", "container=oomy", "--filter", "event=oom", "--format", "{{.TimeNano}}").stdout
    assert Counter(e["action"] for e in oomy)["oom"] == len(truth.split()) >= 1
    assert sorted(e["time_nano"] for e in oomy if e["action"] == "oom") == sorted(int(t) for t in truth.split())
    assert [e["exit_code"] for e in oomy if e["action"] == "die"] == [137]
    daemon_id = daemon.docker("info", "-f", "{{.ID}}").stdout.strip()
    for e in events:
        assert RFC3339_NS.match(e["time"]) and parse_time(e["time"]) == e["time_nano"]
        assert e["daemon"] == daemon_id and e["image"] == image
    assert len({e["key"] for e in events}) == len(events)
    assert [e["time_nano"] for e in events] == sorted(e["time_nano"] for e in events)
    # Every stored event reaches the receiver exactly once, signed with the webhook's secret.
    wait_until(lambda: len(receiver.got) >= len(events), 30, "all notifications")
    assert sorted(receiver.ids()) == sorted(e["key"] for e in events)
    for got in receiver.got:
        assert got.verifies()
        assert not got.verifies(b"another-secret-0123456789")
        doc = got.doc
        assert doc["id"] == got.headers["x-mamori-event-id"] == doc["event"]["key"]
        assert doc["created"] == got.headers["x-mamori-timestamp"]
    # The query command filters.
    assert [e["action"] for e in w.events("--container", "life", "--action", "kill")] == ["kill", "kill"]
    assert w.events("--since", life[-1]["time"], "--container", "life") == [life[-1]]
    text = w.cli("events", "--container", "exit42").stdout
    assert "die" in text and "exit=42" in text
    daemon.docker("rm", "exit42", "oomy")
    log = w.stop()
    assert str(secret_file.read_text().strip()) not in log
    assert json.loads(log.strip().splitlines()[-1])["duplicates"] == 0


def test_create_of_an_insecure_container_carries_the_rule_ids(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch], receiver: Receiver, secret_file: Any) -> None:
    w = watch("--webhook", receiver.url, "--webhook-secret-file", str(secret_file), "--events", "create").start()
    daemon.docker("create", "--name", "bad", "--privileged", "--pid", "host", image, "true")
    daemon.docker("create", "--name", "plain", "--cap-drop", "ALL", "--read-only", "--user", "1000:1000",
                  "--pids-limit", "64", "--memory", "64m", "--security-opt", "no-new-privileges", image, "true")
    wait_until(lambda: len(w.events()) == 2, 30, "two create events")
    by_name = {e["container_name"]: e for e in w.events()}
    bad, plain = by_name["bad"], by_name["plain"]
    assert {"MAM-PRIV-001", "MAM-PRIV-003"} <= set(bad["rules"])
    assert bad["allowed"] is False and bad["verdict"]["result"] == "denied"
    assert "MAM-PRIV-001" in bad["verdict"]["message"]
    assert not {"MAM-PRIV-001", "MAM-PRIV-003"} & set(plain["rules"])
    assert {e["container_name"] for e in w.events("--denied")} >= {"bad"}
    assert "plain" not in {e["container_name"] for e in w.events("--denied")} or plain["allowed"] is False
    wait_until(lambda: len(receiver.got) == 2, 30, "two notifications")
    sent = {g.doc["event"]["container_name"]: g.doc["event"] for g in receiver.got}
    assert sent["bad"]["rules"] == bad["rules"] and sent["bad"]["allowed"] is False
    daemon.docker("rm", "bad", "plain")
    w.stop()


def test_health_status_is_recorded_with_its_detail(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch]) -> None:
    w = watch().start()
    daemon.docker("run", "-d", "--name", "healthy", "--health-cmd", "true", "--health-interval", "1s", image,
                  "sleep", "300")
    wait_until(lambda: w.events("--container", "healthy", "--action", "health_status"), 30, "a health_status event")
    got = w.events("--container", "healthy", "--action", "health_status")
    assert [(e["action"], e["detail"]) for e in got] == [("health_status", "healthy")]
    assert "health_status:healthy" in w.cli("events", "--container", "healthy").stdout
    daemon.docker("rm", "-f", "healthy")
    w.stop()
