"""The real Docker syslog log driver into `mamori serve --syslog-tls/--syslog-tcp` (a private dockerd).

Docker 20.10+ frames RFC 5424 with octet counting on ``tcp+tls://`` and with a line feed on plain
``tcp://``; it writes its tag (default: the 12-character container id) into APP-NAME and MSGID.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import dockerd
from tests.audit.test_collector import free_port
from tests.audit.test_mtls import client_cert
from tests.server.tlsutil import localhost_tls

MAMORI = [sys.executable, "-m", "mamori.cli.main"]
MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture(scope="module")
def daemon() -> Iterator[dockerd.Daemon]:
    with dockerd.running() as d:
        yield d


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("syslog")
    srv = localhost_tls(tmp / "srv")
    ca, cert, key = client_cert(tmp)
    db = f"sqlite:///{tmp / 'audit.db'}"
    tls_port, tcp_port = free_port(), free_port()
    err = tmp / "serve.log"
    proc = subprocess.Popen([*MAMORI, "serve", "--no-config", "--no-webhook", "--no-record", "--audit-db", db,
                             "--tls-cert", srv["cert"], "--tls-key", srv["key"], "--tls-client-ca", ca,
                             "--syslog-tls", f"127.0.0.1:{tls_port}", "--syslog-tcp", f"127.0.0.1:{tcp_port}",
                             "--no-access-log"], env={**os.environ, "MAMORI_HOME": str(tmp)},
                            stdout=subprocess.DEVNULL, stderr=err.open("wb"))
    deadline = time.monotonic() + 30
    while "syslog-tcp listening" not in err.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mamori serve did not start: {err.read_text()}")
        time.sleep(0.1)
    yield {"db": db, "tls": tls_port, "tcp": tcp_port, "server_ca": srv["ca"], "cert": cert, "key": key,
           "home": str(tmp), "proc": proc, "err": err}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, err.read_text()


def query(c: dict[str, Any], *args: str, want: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        r = subprocess.run([*MAMORI, "log", "query", "--db", c["db"], "--format", "json", *args],
                           env={**os.environ, "MAMORI_HOME": c["home"]}, capture_output=True, text=True, check=True)
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def run(daemon: dockerd.Daemon, name: str, opts: list[str], script: str) -> tuple[str, str, str]:
    image = dockerd.busybox_image(daemon)
    before = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    r = daemon.docker("run", "--rm", "--name", name, "--log-driver", "syslog", *opts, image, "sh", "-c", script,
                      check=False)
    assert r.returncode == 0, r.stderr
    after = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return before, after, r.stdout


def test_docker_syslog_over_mtls_lands_with_container_name_and_microseconds(daemon: dockerd.Daemon,
                                                                           collector: dict[str, Any]) -> None:
    c = collector
    tls = ["--log-opt", f"syslog-address=tcp+tls://127.0.0.1:{c['tls']}", "--log-opt",
           f"syslog-tls-ca-cert={c['server_ca']}", "--log-opt", f"syslog-tls-cert={c['cert']}", "--log-opt",
           f"syslog-tls-key={c['key']}", "--log-opt", "syslog-format=rfc5424micro"]
    before, after, _ = run(daemon, "mamori-syslog-tls", [*tls, "--log-opt", "tag={{.Name}}"],
                           "echo 'first line'; echo 'second  line with \"quotes\" ]'; id -u")
    rows = query(c, "--container", "mamori-syslog-tls", want=3)
    assert [r["payload"]["msg"] for r in rows] == ["first line", 'second  line with "quotes" ]', "0"]
    for r in rows:
        assert r["type"] == "syslog" and r["container"] == "mamori-syslog-tls"
        assert r["source"] == "cert:O=cluster-a,CN=node-7" and r["payload"]["transport"] == "tls"
        assert MICROS.fullmatch(r["time"]) and before <= r["time"] <= after, (r["time"], before, after)
        assert MICROS.fullmatch(r["received"]) and r["time"] <= r["received"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)", r["payload"]["timestamp"])
    assert len({r["time"] for r in rows}) == 3  # distinct sub-second times, in order
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    # the default tag is the short container id
    image = dockerd.busybox_image(daemon)
    cid = daemon.docker("create", "--log-driver", "syslog", *tls, image, "echo", "by id").stdout.strip()
    daemon.docker("start", "-a", cid)
    daemon.docker("rm", cid)
    rows = query(c, "--container", cid[:12], want=1)
    assert [r["payload"]["msg"] for r in rows] == ["by id"]


def test_docker_syslog_over_plain_tcp(daemon: dockerd.Daemon, collector: dict[str, Any]) -> None:
    c = collector
    run(daemon, "mamori-syslog-tcp", ["--log-opt", f"syslog-address=tcp://127.0.0.1:{c['tcp']}", "--log-opt",
                                      "syslog-format=rfc5424micro", "--log-opt", "tag={{.Name}}"],
        "for i in 1 2 3 4 5; do echo tcp line $i; done")
    rows = query(c, "--container", "mamori-syslog-tcp", want=5)
    assert [r["payload"]["msg"] for r in rows] == [f"tcp line {i}" for i in range(1, 6)]
    assert {r["source"] for r in rows} == {"unauthenticated:127.0.0.1"}
    assert all(MICROS.fullmatch(r["time"]) and r["payload"]["transport"] == "tcp" for r in rows)
    assert query(c, "--type", "syslog.malformed", want=0) == []
