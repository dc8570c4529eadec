"""Publishing reply posts on WeChat exactly once, resuming after crashes, then telling the askers.

A post goes draft → scheduled → publishing → published | failed. Whoever moves it from scheduled to
publishing (a Lua check-and-set in `Store.update_post`) holds a lease and alone runs the steps:
give unanswered questions back to the queue, upload the cover (material/add_material), create the
draft (draft/add), then publish (freepublish/submit) or mass-send (message/mass/sendall). Each
step's result is recorded on the post before the next step, so a process that dies mid-way is
resumed, after its lease expires, from the recorded step: never a second draft or post. The
publish job's end arrives as PUBLISHJOBFINISH or is found by polling freepublish/get; either one
finishes the post, once. Every WeChat error is recorded on the post with its meaning.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import messages as m
from bot.api import MEANINGS, WeChatAPI, WeChatAPIError, meaning
from bot.config import Config
from bot.render import PostContentError, clip, is_answered, render_post
from bot.store import PostEdit, Store
from bot.wechat import custom_message

log = logging.getLogger(__name__)

LEASE_SECONDS = 600.0  # a publisher silent this long is presumed dead; its post is resumed
RETRY_SECONDS = 60.0  # first retry after a retryable error; doubles per attempt, at most an hour
POLL_DELAYS = (5, 15, 30, 60, 120, 300, 600, 1800)  # freepublish/get allows 100 calls a day
REPLY_WINDOW = 48 * 3600 - 600  # customer-service messages: 48 h after the follower's last message
REFUSED = frozenset({45015, 45047})  # outside the window / quota used: keep the link for their next reply
INVALID_MEDIA = 40007
NO_API = -1003
PUBLISH_STATUS: Mapping[int, str] = {
    0: "published",
    1: "still publishing",
    2: "publishing failed: originality check",
    3: "publishing failed",
    4: "rejected by the platform's review",
    5: "published, then every article deleted by the account",
    6: "published, then every article blocked by the platform",
}
NOTIFY_DESCRIPTION = "您提出的问题已在本期答疑中解答，点击查看。"


class _LostLease(Exception):
    """Another process took the post over (our lease expired); stop without touching it."""


def _ts(now: datetime) -> float:
    return now.timestamp()


class Publisher:
    """The publishing steps, the poll, the finish and the askers' notifications for every post."""

    def __init__(self, config: Config, store: Store, api: WeChatAPI | None, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.pub = config.questions.publishing
        self.store = store
        self.api = api
        self.clock = clock

    # -- the periodic tick --------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Publish what is due, resume what a dead process left, poll running jobs, tell askers."""
        now = now or self.clock()
        done = Counter[str]()
        for pid in self.store.due_posts("scheduled", _ts(now)):
            done["started"] += self._guarded(pid, lambda p: int(self.publish(p, now)))
        for pid in self.store.due_posts("publishing", _ts(now)):
            post = self.store.post(pid)
            if post and post.get("publish_id"):
                done["polled"] += self._guarded(pid, lambda p: int(self.poll(p, now)))
            else:
                done["resumed"] += self._guarded(pid, lambda p: int(self.publish(p, now)))
        for pid in self.store.finishing_posts():
            done["notified"] += self._guarded(pid, lambda p: self.follow_up(p, now))
        return dict(done)

    @staticmethod
    def _guarded(pid: str, step: Callable[[str], int]) -> int:
        """One post's trouble (a bug, Redis hiccup) must not stop the tick for the others."""
        try:
            return step(pid)
        except Exception:
            log.exception("post %s: tick step failed; retried on the next tick", pid)
            return 0

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, pid: str, now: datetime | None = None) -> bool:
        """Claim a due post (or one whose publisher died) and run its remaining steps; False if not ours."""
        now = now or self.clock()
        owner = uuid.uuid4().hex
        lease = _ts(now) + LEASE_SECONDS
        if not self.store.update_post(pid, ("scheduled", "publishing"), "publishing", now=_ts(now), score=lease,
                                      fields={"owner": owner, "lease_until": repr(lease)}):
            return False
        log.info("publishing post %s", pid)
        self._run(pid, owner, now)
        return True

    def _record(self, pid: str, owner: str, now: datetime, fields: Mapping[str, str],
                score: float | None = None) -> None:
        if not self.store.update_post(pid, ("publishing",), now=_ts(now), owner=owner, fields=fields, score=score):
            raise _LostLease(pid)

    def _run(self, pid: str, owner: str, now: datetime) -> None:
        post = self.store.post(pid) or {}
        step = "prepare"
        try:
            if self.api is None:
                raise WeChatAPIError(NO_API, "no WeChat API client: WECHAT_APP_SECRET is not set")
            if post.get("publish_id"):  # submitted before: the poll or PUBLISHJOBFINISH finishes it
                self._record(pid, owner, now, {"owner": ""}, score=_ts(now) + POLL_DELAYS[0])
                return
            step = "release"
            self._release(pid, post, owner, now)
            step = "render"
            rendered = render_post(post, self.store.groups(pid), self.pub)
            step = "cover"
            cover_id, cover_url = post.get("cover_media_id", ""), post.get("cover_url", "")
            if not cover_id:
                cover_id, cover_url = self._upload_cover()
                self._record(pid, owner, now, {"cover_media_id": cover_id, "cover_url": cover_url})
            step = "draft"
            draft = post.get("draft_media_id", "")
            if not draft:
                article = {"title": rendered.title, "author": self.pub.author, "digest": rendered.digest,
                           "content": rendered.html, "content_source_url": "", "thumb_media_id": cover_id,
                           "need_open_comment": 0, "only_fans_can_comment": 0}
                draft = str(self.api.post("draft/add", data={"articles": [article]})["media_id"])
                self._record(pid, owner, now, {"draft_media_id": draft, "title": rendered.title})
            if self.pub.mode == "mass_send":
                step = "mass_send"
                msg_id = self._mass_send(pid, draft)
                if self.store.update_post(pid, ("publishing",), "published", now=_ts(now), owner=owner,
                                          fields={"msg_id": msg_id, "published_at": repr(_ts(now)), "owner": ""}):
                    log.info("post %s mass-sent (msg_id %s)", pid, msg_id)
                    self.follow_up(pid, now)
                return
            step = "submit"
            result = self.api.post("freepublish/submit", data={"media_id": draft})
            publish_id = str(result["publish_id"])
            self.store.map_publish_id(publish_id, pid)
            self._record(pid, owner, now, {"publish_id": publish_id, "polls": "0"}, score=_ts(now) + POLL_DELAYS[0])
            log.info("post %s submitted (publish_id %s)", pid, publish_id)
        except _LostLease:
            log.warning("post %s: lost the publishing lease at step %s; another process resumes it", pid, step)
        except PostContentError as exc:
            self._error(pid, step, 0, str(exc), now)
            self._end_attempt(pid, owner, post, step, False, f"{step}: {exc}", now)
        except WeChatAPIError as exc:
            self._error(pid, step, exc.code, exc.message, now)
            retry = exc.retryable
            if exc.code == INVALID_MEDIA and step == "draft":
                # The cover vanished from WeChat's library: upload it again on the next attempt.
                self.store.drop_cover(self._cover_digest())
                self.store.update_post(pid, ("publishing",), now=_ts(now), owner=owner, fields={"cover_media_id": ""})
                retry = True
            failure = f"{step}: WeChat error {exc.code} ({MEANINGS.get(exc.code) or exc.message})"
            if exc.code == INVALID_MEDIA and step == "submit":
                failure += "; the draft is gone: if WeChat published it already, do not publish again"
            self._end_attempt(pid, owner, post, step, retry, failure, now)

    def _end_attempt(self, pid: str, owner: str, post: Mapping[str, str], step: str, retry: bool, failure: str,
                     now: datetime) -> None:
        """After an error: try again later (retryable, attempts left) or mark the post failed."""
        attempts = int(post.get("attempts") or 0) + 1
        if retry and attempts < self.pub.max_attempts:
            at = _ts(now) + min(3600.0, RETRY_SECONDS * 2 ** (attempts - 1))
            self.store.update_post(pid, ("publishing",), "scheduled", now=_ts(now), score=at, owner=owner,
                                   fields={"scheduled_at": repr(at), "attempts": str(attempts), "owner": "",
                                           "failure": f"attempt {attempts} failed at {failure}; retrying"})
            log.warning("post %s: attempt %d failed at %s; retrying at %s", pid, attempts, step, self._iso(at))
        else:
            self.store.update_post(pid, ("publishing",), "failed", now=_ts(now), owner=owner,
                                   fields={"attempts": str(attempts), "owner": "", "failure": failure})
            log.warning("post %s failed at %s", pid, step)

    def _iso(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.config.account.tz).isoformat(timespec="seconds")

    def _error(self, pid: str, step: str, code: int, message: str, now: datetime) -> None:
        """Record one error on the post for editors (`posts show`): code, meaning in words, step, time."""
        words = MEANINGS.get(code) if step != "publish job" else None
        self.store.add_post_error(pid, {"at": self._iso(_ts(now)), "step": step, "code": code,
                                        "meaning": words or message, "detail": message})

    def _release(self, pid: str, post: Mapping[str, str], owner: str, now: datetime) -> None:
        """Once per post: unanswered groups go back to the queue; the answered groups' askers are queued."""
        if post.get("released") == "1":
            return
        groups = self.store.groups(pid)
        unanswered = [g for g in groups if g.get("state") == "open" and not is_answered(g)]
        if unanswered:
            self.store.return_questions(pid, [q for g in unanswered for q, _ in g["q"]])

            def mark(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
                return PostEdit(groups={gid: {**g, "state": "returned"} for gid, g in found.items() if g})

            self.store.edit_post(pid, [g["id"] for g in unanswered], {"publishing"}, mark)
        self.store.queue_notifications(pid, Counter(a for g in groups if is_answered(g) for _, a in g["q"]))
        self._record(pid, owner, now, {"released": "1"})

    def _cover_digest(self) -> str:
        return hashlib.sha256(Path(self.pub.cover_image).read_bytes()).hexdigest()[:32]

    def _upload_cover(self) -> tuple[str, str]:
        """The cover's permanent media_id (uploaded once per image content, then reused)."""
        assert self.api is not None
        data = Path(self.pub.cover_image).read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:32]
        cached = self.store.cover(digest)
        if cached:
            return cached
        name = Path(self.pub.cover_image).name
        mime = "image/png" if name.lower().endswith(".png") else "image/jpeg"
        result = self.api.material.add("image", (name, io.BytesIO(data), mime))
        media_id, url = str(result["media_id"]), str(result.get("url", ""))
        self.store.set_cover(digest, media_id, url)
        return media_id, url

    def _mass_send(self, pid: str, draft: str) -> str:
        """message/mass/sendall; the clientmsgid makes WeChat refuse a repeat of the same post (45065)."""
        assert self.api is not None
        client_msg_id = f"wxbot-post-{pid}-{hashlib.sha1(draft.encode()).hexdigest()[:12]}"
        body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": draft}, "msgtype": "mpnews",
                "send_ignore_reprint": 0, "clientmsgid": client_msg_id}
        try:
            return str(self.api.post("message/mass/sendall", data=body).get("msg_id", ""))
        except WeChatAPIError as exc:
            if exc.code == 45065:  # an earlier attempt's send went through; its reply was lost
                return "sent before"
            raise

    # -- following the publish job ------------------------------------------------------------

    def poll(self, pid: str, now: datetime | None = None) -> bool:
        """Ask freepublish/get how the job is doing (the fallback for a lost PUBLISHJOBFINISH); False: no need."""
        now = now or self.clock()
        post = self.store.post(pid)
        if not post or post.get("status") != "publishing" or not post.get("publish_id") or self.api is None:
            return False
        polls = int(post.get("polls") or 0)
        later = _ts(now) + POLL_DELAYS[min(polls + 1, len(POLL_DELAYS) - 1)]
        try:
            result = self.api.post("freepublish/get", data={"publish_id": post["publish_id"]})
        except WeChatAPIError as exc:
            self._error(pid, "poll", exc.code, exc.message, now)
            if exc.retryable:
                self.store.update_post(pid, ("publishing",), now=_ts(now), score=later,
                                       fields={"polls": str(polls + 1)})
            else:
                self.store.update_post(pid, ("publishing",), "failed", now=_ts(now), fields={
                    "failure": f"poll: WeChat error {exc.code} ({meaning(exc.code)})", "owner": ""})
            return True
        status = int(result.get("publish_status", 1))
        if status == 1:
            self.store.update_post(pid, ("publishing",), now=_ts(now), score=later, fields={"polls": str(polls + 1)})
            return True
        items = (result.get("article_detail") or {}).get("item") or []
        url = str(items[0].get("article_url", "")) if items else ""
        self.finish(pid, post["publish_id"], status, str(result.get("article_id", "")), url, now)
        return True

    def on_event(self, event: m.PublishJobFinishEvent) -> str | None:
        """PUBLISHJOBFINISH: finish the post it belongs to and start telling the askers; its post id."""
        pid = self.store.post_for_publish_id(event.publish_id)
        if pid is None:
            log.info("PUBLISHJOBFINISH for unknown publish_id %s", event.publish_id)
            return None
        now = self.clock()
        if event.publish_status == 0 and not event.articles:
            self.poll(pid, now)  # the push lacks the article URL: freepublish/get has it
            finished = self.store.post(pid) or {}
            if finished.get("status") == "published":
                self.follow_up(pid, now, limit=20)
            return pid
        url = event.articles[0].url if event.articles else ""
        if self.finish(pid, event.publish_id, event.publish_status, event.article_id, url, now):
            self.follow_up(pid, now, limit=20)  # the rest (if any) on the scheduler's next tick
        return pid

    def finish(self, pid: str, publish_id: str, status: int, article_id: str, url: str, now: datetime) -> bool:
        """The job's final state, applied once (the event and the poll may both report it)."""
        post = self.store.post(pid)
        if not post or post.get("publish_id") != publish_id:
            return False
        if status == 0:
            done = self.store.update_post(pid, ("publishing",), "published", now=_ts(now), fields={
                "url": url, "article_id": article_id, "published_at": repr(_ts(now)), "owner": "", "failure": ""})
            if done:
                log.info("post %s published", pid)
            return done
        words = PUBLISH_STATUS.get(status, f"publish_status {status}")
        done = self.store.update_post(pid, ("publishing",), "failed", now=_ts(now), fields={
            "publish_status": str(status), "owner": "", "failure": f"publish job: {words} (publish_status {status})"})
        if done:
            self._error(pid, "publish job", status, f"{words} (publish_status {status})", now)
            log.warning("post %s: publish job ended with status %d", pid, status)
        return done

    # -- after publishing ---------------------------------------------------------------------

    def follow_up(self, pid: str, now: datetime | None = None, limit: int | None = None) -> int:
        """Mark the questions published and tell each asker the link (once); returns askers handled."""
        now = now or self.clock()
        post = self.store.post(pid)
        if not post or post.get("status") != "published":
            self.store.done_finishing(pid)
            return 0
        if post.get("finalized") != "1":
            self._finalize(pid, post, now)
        url = post.get("url", "")
        can_tell = self.config.questions.notify_askers and bool(url) and self.api is not None
        handled = 0
        while limit is None or handled < limit:
            item = self.store.pop_notification(pid)
            if item is None:
                break
            asker, count = item
            if can_tell and self._tell(pid, post, asker, now) == "retry":
                self.store.requeue_notification(pid, asker, count)
                break  # WeChat is struggling: the rest on a later tick
            self.store.release_followers({asker: count})
            handled += 1
        if self.store.notifications_left(pid) == 0:
            self.store.done_finishing(pid)
        return handled

    def _finalize(self, pid: str, post: Mapping[str, str], now: datetime) -> None:
        qids = [q for g in self.store.groups(pid) if is_answered(g) for q, _ in g["q"]]
        statuses = self.store.question_fields(qids, ("status",))
        self.store.set_question_fields({q: {"status": "published"} for q, (s,) in zip(qids, statuses, strict=True)
                                        if s != "merged"})
        if post.get("url"):
            latest = self.store.latest_post()
            if latest is None or float(latest.get("published_at", 0)) <= float(post.get("published_at") or 0):
                self.store.set_latest_post({"post": pid, "title": post.get("title", ""), "url": post["url"],
                                            "cover": post.get("cover_url", ""),
                                            "published_at": post.get("published_at", "")})
        self.store.update_post(pid, ("published",), now=_ts(now), fields={"finalized": "1"})

    def _tell(self, pid: str, post: Mapping[str, str], asker: str, now: datetime) -> str:
        """Send one asker the link: "sent", "pending" (kept for their next reply), "gone", "dropped" or "retry"."""
        assert self.api is not None
        follower = self.store.follower(asker)
        if not follower or not follower.get("openid"):
            return "gone"  # unsubscribed: nothing to send to
        link = {"title": post.get("title", "答疑"), "url": post.get("url", "")}
        if _ts(now) - float(follower.get("last_seen") or 0) > REPLY_WINDOW:
            self.store.add_pending_link(asker, link)
            return "pending"
        card = m.NewsReply((m.Article(clip(link["title"], 64), NOTIFY_DESCRIPTION, link["url"],
                                      post.get("cover_url", "")),))
        try:
            self.api.send_custom(custom_message(card, follower["openid"]))
            return "sent"
        except WeChatAPIError as exc:
            if exc.code in REFUSED:
                self.store.add_pending_link(asker, link)
                return "pending"
            self._error(pid, "notify", exc.code, exc.message, now)
            return "retry" if exc.retryable else "dropped"
