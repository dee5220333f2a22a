"""Resume: a restart of `mamori watch` or of the daemon neither loses nor duplicates an event."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import dockerd
from tests.watch.conftest import Receiver, Watch, wait_until


def _actions(w: Watch, name: str) -> Counter[str]:
    return Counter(e["action"] for e in w.events("--container", name))


def test_watch_restart_resumes_without_duplicates(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch], receiver: Receiver, secret_file: Any) -> None:
    begin = datetime.now(UTC).isoformat()
    w = watch("--webhook", receiver.url, "--webhook-secret-file", str(secret_file)).start()
    daemon.docker("run", "--name", "r1", image, "true")
    wait_until(lambda: _actions(w, "r1")["die"] == 1, 30, "r1 to die")
    w.stop()
    # While mamori is down: the daemon keeps these for a `since` replay.
    daemon.docker("run", "--name", "r2", image, "sh", "-c", "exit 3", check=False)
    daemon.docker("rm", "r1")
    w.start()
    wait_until(lambda: _actions(w, "r1")["destroy"] == 1 and _actions(w, "r2")["die"] == 1, 30, "the missed events")
    assert _actions(w, "r1") == Counter({"create": 1, "start": 1, "die": 1, "destroy": 1})
    assert _actions(w, "r2") == Counter({"create": 1, "start": 1, "die": 1})
    assert [e["exit_code"] for e in w.events("--container", "r2", "--action", "die")] == [3]
    w.stop()
    # An explicit --since replays the daemon's buffer from before the first start: everything is known already.
    w.start("--since", begin)
    time.sleep(2)
    log = w.stop()
    stats = json.loads(log.strip().splitlines()[-1])
    assert stats["received"] >= 7 and stats["stored"] == 0 and stats["duplicates"] == stats["received"]
    events = w.events()
    assert len({e["key"] for e in events}) == len(events) == 7
    wait_until(lambda: len(receiver.got) == 7, 30, "7 notifications")
    assert sorted(receiver.ids()) == sorted(e["key"] for e in events)
    daemon.docker("rm", "r2")


@pytest.fixture
def own_daemon() -> Iterator[list[dockerd.Daemon]]:
    """A daemon of this test alone: it is stopped and started again on the same data root."""
    holder = [dockerd.start()]
    try:
        yield holder
    finally:
        holder[-1].stop()


def test_daemon_restart_loses_nothing(own_daemon: list[dockerd.Daemon], watch: Callable[..., Watch],
                                      tmp_path: Path, receiver: Receiver, secret_file: Any) -> None:
    d = own_daemon[0]
    image = dockerd.busybox_image(d)
    home = tmp_path / "restart-home"
    home.mkdir()
    w = Watch(home, d.host, tmp_path / "restart-watch",
              ("--webhook", receiver.url, "--webhook-secret-file", str(secret_file))).start()
    try:
        d.docker("run", "-d", "--name", "keep", "--restart", "always", image, "sleep", "300")
        d.docker("run", "--name", "once", image, "true")
        wait_until(lambda: _actions(w, "once")["die"] == 1 and _actions(w, "keep")["start"] == 1, 30, "before")
        d.halt()
        d2 = dockerd.start(root=d.root)
        own_daemon.append(d2)
        # Right after the restart, before mamori has reconnected: the daemon restarts `keep` itself.
        r = d2.docker("run", "--name", "after", image, "true", check=False)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: _actions(w, "after")["die"] == 1, 60, "events after the restart")
        wait_until(lambda: _actions(w, "keep")["start"] >= 2, 30, "keep restarted by the daemon")
        assert _actions(w, "once") == Counter({"create": 1, "start": 1, "die": 1})
        assert _actions(w, "after") == Counter({"create": 1, "start": 1, "die": 1})
        # The daemon stops `keep` while shutting down (kill, die, stop reach the open stream) and starts it again.
        keep = [e["action"] for e in w.events("--container", "keep")]
        assert keep == ["create", "start", "kill", "kill", "die", "stop", "start"]
        events = w.events()
        assert len({e["key"] for e in events}) == len(events)
        assert len({e["daemon"] for e in events}) == 1  # the same daemon id across its restart
        wait_until(lambda: len(receiver.got) == len(w.events()), 30, "all notifications")
        assert sorted(receiver.ids()) == sorted(e["key"] for e in w.events())
        stats = json.loads(w.stop().strip().splitlines()[-1])
        assert stats["connections"] >= 2
        d2.docker("rm", "-f", "keep", "once", "after")
    finally:
        if w.proc is not None:
            w.proc.kill()
