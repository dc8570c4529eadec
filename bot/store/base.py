"""What every part of the store shares: the client, the key prefix, the Lua scripts and reply decoding."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, cast

import redis
from redis.sentinel import Sentinel

from bot.store.connection import ReplicaWait

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "wxbot:"
STATS_TTL = 400 * 86400  # daily counters (questions, survey clicks): a year and a bit, for charts; nothing personal

StoreError = redis.RedisError  # what callers catch when Redis is unreachable or fails

_INCLUDE = re.compile(r"^--#include (\w+)$", re.M)


def _lua(name: str) -> str:
    """The text of lua/{name}.lua, its `--#include other` lines replaced by that file's text."""
    text = resources.files("bot.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: _lua(m[1]), text)


# One per lua/*.lua file not starting with "_" (those are included by the others).
SCRIPTS = tuple(sorted(f.name[:-4] for f in resources.files("bot.store").joinpath("lua").iterdir()
                       if f.name.endswith(".lua") and not f.name.startswith("_")))


class _HeldConnection:
    """One connection kept for the webhook's per-message claim, bypassing the pool's bookkeeping.

    A claim is on every message's path; redis-py's generic command path costs about twice the
    loopback round trip itself. This still uses redis-py's Connection (auth, TLS, unix sockets).
    """

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._conn: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def call(self, *args: Any) -> Any:
        with self._lock:
            for attempt in (0, 1):
                try:
                    if self._conn is None or self._pid != os.getpid():
                        # Built outside the pool: the pool counts every connection it makes against its
                        # limit (100) and this one is never returned, so each reconnect would use one up.
                        self._conn = self._pool.connection_class(**self._pool.connection_kwargs)
                        self._pid = os.getpid()
                        # Connected here, not lazily by the send: a Sentinel-managed connection asks Sentinel
                        # for the primary only in connect(); the send's own connect would go to localhost:6379.
                        self._conn.connect()
                    self._conn.send_packed_command(self._conn.pack_command(*args), check_health=False)
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    # Not sent (e.g. the server restarted since): a fresh connection may send it once.
                    self._drop()
                    if attempt:
                        raise
                    continue
                try:
                    return self._conn.read_response()
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    # Sent but unanswered: Redis may have run it, so it is never sent twice (a second
                    # claim would read back our own pending mark and the push would go unhandled).
                    self._drop()
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.disconnect()
                self._conn = None


class StoreBase:
    """One Redis client with a key prefix and the registered scripts; the domain parts below build on it."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX, *, wait: ReplicaWait | None = None,
                 sentinel: Sentinel | None = None) -> None:
        self.redis = client
        self.prefix = prefix
        self.wait = wait or ReplicaWait()
        self._sentinel = sentinel  # closed with the store: the master client does not own it
        self._scripts = {name: client.register_script(_lua(name)) for name in SCRIPTS}
        self._held = _HeldConnection(client.connection_pool)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _durably(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script whose writes must survive a failover: with replicas to wait for, WAIT in the same trip."""
        if not self.wait.replicas:
            return self._scripts[script](keys=keys, args=args)
        # WAIT counts the replicas that have this connection's writes: one pipeline keeps them on one connection.
        pipe = self.redis.pipeline(transaction=False)
        self._scripts[script](keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", self.wait.replicas, self.wait.timeout_ms)
        result, acked = pipe.execute()
        if acked < self.wait.replicas:  # stored on the primary all the same: refusing would not unstore it
            log.warning("%s: stored, but only %d of %d replicas confirmed it within %d ms", script, acked,
                        self.wait.replicas, self.wait.timeout_ms)
        return result

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def durability_problems(self) -> list[str]:
        """Why this server could lose accepted questions: it keeps nothing on disk, or may evict keys."""
        persistence = self.redis.info("persistence")
        policy = str(self.redis.info("memory").get("maxmemory_policy", "unknown"))
        problems = []
        if not persistence.get("aof_enabled"):
            try:
                saves = cast(dict[str, str], self.redis.config_get("save")).get("save", "")
            except redis.ResponseError:  # CONFIG is disabled on many managed servers
                saves = "unknown"
            if not saves.strip():
                problems.append("the server keeps nothing on disk (appendonly no, no save points): a restart "
                                "loses every stored question; enable appendonly yes or RDB snapshots")
            elif saves == "unknown" and not persistence.get("rdb_last_save_time"):
                problems.append("cannot tell whether the server persists (CONFIG is disabled and AOF is off)")
        if policy != "noeviction" and not policy.startswith("volatile-"):
            problems.append(f"maxmemory-policy is {policy}: under memory pressure Redis would silently delete "
                            "questions and posts; use noeviction (or a volatile-* policy)")
        return problems

    def close(self) -> None:
        self._held.close()
        self.redis.close()
        if self._sentinel is not None:
            self._sentinel.close()


def notify_entry(entry: str) -> tuple[str, int, list[str]]:
    """(asker, count, question ids) of a notification entry ``asker count qid...``."""
    asker, count, *qids = entry.split(" ")
    return asker, int(count), qids


def text_hash(raw: Any) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in cast(dict[bytes, bytes], raw).items()}


def strs(raw: Any) -> list[str]:
    return [v.decode() for v in cast(Iterable[bytes], raw)]


def as_mapping(mapping: Mapping[str, str]) -> dict[Any, Any]:
    return dict(mapping)  # redis-py's mapping type is invariant in its key type


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
