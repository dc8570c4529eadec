"""Followers' questions and the records that let their askers be told: openids, open questions, links."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis

from bot.store.base import STATS_TTL, StoreBase, as_mapping, strs, text_hash
from bot.store.webhook import Effect, Write

log = logging.getLogger(__name__)


class QuestionStore(StoreBase):
    """Questions from intake to rejection, follower records and answer links waiting for a follower."""

    def question_write(self, asker: str, openid: str, fields: Mapping[str, str], *, now: float, day: str,
                       dup_hash: str, daily_limit: int, dup_ttl: int) -> Write:
        """The call that stores a question atomically (see `add_question`), for the webhook's claim to carry.

        `openid` is kept (until the question no longer needs it) to tell the asker; '' keeps none.
        """
        keys = (self.key("q", "dup", asker, dup_hash), self.key("q", "day", asker, day), self.key("q", "seq"),
                self.key("q", "new"), self.key("follower", asker), self.key("follower", asker, "open"),
                self.key("stats", "questions", day))
        args: list[Any] = [self.key("q", ""), self.key("post", ""), repr(now), daily_limit, dup_ttl, 2 * 86400,
                           openid, STATS_TTL]
        for name, value in fields.items():
            args.extend((name, value))
        return Write("add_question", keys, tuple(args))

    def add_question(self, write: Write) -> tuple[bytes, bytes]:
        """Store a question on its own: ("new", id), ("dup", earlier id) or ("limit", count today)."""
        outcome, value = self._durably("add_question", list(write.keys), list(write.args))
        return outcome, value

    def question(self, qid: str) -> dict[str, str] | None:
        return text_hash(self.redis.hgetall(self.key("q", qid))) or None

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
                pipe.hset(self.key("q", qid), mapping=as_mapping(fields))
            pipe.execute()

    def pending_question_ids(self, start: int = 0, stop: int = -1) -> list[str]:
        """Pending (not yet batched) question ids, oldest first."""
        return strs(self.redis.zrange(self.key("q", "new"), start, stop))

    def pending_count(self) -> int:
        return int(self.redis.zcard(self.key("q", "new")))

    def return_questions(self, pid: str, qids: Sequence[str], chunk: int = 1000) -> int:
        """Put a post's still-unanswered questions back in the pending queue; returns how many moved."""
        moved = 0
        keys = [self.key("q", "new"), self.key("post", pid, "q")]
        for i in range(0, len(qids), chunk):
            args = [self.key("q", ""), pid, *qids[i:i + chunk]]
            moved += int(self._scripts["return_questions"](keys=keys, args=args))
        return moved

    def last_question_id(self) -> int:
        """The newest question's id (0 before the first): listings walk down from it."""
        return int(self.redis.get(self.key("q", "seq")) or 0)

    def update_pending(self, updates: Mapping[str, Mapping[str, str]]) -> bool:
        """Set fields of pending questions, all or none; False if one is no longer pending (a batch took it)."""
        keys = [self.key("q", qid) for qid in updates]
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*keys)
                if any(pipe.hget(k, "status") != b"new" for k in keys):
                    return False
                pipe.multi()
                for key, fields in zip(keys, updates.values(), strict=True):
                    pipe.hset(key, mapping=as_mapping(fields))
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def has_pending_links(self, asker: str) -> bool:
        """Whether answer links wait for this follower's next message."""
        return bool(self.redis.exists(self.key("links", asker)))

    def reject_pending(self, qid: str, reason: str = "") -> bool:
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
                pipe.hset(q_key, mapping={"status": "rejected", "reason": reason} if reason else {"status": "rejected"})
                pipe.hdel(q_key, "text")  # the text as received: only its scrubbed copy is kept
                if asker:
                    self._release(asker.decode(), [qid], client=pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def _release(self, asker: str, qids: Sequence[str], *, client: Any = None) -> None:
        """These questions of the asker no longer need the openid (see lua/_release.lua); `client`: a transaction."""
        self._scripts["release_follower"](keys=[self.key("follower", asker), self.key("follower", asker, "open")],
                                     args=list(qids), client=client)

    def follower(self, asker: str) -> dict[str, str] | None:
        return text_hash(self.redis.hgetall(self.key("follower", asker))) or None

    def open_questions(self, asker: str) -> set[str]:
        """Ids of the follower's questions that still need their openid (since their record was made)."""
        return set(strs(self.redis.smembers(self.key("follower", asker, "open"))))

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
