"""Following a post WeChat has: the publish job's end (pushed, confirmed, or polled) and a mass send's result."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from bot.config import Config
from bot.questions.publishing.common import (
    MAX_POLLS,
    POLL_DELAYS,
    PUBLISH_STATUS,
    Step,
    ts,
)
from bot.questions.render import clip
from bot.store import Store
from bot.wechat import messages as m
from bot.wechat.api import WeChatAPI, WeChatAPIError

log = logging.getLogger(__name__)

_ARTICLE_LINK = re.compile(r"https?://mp\.weixin\.qq\.com/\S{1,1000}")


def mass_article_link(url: str) -> str:
    """A mass send's article link if it is WeChat's own (as https), else "" (no API confirms mass sends)."""
    if not _ARTICLE_LINK.fullmatch(url):
        return ""
    return "https://" + url.split("://", 1)[1]


def _article_url(result: Mapping[str, object]) -> str:
    """The first article's link in a freepublish/get answer."""
    detail = result.get("article_detail") or {}
    items = (detail.get("item") if isinstance(detail, dict) else None) or []
    return str(items[0].get("article_url", "")) if items else ""


class JobTracking(Step):
    """The end of what WeChat was handed, applied once whoever reports it; then the askers are told."""

    def __init__(self, config: Config, store: Store, api: WeChatAPI | None, clock: Callable[[], datetime],
                 follow_up: Callable[..., int]) -> None:
        super().__init__(config, store, api, clock)
        self.follow_up = follow_up  # telling the askers, once the post is live

    def poll(self, pid: str, now: datetime) -> bool:
        """Ask freepublish/get how the job is doing (the fallback for a lost PUBLISHJOBFINISH); False: not ours."""
        post = self.store.post(pid)
        if not post or post.get("status") != "publishing" or not post.get("publish_id") or self.api is None:
            return False
        owner = uuid.uuid4().hex
        lease = ts(now) + self.pub.lease_seconds
        if not self.move(pid, ("publishing",), "publishing", now=now, score=lease,
                         fields={"owner": owner, "lease_until": repr(lease)}):
            return False  # another process polls it (or publishes it) right now
        polls = int(post.get("polls") or 0)
        later = ts(now) + POLL_DELAYS[min(polls + 1, len(POLL_DELAYS) - 1)]
        again = {"polls": str(polls + 1), "owner": "", "lease_until": repr(ts(now))}
        try:
            result = self.api.post("freepublish/get", data={"publish_id": post["publish_id"]})
        except WeChatAPIError as exc:
            # The job is WeChat's now: a failed question about it says nothing about how it ends. Ending the
            # post here would ignore a later PUBLISHJOBFINISH and let an editor publish it a second time.
            self.error(pid, "poll", exc.code, exc.message, now)
            self._poll_again(pid, owner, polls, later, again, now)
            return True
        status = int(result.get("publish_status", 1))
        if status == 1:
            self._poll_again(pid, owner, polls, later, again, now)
            return True
        self.finish(pid, post["publish_id"], status, str(result.get("article_id", "")), _article_url(result), now)
        return True

    def _poll_again(self, pid: str, owner: str, polls: int, later: float, again: Mapping[str, str],
                    now: datetime) -> None:
        """Poll later, or after about a day without a final status stop and hand the post to an editor."""
        if polls + 1 < MAX_POLLS:
            self.move(pid, ("publishing",), now=now, owner=owner, score=later, fields=again)
            return
        # Still failed-without-final-status, so a late PUBLISHJOBFINISH publishes it, and no reschedule can
        # submit it a second time (`PostService.schedule` refuses a post whose job may be live).
        failure = (f"publish job: no final status from WeChat after {polls + 1} polls over about a day; check the "
                   "published list (发表记录) on the WeChat admin site (mp.weixin.qq.com): if the post is there, "
                   "record its link with `posts mark-published`")
        self.move(pid, ("publishing",), "failed", now=now, owner=owner, fields={**again, "failure": failure})
        self.error(pid, "poll", 0, failure, now)
        log.warning("post %s: publish job unsettled after %d polls; left to an editor", pid, polls + 1)

    def on_event(self, event: m.PublishJobFinishEvent) -> str | None:
        """PUBLISHJOBFINISH: confirm the job's end with freepublish/get, finish its post, start telling askers.

        A push says nothing WeChat vouches for (in plaintext mode its signature does not even cover the body):
        the status and link come from freepublish/get, and a push that disagrees is recorded on the post.
        """
        pid = self.store.post_for_publish_id(event.publish_id)
        if pid is None:
            log.info("PUBLISHJOBFINISH for unknown publish_id %s", event.publish_id)
            return None
        now = self.clock()
        if self.api is None:
            return pid  # nothing to confirm it with: the post stays for an editor
        try:
            result = self.api.post("freepublish/get", data={"publish_id": event.publish_id})
        except WeChatAPIError as exc:
            self.error(pid, "poll", exc.code, exc.message, now)
            return pid  # polling (or an editor) finishes it
        status = int(result.get("publish_status", 1))
        url = _article_url(result)
        pushed = event.articles[0].url if event.articles else ""
        if event.publish_status != status or (pushed and pushed != url):
            self.error(pid, "publish job", 0, "a PUBLISHJOBFINISH push disagreed with WeChat's record of the job "
                       f"(push: status {event.publish_status}, link {clip(pushed, 200)!r}; freepublish/get: status "
                       f"{status}, link {url!r}); WeChat's record is what counts", now)
            log.warning("post %s: PUBLISHJOBFINISH disagreed with freepublish/get; kept WeChat's record", pid)
        if status == 1:
            return pid  # still publishing: polling finishes it
        if status == 0 and not url:
            # Live, but without its link nobody can be told where it is: polling (or an editor) finishes it.
            self.error(pid, "publish job", 0, "WeChat reported the post published but gave no article link", now)
            return pid
        if self.finish(pid, event.publish_id, status, str(result.get("article_id", "")), url, now):
            self.follow_up(pid, now, limit=20)  # the rest (if any) on the scheduler's next tick
        return pid

    def finish(self, pid: str, publish_id: str, status: int, article_id: str, url: str, now: datetime) -> bool:
        """The job's final state, applied once (the event and the poll may both report it)."""
        post = self.store.post(pid)
        # A post without a publish_id reached here through the publish_id's mapping: its submit went through
        # but its publisher stopped before recording it (the post then failed as "outcome unknown").
        if not post:
            return False
        if post.get("publish_id") != publish_id:
            # Only the job of the draft WeChat may have used, never an older job's late event.
            mapped = self.store.publish_mapping(publish_id)
            if post.get("publish_id") or not post.get("submitted_draft") or mapped is None \
                    or mapped != (pid, post["submitted_draft"]):
                return False
        # A post failed without a final status (poll errors, an unknown submit) still takes its job's end.
        allowed = ("publishing",) if post.get("publish_status") else ("publishing", "failed")
        if status == 0:
            done = self.move(pid, allowed, "published", now=now, fields={
                "url": url, "article_id": article_id, "published_at": repr(ts(now)), "owner": "", "failure": "",
                "publish_id": publish_id, "submitting": ""})
            if done:
                log.info("post %s published", pid)
            return done
        words = PUBLISH_STATUS.get(status, f"publish_status {status}")
        # A final failure: the job is not live and its draft is used up, so nothing is pinned any more.
        done = self.move(pid, allowed, "failed", now=now, fields={
            "publish_status": str(status), "owner": "", "failure": f"publish job: {words} (publish_status {status})",
            "publish_id": publish_id, "submitting": "", "submitted_draft": ""})
        if done:
            self.error(pid, "publish job", status, f"{words} (publish_status {status})", now)
            log.warning("post %s: publish job ended with status %d", pid, status)
        return done

    def mass_sent(self, pid: str, owner: str, msg_id: str, note: str, now: datetime) -> None:
        """Settle a mass send without WeChat's report: published, with what is known noted on the post."""
        if self.move(pid, ("publishing",), "published", now=now, owner=owner, fields={
                "msg_id": msg_id, "mass_status": note, "published_at": repr(ts(now)), "owner": ""}):
            log.info("post %s mass-sent (%s)", pid, note)
            self.follow_up(pid, now)

    def on_mass_send(self, event: m.MassSendJobFinishEvent) -> str | None:
        """MASSSENDJOBFINISH of one of our posts: its result, recorded on the post; its post id."""
        pid = self.store.post_for_mass_msg_id(event.msg_id)
        if pid is None:
            return None  # a send made elsewhere (the admin site)
        now = self.clock()
        counts = {"mass_status": event.status, "mass_total": str(event.total_count),
                  "mass_filtered": str(event.filter_count), "mass_sent": str(event.sent_count),
                  "mass_errors": str(event.error_count)}
        if event.article_url:  # the article's link: "答疑" answers with it from now on, if it is WeChat's
            link = mass_article_link(event.article_url)
            if link:
                counts["url"] = link
            else:
                self.error(pid, "mass send", 0, f"MASSSENDJOBFINISH named a link that is not a WeChat article "
                           f"({clip(event.article_url, 200)!r}); not used", now)
        sent = event.status.replace(" ", "").lower() == "sendsuccess"
        if sent:
            done = self.move(pid, ("publishing",), "published", now=now, fields={
                **counts, "published_at": repr(ts(now)), "owner": "", "failure": ""})
        else:
            done = self.move(pid, ("publishing",), "failed", now=now, fields={
                **counts, "owner": "", "failure": f"mass send: WeChat reported {event.status!r}"})
        if done and (event.error_count or not sent):
            self.store.add_post_error(pid, {
                "at": self.iso(ts(now)), "step": "mass send", "code": event.error_count,
                "meaning": f"{event.status}: sent to {event.sent_count} of {event.filter_count} followers, "
                           f"{event.error_count} failed", "detail": event.status})
        if done and sent:
            self.follow_up(pid, now, limit=20)
        return pid
