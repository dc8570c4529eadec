"""Reply posts: batching questions into them, editing, publishing state, telling the askers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from bot.store.base import as_mapping, dumps, notify_entry, strs, text_hash
from bot.store.questions import QuestionStore


@dataclass
class PostEdit:
    """What an editor's change writes, atomically: groups, post fields, question fields, released askers."""

    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    post: dict[str, str] = field(default_factory=dict)
    questions: dict[str, dict[str, str]] = field(default_factory=dict)
    release: dict[str, list[str]] = field(default_factory=dict)  # asker -> ids of questions no longer needing it
    result: Any = None  # what the caller wants back


class PostStore(QuestionStore):
    """Batches, posts and their groups, status check-and-set, publish-job maps and asker notifications."""

    def begin_batch(self, *, now: float, cutoff: float, slot: str, claim_ttl: int = 30 * 86400) -> str | None:
        """Claim `slot` (unless '') and create a batching post; None: claimed elsewhere, '': nothing pending."""
        keys = [self.key("batch", "slot", slot or "-"), self.key("q", "new"), self.key("post", "seq"),
                self.key("posts"), self.key("posts", "batching")]
        result = self._scripts["begin_batch"](keys=keys, args=[self.key("post", ""), repr(now), repr(cutoff), claim_ttl,
                                                           slot])
        return None if result is None else cast(bytes, result).decode()

    def slot_claimed(self, slot: str) -> bool:
        return bool(self.redis.exists(self.key("batch", "slot", slot)))

    def move_to_post(self, pid: str, cutoff: float, count: int) -> int | None:
        """Atomically move up to `count` pending questions received by `cutoff` into the post; how many moved.

        None (nothing moved) when the post is no longer batching: another process finished its batch.
        """
        keys = [self.key("q", "new"), self.key("post", pid, "q"), self.key("post", pid)]
        moved = int(self._scripts["move_batch"](keys=keys, args=[self.key("q", ""), repr(cutoff), count, pid]))
        return None if moved < 0 else moved

    def batching_posts(self) -> list[str]:
        return sorted(strs(self.redis.smembers(self.key("posts", "batching"))), key=int)

    def post_question_ids(self, pid: str) -> list[str]:
        """The questions a post holds, oldest first."""
        return strs(self.redis.zrange(self.key("post", pid, "q"), 0, -1))

    def read_post_questions(self, pid: str, fields: Sequence[str], chunk: int = 5000) -> Iterator[list[str]]:
        """[id, *fields] of every question in the post, oldest first, a chunk per round trip."""
        start = 0
        width = len(fields) + 1
        while True:
            flat = cast(list[bytes], self._scripts["read_questions"](
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
            pipe.hset(scratch, mapping={g["id"]: dumps(g) for g in groups[i:i + chunk]})
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
                tx.hset(post_key, mapping=as_mapping({**fields, "status": "draft"}))
                tx.srem(self.key("posts", "batching"), pid)
                tx.execute()
                return True
            except redis.WatchError:
                return False
            finally:
                self.redis.delete(scratch)  # left over only when another process finished first

    def post(self, pid: str) -> dict[str, str] | None:
        return text_hash(self.redis.hgetall(self.key("post", pid))) or None

    def post_ids(self, limit: int = 50) -> list[str]:
        """The newest posts first."""
        return strs(self.redis.zrevrange(self.key("posts"), 0, limit - 1))

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
                    post = text_hash(pipe.hgetall(post_key))
                    if not post:
                        raise LookupError(f"no post {pid}")
                    if post.get("status") not in allowed:
                        raise PermissionError(f"post {pid} is {post.get('status')}")
                    raw = pipe.hmget(groups_key, list(gids)) if gids else []
                    found = {g: (json.loads(r) if r else None) for g, r in zip(gids, raw, strict=True)}
                    edit = change(post, found)
                    pipe.multi()
                    if edit.groups:
                        pipe.hset(groups_key, mapping={g: dumps(v) for g, v in edit.groups.items()})
                    if edit.post:
                        pipe.hset(post_key, mapping=as_mapping(edit.post))
                    for qid, qfields in edit.questions.items():
                        pipe.hset(self.key("q", qid), mapping=as_mapping(qfields))
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
        """Check-and-set a post's status (see lua/post_update.lua); True if it applied."""
        keys = [self.key("post", pid), self.key("posts", "scheduled"), self.key("posts", "publishing"),
                self.key("posts", "finishing")]
        args: list[Any] = [pid, " ".join(allowed), to, repr(now), "" if score is None else repr(score), owner]
        for name, value in (fields or {}).items():
            args.extend((name, value))
        return bool(self._scripts["post_update"](keys=keys, args=args))

    def due_posts(self, index: str, now: float, limit: int = 100) -> list[str]:
        """Post ids in `index` ("scheduled" or "publishing") whose time has come."""
        return strs(self.redis.zrangebyscore(self.key("posts", index), "-inf", repr(now), start=0, num=limit))

    def add_post_error(self, pid: str, record: Mapping[str, Any], keep: int = 100) -> None:
        key = self.key("post", pid, "errors")
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, dumps(record))
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
        raw = cast(bytes | None, self._scripts["claim_notification"](
            keys=[self.key("post", pid, "notify"), self.key("post", pid, "notifying")],
            args=[repr(now), repr(now - lease)]))
        if raw is None:
            return None
        entry = raw.decode()
        asker, n, _ = notify_entry(entry)
        return entry, asker, n

    def ack_notification(self, pid: str, entry: str) -> None:
        """The claimed asker was handled: forget the claim and release the entry's questions (once)."""
        asker, _, qids = notify_entry(entry)
        keys = [self.key("post", pid, "notifying"), self.key("follower", asker), self.key("follower", asker, "open")]
        self._scripts["ack_notification"](keys=keys, args=[entry, *qids])

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
        return sorted(strs(self.redis.smembers(self.key("posts", "finishing"))), key=int)

    def done_finishing(self, pid: str) -> None:
        self.redis.srem(self.key("posts", "finishing"), pid)

    def set_latest_post(self, record: Mapping[str, str]) -> None:
        self.redis.set(self.key("qa", "latest"), dumps(record))

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
