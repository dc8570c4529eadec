"""Redis Sentinel: the URL, and a real failover under load (a primary, a replica and a Sentinel of our own)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.config import Config
from bot.store import RedisURLError, Store, delete_prefix
from bot.store.connection import ReplicaWait, SentinelURL, connect, parse_sentinel_url
from bot.wechat.load import Load, stored_questions, tally
from tests.conftest import gunicorn, service_env, wait_for
from tests.load import Servers, account, free_port

# -- the URL ---------------------------------------------------------------------------------------------


def test_sentinel_url_parts() -> None:
    target, wait = parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1:26379,[::1]:26380,sentinel-3/svc/2"
                                      "?sentinel_password=sp&wait_replicas=1&wait_timeout_ms=250")
    assert target == SentinelURL((("10.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26379)), "svc", 2,
                                 None, "s@cret", "sp")
    assert wait == ReplicaWait(1, 250)
    target, wait = parse_sentinel_url("redis+sentinel://user:pw@h:1/mymaster")
    assert (target.username, target.password, target.sentinel_password, target.db) == ("user", "pw", None, 0)
    assert wait == ReplicaWait(0, 1000)


@pytest.mark.parametrize(("url", "names"), [
    ("redis+sentinel:///svc", "no Sentinel host"),
    ("redis+sentinel://h:1,,h:2/svc", "empty Sentinel address"),
    ("redis+sentinel://h:0/svc", "bad port '0'"),
    ("redis+sentinel://h:70000/svc", "bad port '70000'"),
    ("redis+sentinel://h:x1/svc", "bad port 'x1'"),
    ("redis+sentinel://:1/svc", "has no host"),
    ("redis+sentinel://h:1", "no service name"),
    ("redis+sentinel://h:1/", "no service name"),
    ("redis+sentinel://h:1/svc/x", "database number must be a whole number"),
    ("redis+sentinel://h:1/svc/-1", "database number must be a whole number"),
    ("redis+sentinel://h:1/svc/0/1", "is not /service or /service/db"),
    ("redis+sentinel://h:1/svc?sentinel_pasword=x", "unknown option 'sentinel_pasword'"),
    ("redis+sentinel://h:1/svc?wait_replicas=one", "wait_replicas must be a whole number"),
    ("redis+sentinel://h:1/svc?wait_timeout_ms=0", "wait_timeout_ms must be a whole number of at least 1"),
    ("redis://127.0.0.1:1/0?wait_replicas=-1", "wait_replicas must be a whole number"),
])
def test_bad_urls_name_what_is_wrong(url: str, names: str) -> None:
    with pytest.raises(RedisURLError, match=re.escape(names)):
        Store.from_url(url)


def test_plain_url_takes_the_wait_options_too(redis_url: str) -> None:
    sep = "&" if "?" in redis_url else "?"
    connected = connect(redis_url + f"{sep}wait_replicas=0&wait_timeout_ms=5", timeout=2.0)
    try:
        assert connected.wait == ReplicaWait(0, 5) and connected.sentinel is None
        assert connected.client.ping()
    finally:
        connected.client.close()


def test_check_names_a_bad_sentinel_url(tmp_path: Path) -> None:
    """`python -m bot check` hands REDIS_URL on unchanged and reports what is wrong with it."""
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": "redis+sentinel://127.0.0.1:1/", "BOT_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bot", "check"], cwd=Path(__file__).resolve().parent.parent,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "✘ redis: cannot reach Redis (RedisURLError: REDIS_URL: no service name" in out.stdout


# -- a real failover -------------------------------------------------------------------------------------



def _master(sentinel: redis.Redis, service: str) -> int:
    addr = sentinel.execute_command("SENTINEL", "get-master-addr-by-name", service)
    return int(addr[1])


@pytest.mark.parametrize("wait", [True, False], ids=["wait-replica", "no-wait"])
def test_failover_under_load_loses_and_repeats_nothing(servers: Servers, config: Config, fake_wechat: Any,
                                                       wait: bool) -> None:
    """Kill the primary mid-load: every acknowledged question is there once, and the webhook recovers alone."""
    deadline = time.monotonic() + 50
    servers.data_server("primary")
    servers.data_server("replica", "--replicaof", "127.0.0.1", str(servers.ports["primary"]))
    replica = redis.Redis(port=servers.ports["replica"], socket_timeout=1)
    wait_for(lambda: replica.info("replication")["master_link_status"] == "up", timeout=15)
    servers.sentinel("svc")
    sentinel = redis.Redis(port=servers.ports["sentinel"], socket_timeout=1)
    # Sentinel learns of the replica from the primary's INFO: only a known replica can be promoted.
    wait_for(lambda: sentinel.execute_command("SENTINEL", "replicas", "svc"), timeout=15)

    url = f"redis+sentinel://127.0.0.1:{servers.ports['sentinel']}/svc/0"
    if wait:
        url += "?wait_replicas=1&wait_timeout_ms=500"
    store = Store.from_url(url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    try:
        with gunicorn(service_env(url, store, fake_wechat)) as base:
            load = Load([base], account(config), uuid.uuid4().hex[:8]).start()
            try:
                wait_for(lambda: len(load.acked()) >= 20, timeout=deadline - time.monotonic())
                load.phase = "after"
                servers.procs["primary"].send_signal(signal.SIGKILL)  # no shutdown, no last save
                killed_at = time.monotonic()
                wait_for(lambda: _master(sentinel, "svc") == servers.ports["replica"],
                         timeout=deadline - time.monotonic())
                promoted = time.monotonic() - killed_at
                wait_for(lambda: len(load.acked("after")) >= 5, timeout=deadline - time.monotonic())
                answering = time.monotonic() - killed_at
            finally:
                load.stop()
            fresh = load.send(load.make(10**6))  # a new push, gunicorn never restarted
            assert fresh.qid, fresh.reply
        # Its dedup claim (the held connection's) is on the new primary too, not on some default server.
        assert (store.outcome(f"m:{fresh.msg_id}") or b"").startswith(b"R")

        pushes = [*load.done(), fresh]
        found = tally(pushes, stored_questions(store))
        not_saved = sum(p.reply is not None and not p.qid for p in pushes)
        assert not found.duplicated, "a question was stored twice"
        assert not found.errors, found.errors
        assert not found.misfiled, "an acknowledgement named another question's id"
        acked, lost = [p for p in pushes if p.qid], found.lost
        before = [p for p in acked if p.phase == "before"]
        median = sorted(p.seconds for p in before)[len(before) // 2]
        with contextlib.suppress(Exception):
            sys.__stdout__.write(
                f"\n[failover {'WAIT 1' if wait else 'no WAIT'}] {found.pushes} pushes, {len(acked)} "
                f"acknowledged, {len(lost)} acknowledged but lost, {found.stored} stored, {not_saved} told to "
                f"resend, {found.unanswered} unanswered; promoted "
                f"{promoted:.1f} s after the kill, acknowledging again after {answering:.1f} s; "
                f"median acknowledged push before the kill {median * 1000:.1f} ms\n")
        if wait:
            assert not lost, f"acknowledged but lost: {lost}"
    finally:
        with contextlib.suppress(redis.RedisError):
            delete_prefix(store.redis, store.prefix)
        store.close()
        replica.close()
        sentinel.close()


def test_held_connection_reconnects_without_using_up_the_pool() -> None:
    """Every claim while Redis is down fails as a connection error, never as an exhausted pool (100)."""
    store = Store.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        for _ in range(120):
            with pytest.raises(redis.ConnectionError) as caught:
                store.claim("m:1", b"P", 60)
            assert not isinstance(caught.value, redis.exceptions.MaxConnectionsError)
    finally:
        store.close()


@pytest.mark.parametrize("query", ["?db=3", "?db=3&wait_replicas=2"])
def test_unix_socket_urls_keep_their_path(query: str) -> None:
    connected = connect(f"unix:///run/redis/redis.sock{query}", timeout=1.0)
    kwargs = connected.client.connection_pool.connection_kwargs
    assert (kwargs["path"], kwargs["db"], connected.wait.replicas) == ("/run/redis/redis.sock", 3, 2 * ("wait" in query))
    connected.client.close()
