"""Redis Sentinel: the URL, and a real failover under load (a primary, a replica and a Sentinel of our own)."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from bot.config import Config
from bot.store import RedisURLError, Store, delete_prefix
from bot.store.connection import ReplicaWait, SentinelURL, connect, parse_sentinel_url
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import gunicorn, service_env, wait_for

ACK = re.compile(r"已收到您的问题（编号 (\d+)）|这个问题我们已经收到（编号 (\d+)）")


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


def _binaries() -> tuple[str, list[str]]:
    """redis-server, and how to start a Sentinel with it (redis-sentinel, else `redis-server --sentinel`)."""
    server = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                              else None)
    sentinel = shutil.which("redis-sentinel")
    if server is None and sentinel is None:
        pytest.skip("neither redis-server nor redis-sentinel is installed (apt-get install redis-server "
                    "redis-sentinel; .ci/run does it)")
    if server is None:  # redis-sentinel is redis-server under another name: it runs a server when told to
        assert sentinel is not None
        return sentinel, [sentinel, "--sentinel"]
    return server, [sentinel] if sentinel else [server, "--sentinel"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Servers:
    """Our own primary, replica and Sentinel on loopback ports, stopped at the end."""

    root: Path
    server: str
    sentinel_cmd: list[str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, cmd: list[str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        client = redis.Redis(port=self.ports[name], socket_timeout=1)

        def answers() -> bool:
            if self.procs[name].poll() is not None:
                raise AssertionError(f"{name} exited: {(self.root / f'{name}.log').read_text()[-2000:]}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout=15)
        client.close()

    def data_server(self, name: str, *extra: str) -> None:
        self.ports[name] = _free_port()
        (self.root / name).mkdir()
        self.start(name, [self.server, "--port", str(self.ports[name]), "--bind", "127.0.0.1", "--dir",
                          str(self.root / name), "--save", "", "--appendonly", "yes", "--appendfsync", "no",
                          *extra])

    def sentinel(self, service: str) -> None:
        self.ports["sentinel"] = port = _free_port()
        conf = self.root / "sentinel.conf"  # Sentinel rewrites its file: it must be its own and writable
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                        f"sentinel monitor {service} 127.0.0.1 {self.ports['primary']} 1\n"
                        f"sentinel down-after-milliseconds {service} 1000\n"
                        f"sentinel failover-timeout {service} 5000\n")
        self.start("sentinel", [self.sentinel_cmd[0], str(conf), *self.sentinel_cmd[1:]])

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    server, sentinel_cmd = _binaries()
    found = Servers(tmp_path, server, sentinel_cmd)
    try:
        yield found
    finally:
        found.stop()


@dataclass
class Push:
    text: str
    msg_id: int
    reply: str | None = None  # the passive reply's text; None: no answer after WeChat's three tries
    seconds: float = 0.0
    after_kill: bool = False


class Load(threading.Thread):
    """Sends questions one after another as WeChat does: 5 s timeout, the same push up to three times."""

    def __init__(self, url: str, account: Account, run: str) -> None:
        super().__init__(daemon=True)
        self.url, self.account, self.run_id = url, account, run
        self.pushes: list[Push] = []
        self.stopping = threading.Event()
        self.killed = threading.Event()
        self.lock = threading.Lock()
        self.base_id = int(time.time() * 1000) * 10**6

    def push(self, i: int) -> Push:
        push = Push(f"提问：肾移植术后饮食问题 {self.run_id}-{i}，每天喝多少水合适？", self.base_id + i,
                    after_kill=self.killed.is_set())
        xml = message_xml(self.account, f"o_load_{self.run_id}_{i}", text=push.text, msg_id=push.msg_id)
        query, body = signed_request(self.account, xml)
        started = time.monotonic()
        for _ in range(3):
            try:
                res = requests.post(self.url + "/wechat", params=query, data=body, timeout=5)
            except (requests.ConnectionError, requests.Timeout):
                continue
            if res.status_code == 200:
                push.reply = read_reply(self.account, res.text).text
                break
        push.seconds = time.monotonic() - started
        return push

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            push = self.push(i)
            with self.lock:
                self.pushes.append(push)
            i += 1

    def acked(self, *, after_kill: bool = False) -> list[Push]:
        with self.lock:
            return [p for p in self.pushes if p.reply and ACK.search(p.reply) and p.after_kill >= after_kill]


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
    account = Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                      config.account.original_id)
    try:
        with gunicorn(service_env(url, store, fake_wechat)) as base:
            load = Load(base, account, uuid.uuid4().hex[:8])
            load.start()
            try:
                wait_for(lambda: len(load.acked()) >= 20, timeout=deadline - time.monotonic())
                load.killed.set()
                servers.procs["primary"].send_signal(signal.SIGKILL)  # no shutdown, no last save
                killed_at = time.monotonic()
                wait_for(lambda: _master(sentinel, "svc") == servers.ports["replica"],
                         timeout=deadline - time.monotonic())
                promoted = time.monotonic() - killed_at
                wait_for(lambda: len(load.acked(after_kill=True)) >= 5, timeout=deadline - time.monotonic())
                answering = time.monotonic() - killed_at
            finally:
                load.stopping.set()
                load.join(timeout=30)
            assert not load.is_alive()
            fresh = load.push(10**6)  # a new push, gunicorn never restarted
            assert fresh.reply and ACK.search(fresh.reply), fresh.reply
        # Its dedup claim (the held connection's) is on the new primary too, not on some default server.
        assert (store.outcome(f"m:{fresh.msg_id}") or b"").startswith(b"R")

        ids = store.pending_question_ids()
        texts = [row[0] for row in store.question_fields(ids, ["text"])]
        acked = [*load.acked(), fresh]
        by_text = {t: texts.count(t) for t in set(texts)}
        lost = [p.text for p in acked if p.text not in by_text]
        unanswered = sum(p.reply is None for p in load.pushes)
        not_saved = sum(bool(p.reply) and not ACK.search(p.reply or "") for p in load.pushes)
        assert all(n == 1 for n in by_text.values()), "a question was stored twice"
        for push in acked:  # the id in the acknowledgement is the stored question with that text
            m = ACK.search(push.reply or "")
            assert m is not None
            qid = m[1] or m[2]
            assert push.text in lost or (store.question(qid) or {}).get("text") == push.text
        before = [p for p in acked if not p.after_kill]
        median = sorted(p.seconds for p in before)[len(before) // 2]
        with contextlib.suppress(Exception):
            sys.__stdout__.write(
                f"\n[failover {'WAIT 1' if wait else 'no WAIT'}] {len(load.pushes)} pushes, {len(acked)} "
                f"acknowledged, {len(lost)} acknowledged but lost, {len(texts)} stored, {not_saved} told to "
                f"resend, {unanswered} unanswered; promoted "
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
    store = Store.from_url(f"redis://127.0.0.1:{_free_port()}/0", timeout=0.5)
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
