"""After a post is live: its questions marked published, and each asker told where the answer is (once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from bot.config import Config
from bot.questions.publishing.common import GONE, REFUSED, REPLY_WINDOW, Step, ts
from bot.questions.render import clip, is_answered
from bot.store import Store
from bot.wechat import messages as m
from bot.wechat.api import WeChatAPI, WeChatAPIError
from bot.wechat.outbound import custom_message

NOTIFY_DESCRIPTION = "您提出的问题已在本期答疑中解答，点击查看。"


class Notifying(Step):
    """Askers are claimed one at a time with a lease, told, then acknowledged: at least once, rarely twice."""

    def __init__(self, config: Config, store: Store, api: WeChatAPI | None, clock: Callable[[], datetime],
                 stamper: Callable[[datetime], Callable[[], float]]) -> None:
        super().__init__(config, store, api, clock)
        self.stamper = stamper  # the current time as seen from a tick's `now`

    def follow_up(self, pid: str, now: datetime, limit: int | None = None,
                  stamp: Callable[[], float] | None = None) -> int:
        """Mark the questions published and tell each asker the link (once); returns askers handled."""
        post = self.store.post(pid)
        if not post or post.get("status") != "published":
            self.store.done_finishing(pid)
            return 0
        if post.get("finalized") != "1":
            self._finalize(pid, post, now)
        url = post.get("url", "")
        # A mass send already put the post in every follower's chat: no second message about it.
        can_tell = (self.config.questions.notify_askers and bool(url) and self.api is not None
                    and self.pub.mode != "mass_send")
        handled = 0
        stamp = stamp or self.stamper(now)
        while limit is None or handled < limit:
            # Each claim is stamped with the time it is made, not the tick's start: a long round of sends
            # must not look abandoned to another scheduler, which would tell the same askers again.
            item = self.store.claim_notification(pid, stamp(), self.pub.notify_lease_seconds)
            if item is None:
                break
            entry, asker, _ = item
            if can_tell and self._tell(pid, post, asker, now) == "retry":
                self.store.requeue_notification(pid, entry)
                break  # WeChat is struggling: the rest on a later tick
            # At least once: if this process dies before the ack, the claim is re-driven after notify_lease_seconds and
            # this asker may get the link twice, which is better than never.
            self.store.ack_notification(pid, entry)
            handled += 1
        if self.store.notifications_left(pid) == 0:
            self.store.done_finishing(pid)
        return handled

    def _finalize(self, pid: str, post: Mapping[str, str], now: datetime) -> None:
        qids = [q for g in self.store.groups(pid) if is_answered(g) for q, _ in g["q"]]
        statuses = self.store.question_fields(qids, ("status",))
        self.store.set_question_fields({q: {"status": "published"} for q, (s,) in zip(qids, statuses, strict=True)
                                        if s != "merged"})
        self.store.drop_question_text(qids)  # answered in public: the scrubbed copy is all that stays
        if post.get("url"):
            latest = self.store.latest_post()
            if latest is None or float(latest.get("published_at", 0)) <= float(post.get("published_at") or 0):
                self.store.set_latest_post({"post": pid, "title": post.get("title", ""), "url": post["url"],
                                            "cover": post.get("cover_url", ""),
                                            "published_at": post.get("published_at", "")})
        self.move(pid, ("published",), now=now, fields={"finalized": "1"})

    def _tell(self, pid: str, post: Mapping[str, str], asker: str, now: datetime) -> str:
        """Send one asker the link: "sent", "pending" (kept for their next reply), "gone" or "retry"."""
        assert self.api is not None
        follower = self.store.follower(asker)
        if not follower or not follower.get("openid"):
            return "gone"  # unsubscribed: nothing to send to
        link = {"title": post.get("title", "答疑"), "url": post.get("url", "")}
        if ts(now) - float(follower.get("last_seen") or 0) > REPLY_WINDOW:
            self.store.add_pending_link(asker, link)
            return "pending"
        card = m.NewsReply((m.Article(clip(link["title"], 64), NOTIFY_DESCRIPTION, link["url"],
                                      post.get("cover_url", "")),))
        try:
            self.api.send_custom(custom_message(card, follower["openid"]))
            return "sent"
        except WeChatAPIError as exc:
            self.error(pid, "notify", exc.code, exc.message, now)
            if exc.code in REFUSED:
                self.store.add_pending_link(asker, link)
                return "pending"
            if exc.code in GONE:
                return "gone"
            if exc.safe_to_repeat:
                return "retry"  # WeChat did not send it (token, per-minute limit): again on a later tick
            # Quota, permission, or an outcome we cannot know (timeout, 5xx, -1: sending again might send it
            # twice): the link goes with the follower's next reply instead.
            self.store.add_pending_link(asker, link)
            return "pending"
