"""Faults on the webhook side, under load: Redis killed and restarted, one of two web instances killed.

The load is WeChat's: each push signed (plaintext and AES alternately), 5 s timeout, the same push up to
three times in all, each try to the next instance. Questions are read back through the Store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from typing import Any

import pytest
import redis

from bot.config import Config
from bot.store import Store, delete_prefix
from bot.web.intake import BUSY_REPLY
from bot.wechat.load import Load, Push, stored_questions, tally
from handlers.questions import NOT_SAVED
from tests.conftest import gunicorn, gunicorn_process, service_env, wait_for
from tests.load import Servers, account

MIX = (0.6, 0.25, 0.15)  # questions, keywords, events



def _seen(push: Push) -> tuple[Any, ...]:
    """A reply as the follower sees it (an AES reply is sealed afresh each time, its plaintext is not)."""
    assert push.reply is not None
    return push.reply.kind, push.reply.text, push.reply.articles


def _answered_normally(push: Push) -> bool:
    """Answered, and a question either acknowledged, or its asker told to send it again, or `success`."""
    if push.reply is None or push.error:
        return False
    if push.kind != "question":
        return True
    return bool(push.qid) or push.reply.kind == "none" or push.reply.text in (NOT_SAVED, BUSY_REPLY)


def _replays_identically(load: Load, pushes: list[Push], store: Store, target: int) -> None:
    """Each push sent again (a late retry, same MsgId) gets the answer it got first, unless its record is
    still `P` (the store went away between handling and recording it): then `success`, and nothing redone."""
    for push in pushes:
        again = load.resend(push, target)
        assert again.reply is not None and not again.error, again
        if (store.outcome(f"m:{push.msg_id}") or b"") == b"P":
            assert again.reply.kind == "none"
        else:
            assert _seen(again) == _seen(push), (push.kind, push.index)


def _report(name: str, load: Load, stored: int, extra: str) -> None:
    import sys

    pushes = load.done()
    tries = sum(len(p.tries) for p in pushes)
    sys.__stdout__.write(f"\n[{name}] {len(pushes)} pushes ({tries} tries), {len(load.acked())} questions "
                         f"acknowledged, {stored} stored; {extra}\n")


@pytest.mark.parametrize(("stop", "fsync"), [(signal.SIGKILL, "always"), (signal.SIGTERM, "everysec")],
                         ids=["sigkill-always", "sigterm-everysec"])
def test_redis_restarted_under_load(servers: Servers, config: Config, fake_wechat: Any, stop: int,
                                    fsync: str) -> None:
    """Stop Redis mid-load and start it again: every acknowledged question is there once; no restart needed.

    A killed server keeps what it had written to its AOF; with `appendfsync always` that includes every write
    it confirmed, so no acknowledged question may be lost. With `everysec` a kill may lose the last ~2 s (a
    write postponed behind a slow fsync), but a SIGTERM shutdown writes and fsyncs first: nothing is lost.
    """
    deadline = time.monotonic() + 50
    servers.data_server("redis", fsync=fsync)
    url = servers.url("redis")
    store = Store.from_url(url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    try:
        with gunicorn(service_env(url, store, fake_wechat)) as base:
            load = Load([base], account(config), uuid.uuid4().hex[:8], connections=8, mix=MIX, aes=None).start()
            try:
                wait_for(lambda: len(load.acked()) >= 100, timeout=deadline - time.monotonic())
                load.phase = "down"
                servers.kill("redis", stop)
                down_at = time.monotonic()

                def refused_questions() -> int:
                    return sum(p.phase == "down" and p.kind == "question" and p.reply is not None
                               and p.reply.text in (NOT_SAVED, BUSY_REPLY) for p in load.done())

                wait_for(lambda: refused_questions() >= 30, timeout=deadline - time.monotonic())
                load.phase = "after"
                servers.restart("redis")
                up_at = time.monotonic()
                wait_for(lambda: len(load.acked("after")) >= 50, timeout=deadline - time.monotonic())
                recovered = time.monotonic() - up_at
            finally:
                load.stop()
            pushes = load.done()
            assert not [t for p in pushes for t in p.tries if t.status is not None and t.status >= 500]
            assert [p for p in pushes if not _answered_normally(p)] == []
            before = [p for p in pushes if p.phase == "before" and (p.qid or p.kind == "keyword")]
            stored_before = stored_questions(store)
            _replays_identically(load, before[:30], store, 0)  # the dedup records survived the kill
            assert stored_questions(store) == stored_before

        found = tally(pushes, stored_before)
        assert (found.lost, found.misfiled, found.duplicated, found.errors) == ((), (), (), ())
        assert found.unanswered == 0
        _report(f"redis {signal.Signals(stop).name}, {fsync}", load, found.stored,
                f"down {up_at - down_at:.1f} s ({refused_questions()} questions told to resend), acknowledging "
                f"again {recovered:.2f} s after the restart; 0 lost, 0 stored twice")
    finally:
        with contextlib.suppress(redis.RedisError):
            delete_prefix(store.redis, store.prefix)
        store.close()


def test_one_of_two_instances_killed_under_load(redis_url: str, store: Store, config: Config,
                                                fake_wechat: Any) -> None:
    """SIGKILL one gunicorn (master and workers) mid-load: its pushes are answered on retry by the other,
    and nothing is handled twice."""
    deadline = time.monotonic() + 50
    env = service_env(redis_url, store, fake_wechat)
    with gunicorn_process(env, own_group=True) as (first, first_proc), gunicorn(env) as second:
        load = Load([first, second], account(config), uuid.uuid4().hex[:8], connections=8, mix=MIX,
                    aes=None).start()
        try:
            def answered_by(url: str) -> int:
                return sum(p.answered_by == url for p in load.done())

            wait_for(lambda: answered_by(first) >= 100 and answered_by(second) >= 100,
                     timeout=deadline - time.monotonic())
            load.phase = "after"
            os.killpg(first_proc.pid, signal.SIGKILL)
            first_proc.wait(timeout=30)

            def rescued() -> list[Push]:  # first sent to the dead instance, answered by the other
                return [p for p in load.done() if p.phase == "after" and p.tries[0].target == first
                        and p.answered_by == second]

            wait_for(lambda: len(rescued()) >= 50, timeout=deadline - time.monotonic())
        finally:
            load.stop()
        pushes = load.done()
        assert not [t for p in pushes for t in p.tries if t.status is not None and t.status >= 500]
        assert [p for p in pushes if not _answered_normally(p)] == []
        # After the kill every push the dead instance missed was answered by the other one.
        after = [p for p in pushes if p.phase == "after"]
        assert all(p.answered_by == second for p in after if p.tries[0].status is None)
        assert len(rescued()) >= 50
        stored = stored_questions(store)
        dead_answered = [p for p in pushes if p.answered_by == first and (p.qid or p.kind == "keyword")]
        _replays_identically(load, dead_answered[:30], store, 1)  # the survivor answers as the dead one did
        assert stored_questions(store) == stored

    found = tally(pushes, stored)
    assert (found.lost, found.misfiled, found.duplicated, found.errors) == ((), (), (), ())
    assert found.unanswered == 0
    _report("instance killed", load, found.stored,
            f"{len(rescued())} pushes whose first try hit the killed instance answered by the other; "
            f"{len(dead_answered)} answers of the killed instance replayed identically by the other (first 30)")
