"""Webhook delivery: a receiver that is down for a while loses nothing; dead letters after the limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests import dockerd
from tests.watch.conftest import Receiver, Watch, wait_until

FAST = ("--retry-base", "0.2", "--retry-cap", "0.8")


def _stored_keys(w: Watch) -> set[str]:
    return {e["key"] for e in w.events()}


def test_receiver_down_then_back_and_watch_restarted_loses_nothing(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch], receiver: Receiver, secret_file: Any) -> None:
    # Retries every <= 0.8 s: the default 12 attempts cover only ~9 s of outage, and on a loaded machine
    # the outage below (two docker runs, a watch restart, docker rm) took longer, so a notification
    # became a dead letter (CI, 2026-11-27). Dead letters are the next test's subject, not this one's.
    w = watch("--webhook", receiver.url, "--webhook-secret-file", str(secret_file), *FAST,
              "--max-attempts", "1000").start()
    daemon.docker("create", "--name", "d1", image, "true")
    wait_until(lambda: len(receiver.got) == 1, 30, "the first notification")
    receiver.down()
    for name in ("d2", "d3"):
        daemon.docker("run", "--name", name, image, "true")
    wait_until(lambda: len(_stored_keys(w)) == 7, 30, "create, start, die of d2 and d3")
    wait_until(lambda: any(r["attempts"] >= 2 for r in w.outbox("--pending")), 30, "retries against the dead receiver")
    # mamori restarts while notifications are pending: they stay in the outbox.
    w.stop()
    pending = w.outbox("--pending")
    assert len(pending) == 6 and all(r["status"] == "pending" for r in pending)
    w.start()
    daemon.docker("rm", "d1", "d2", "d3")
    wait_until(lambda: len(_stored_keys(w)) == 10, 30, "the destroy events")
    receiver.up()  # the same port again
    wait_until(lambda: len(receiver.got) == 10, 60, "delivery of everything after the receiver came back")
    assert sorted(receiver.ids()) == sorted(_stored_keys(w))
    assert all(g.verifies() for g in receiver.got)
    assert not w.outbox("--pending") and not w.outbox("--dead")
    assert max(r["attempts"] for r in w.outbox("--delivered")) >= 2
    w.stop()


def test_dead_letters_after_the_attempt_limit_and_requeue(
        daemon: dockerd.Daemon, image: str, watch: Callable[..., Watch], receiver: Receiver, secret_file: Any) -> None:
    receiver.status = 500
    w = watch("--webhook", receiver.url, "--webhook-secret-file", str(secret_file), "--max-attempts", "3",
              "--retry-base", "0.05", "--retry-cap", "0.1").start()
    daemon.docker("create", "--name", "dl1", image, "true")
    daemon.docker("create", "--name", "dl2", image, "true")
    wait_until(lambda: len(w.outbox("--dead")) == 2, 30, "two dead letters")
    dead = w.outbox("--dead")
    assert all(r["attempts"] == 3 and r["last_status"] == 500 and r["last_error"] == "HTTP 500" for r in dead)
    assert receiver.attempts == 6 and not receiver.got
    assert "dead 2" in w.cli("notifications").stdout
    receiver.status = 200
    assert "2 dead letter(s)" in w.cli("notifications", "--requeue").stdout
    wait_until(lambda: len(receiver.got) == 2, 30, "requeued letters delivered")
    assert sorted(receiver.ids()) == sorted(_stored_keys(w))
    daemon.docker("rm", "dl1", "dl2")
    w.stop()
