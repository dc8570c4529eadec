"""Publishing reply posts on WeChat exactly once, resuming after crashes, then telling the askers.

A post goes draft → scheduled → publishing → published | failed. Whoever moves it from scheduled to
publishing (a Lua check-and-set in `Store.update_post`) holds a lease and alone runs the steps:
give unanswered questions back to the queue, upload the cover (material/add_material), create the
draft (draft/add), then publish (freepublish/submit) or mass-send (message/mass/sendall). Each
step's result is recorded on the post before the next step, so a process that dies mid-way is
resumed, after its lease expires, from the recorded step: never a second draft or post. The
publish job's end arrives as PUBLISHJOBFINISH or is found by polling freepublish/get (under the same
lease); either one finishes the post, once. Once submitted, only the job's final status ends the
post: a failed poll is recorded and tried again later. Calls that are not idempotent (submit,
sendall, customer-service sends) are never repeated after a timeout or 5xx. Every WeChat error is
recorded on the post with its meaning.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.questions.render import PostContentError, clip, is_answered, render_post
from bot.store import PostEdit, Store
from bot.wechat import messages as m
from bot.wechat.api import MEANINGS, WeChatAPI, WeChatAPIError, meaning
from bot.wechat.outbound import custom_message

log = logging.getLogger(__name__)

LEASE_SECONDS = 600.0  # a publisher silent this long is presumed dead; its post is resumed
RETRY_SECONDS = 60.0  # first retry after a retryable error; doubles per attempt, at most an hour
POLL_DELAYS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)  # freepublish/get: 100 calls a day for the account
MAX_POLLS = 30  # about a day of polls (the last ones an hour apart); a job still unsettled then needs a person
REPLY_WINDOW = 48 * 3600 - 600  # customer-service messages: 48 h after the follower's last message
REFUSED = frozenset({45015, 45047})  # outside the window / quota used: keep the link for their next reply
GONE = frozenset({43004, 40003, 50005})  # not following / invalid openid: nobody to give the link to
NOTIFY_LEASE = 300.0  # an asker claimed this long ago and not acknowledged (teller died) is told again
MASS_WAIT = 24 * 3600.0  # a mass send whose MASSSENDJOBFINISH never came is settled as sent after this
FINAL_FAILURES = frozenset({"2", "3", "4"})  # publish job failed: its draft is used up, a new attempt may start
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


_ARTICLE_LINK = re.compile(r"https?://mp\.weixin\.qq\.com/\S{1,1000}")


def mass_article_link(url: str) -> str:
    """A mass send's article link if it is WeChat's own (as https), else "" (no API confirms mass sends)."""
    if not _ARTICLE_LINK.fullmatch(url):
        return ""
    return "https://" + url.split("://", 1)[1]


class _LostLease(Exception):
    """Another process took the post over (our lease expired); stop without touching it."""


class _SubmitInterrupted(Exception):
    """A process stopped during or right after freepublish/submit (or sendall): WeChat may have the job."""


# Post fields that keep publishing exactly-once across crashes and editors' retries:
#   submitting      the draft an acting call (freepublish/submit, mass/sendall) is being made with; set just
#                   before the call, cleared when the attempt ends. Found set on resume: the process died in it.
#   submitted_draft the draft WeChat may have used (an acting call with it was made and not clearly refused).
#                   While set, that draft is never replaced (a new draft could publish the post twice); only an
#                   editor who checked WeChat's published list clears it (`posts mark-not-published`).


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
        self.elapsed = time.monotonic  # how long a round of sends has run (the clock above may be a test's)

    # -- the periodic tick --------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Publish what is due, resume what a dead process left, poll running jobs, tell askers."""
        now = now or self.clock()
        stamp = self._stamper(now)  # one clock for the whole tick: later posts' claims are not stamped early
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
            done["notified"] += self._guarded(pid, lambda p: self.follow_up(p, now, stamp=stamp))
        return dict(done)

    def _stamper(self, now: datetime) -> Callable[[], float]:
        """The current time as seen from `now` (a test's clock may set it), advancing as time really passes."""
        base, started = _ts(now), self.elapsed()
        return lambda: base + self.elapsed() - started

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
            if post.get("msg_id"):  # mass-sent, and no MASSSENDJOBFINISH came within MASS_WAIT
                self._mass_sent(pid, owner, post["msg_id"], "no result reported by WeChat (MASSSENDJOBFINISH)", now)
                return
            if post.get("publish_id"):  # submitted before: the poll or PUBLISHJOBFINISH finishes it
                self._record(pid, owner, now, {"owner": "", "lease_until": repr(_ts(now))},
                             score=_ts(now) + POLL_DELAYS[0])
                return
            if post.get("submitting"):
                step = "mass_send" if self.pub.mode == "mass_send" else "submit"
                raise _SubmitInterrupted
            # Rendered before the release, which locks the groups: an unconfirmed one can still be confirmed.
            step = "render"
            rendered = render_post(post, self.store.groups(pid), self.pub, confirmed_only=True)
            step = "release"
            self._release(pid, post, owner, now)
            step = "cover"
            cover_id, cover_url = post.get("cover_media_id", ""), post.get("cover_url", "")
            if not cover_id:
                cover_id, cover_url = self._upload_cover()
                self._record(pid, owner, now, {"cover_media_id": cover_id, "cover_url": cover_url})
            step = "draft"
            article = {"title": rendered.title, "author": self.pub.author, "digest": rendered.digest,
                       "content": rendered.html, "content_source_url": "", "thumb_media_id": cover_id,
                       "need_open_comment": 0, "only_fans_can_comment": 0}
            content = hashlib.sha256(json.dumps(article, sort_keys=True).encode()).hexdigest()[:32]
            draft = post.get("draft_media_id", "")
            taken = bool(draft) and post.get("submitted_draft") == draft  # WeChat may have used this draft
            if draft and post.get("draft_content", content) != content:
                if taken:
                    raise PostContentError(
                        "the post was changed after it was handed to WeChat, which may have published it: check "
                        "the published list (发表记录) on the WeChat admin site; if it is there, record its link "
                        "with `posts mark-published`, if not, run `posts mark-not-published` and reschedule")
                # Edited since the draft was made (say, an answer corrected after WeChat refused the submit):
                # a new draft, or the correction would never reach the article.
                log.info("post %s changed since its draft was made; making a new draft", pid)
                draft = ""
            if not draft:
                draft = str(self.api.post("draft/add", data={"articles": [article]})["media_id"])
                self._record(pid, owner, now, {"draft_media_id": draft, "title": rendered.title,
                                               "draft_content": content})
            if self.pub.mode == "mass_send":
                step = "mass_send"
                self._record(pid, owner, now, {"submitting": draft, "submitted_draft": draft})
                msg_id = self._mass_send(pid, draft)
                if not msg_id:  # an earlier attempt's send went through; its msg_id (and its result) is unknown
                    self._mass_sent(pid, owner, "sent before", "sent by an earlier attempt; result unknown", now)
                    return
                # WeChat reports the send's result with MASSSENDJOBFINISH: the post stays publishing until then.
                self.store.map_mass_msg_id(msg_id, pid)
                wait = _ts(now) + MASS_WAIT
                self._record(pid, owner, now, {"msg_id": msg_id, "owner": "", "submitting": "",
                                               "lease_until": repr(wait)}, score=wait)
                log.info("post %s mass-sent (msg_id %s); waiting for MASSSENDJOBFINISH", pid, msg_id)
                return
            step = "submit"
            # Marked first: whoever resumes a post marked so (this process died in the call, or before
            # recording its answer) knows WeChat may have the job, and never submits it again by itself.
            self._record(pid, owner, now, {"submitting": draft, "submitted_draft": draft})
            # Not repeated on a timeout or 5xx: a job WeChat took whose reply was lost would be published twice.
            result = self.api.post("freepublish/submit", data={"media_id": draft}, retry=False)
            publish_id = str(result["publish_id"])
            self.store.map_publish_id(publish_id, pid, draft)  # even if the lease is lost next, the event finds it
            # The lease ends with the submit: polls take it again, one at a time.
            self._record(pid, owner, now, {"publish_id": publish_id, "polls": "0", "owner": "", "submitting": "",
                                           "lease_until": repr(_ts(now))}, score=_ts(now) + POLL_DELAYS[0])
            log.info("post %s submitted (publish_id %s)", pid, publish_id)
        except _LostLease:
            log.warning("post %s: lost the publishing lease at step %s; another process resumes it", pid, step)
        except _SubmitInterrupted:
            self._error(pid, step, 0, f"the publishing process stopped during the {step} call", now)
            self._end_attempt(pid, owner, post, step, False, self._unknown_submit(
                "the publishing process stopped during the call", mass=step == "mass_send"), now)
        except PostContentError as exc:
            self._error(pid, step, 0, str(exc), now)
            self._end_attempt(pid, owner, post, step, False, f"{step}: {exc}", now)
        except WeChatAPIError as exc:
            self._error(pid, step, exc.code, exc.message, now)
            if step == "submit" and exc.outcome_unknown:
                # WeChat may have taken the job: never submit again by ourselves. The draft stays recorded: if
                # WeChat published it, the draft is gone and a rescheduled submit is refused (40007), not doubled.
                self._end_attempt(pid, owner, post, step, False, self._unknown_submit(
                    f"WeChat error {exc.code}: {meaning(exc.code)}"), now)
                return
            retry = exc.retryable
            fields: dict[str, str] = {}
            # Whether an earlier attempt already handed this very draft to WeChat (the snapshot predates ours).
            first_hand_over = post.get("submitted_draft", "") != post.get("draft_media_id", "") or not post.get(
                "submitted_draft")
            if step in ("submit", "mass_send") and not exc.outcome_unknown and exc.code != INVALID_MEDIA \
                    and first_hand_over:
                fields["submitted_draft"] = ""  # WeChat refused our only hand-over of it: the draft is unused
            if exc.code == INVALID_MEDIA and step == "draft":
                # The cover vanished from WeChat's library: upload it again on the next attempt.
                self.store.drop_cover(self._cover_digest())
                self.store.update_post(pid, ("publishing",), now=_ts(now), owner=owner, fields={"cover_media_id": ""})
                retry = True
            failure = f"{step}: WeChat error {exc.code} ({MEANINGS.get(exc.code) or exc.message})"
            if exc.code == INVALID_MEDIA and step in ("submit", "mass_send"):
                if not first_hand_over:
                    failure += ("; the draft is gone: WeChat may have published it. Check the published list "
                                "(发表记录): if the post is there, `posts mark-published`; if not, "
                                "`posts mark-not-published`, then reschedule")
                else:
                    # No hand-over of ours can have used it up: someone deleted it on the admin site. Make another.
                    fields.update(draft_media_id="", draft_content="", submitted_draft="")
                    retry = True
            self._end_attempt(pid, owner, post, step, retry, failure, now, fields=fields)
        except Exception as exc:
            # A bug or a Redis failure: the post stays publishing and is resumed after its lease; editors see why.
            self._error(pid, step, 0, f"internal error ({type(exc).__name__}); resumed after the lease", now)
            raise

    @staticmethod
    def _unknown_submit(cause: str, *, mass: bool = False) -> str:
        where = "sent list (群发记录)" if mass else "published list (发表记录)"
        return (f"{'mass send' if mass else 'submit'}: outcome unknown ({cause}); the post may be live. Check the "
                f"{where} on the WeChat admin site (mp.weixin.qq.com): if the post is there, record its link with "
                "`posts mark-published`; if not, reschedule it (the same draft is submitted again; edit it only after "
                "`posts mark-not-published`)")

    def _end_attempt(self, pid: str, owner: str, post: Mapping[str, str], step: str, retry: bool, failure: str,
                     now: datetime, *, fields: Mapping[str, str] | None = None) -> None:
        """After an error: try again later (retryable, attempts left) or mark the post failed."""
        attempts = int(post.get("attempts") or 0) + 1
        extra = {"submitting": "", **(fields or {})}  # this attempt's acting call, if any, has ended
        if retry and attempts < self.pub.max_attempts:
            at = _ts(now) + min(3600.0, RETRY_SECONDS * 2 ** (attempts - 1))
            self.store.update_post(pid, ("publishing",), "scheduled", now=_ts(now), score=at, owner=owner,
                                   fields={"scheduled_at": repr(at), "attempts": str(attempts), "owner": "",
                                           "failure": f"attempt {attempts} failed at {failure}; retrying", **extra})
            log.warning("post %s: attempt %d failed at %s; retrying at %s", pid, attempts, step, self._iso(at))
        else:
            self.store.update_post(pid, ("publishing",), "failed", now=_ts(now), owner=owner,
                                   fields={"attempts": str(attempts), "owner": "", "failure": failure, **extra})
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
            # One call per attempt: after a timeout the next attempt repeats it with the same clientmsgid,
            # which WeChat refuses (45065) if the first one went through.
            return str(self.api.post("message/mass/sendall", data=body, retry=False).get("msg_id", ""))
        except WeChatAPIError as exc:
            if exc.code == 45065:  # an earlier attempt's send went through; its reply was lost
                return ""
            raise

    def _mass_sent(self, pid: str, owner: str, msg_id: str, note: str, now: datetime) -> None:
        """Settle a mass send without WeChat's report: published, with what is known noted on the post."""
        if self.store.update_post(pid, ("publishing",), "published", now=_ts(now), owner=owner, fields={
                "msg_id": msg_id, "mass_status": note, "published_at": repr(_ts(now)), "owner": ""}):
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
                self._error(pid, "mass send", 0, f"MASSSENDJOBFINISH named a link that is not a WeChat article "
                            f"({clip(event.article_url, 200)!r}); not used", now)
        sent = event.status.replace(" ", "").lower() == "sendsuccess"
        if sent:
            done = self.store.update_post(pid, ("publishing",), "published", now=_ts(now), fields={
                **counts, "published_at": repr(_ts(now)), "owner": "", "failure": ""})
        else:
            done = self.store.update_post(pid, ("publishing",), "failed", now=_ts(now), fields={
                **counts, "owner": "", "failure": f"mass send: WeChat reported {event.status!r}"})
        if done and (event.error_count or not sent):
            self.store.add_post_error(pid, {
                "at": self._iso(_ts(now)), "step": "mass send", "code": event.error_count,
                "meaning": f"{event.status}: sent to {event.sent_count} of {event.filter_count} followers, "
                           f"{event.error_count} failed", "detail": event.status})
        if done and sent:
            self.follow_up(pid, now, limit=20)
        return pid

    # -- following the publish job ------------------------------------------------------------

    def poll(self, pid: str, now: datetime | None = None) -> bool:
        """Ask freepublish/get how the job is doing (the fallback for a lost PUBLISHJOBFINISH); False: not ours."""
        now = now or self.clock()
        post = self.store.post(pid)
        if not post or post.get("status") != "publishing" or not post.get("publish_id") or self.api is None:
            return False
        owner = uuid.uuid4().hex
        lease = _ts(now) + LEASE_SECONDS
        if not self.store.update_post(pid, ("publishing",), "publishing", now=_ts(now), score=lease,
                                      fields={"owner": owner, "lease_until": repr(lease)}):
            return False  # another process polls it (or publishes it) right now
        polls = int(post.get("polls") or 0)
        later = _ts(now) + POLL_DELAYS[min(polls + 1, len(POLL_DELAYS) - 1)]
        again = {"polls": str(polls + 1), "owner": "", "lease_until": repr(_ts(now))}
        try:
            result = self.api.post("freepublish/get", data={"publish_id": post["publish_id"]})
        except WeChatAPIError as exc:
            # The job is WeChat's now: a failed question about it says nothing about how it ends. Ending the
            # post here would ignore a later PUBLISHJOBFINISH and let an editor publish it a second time.
            self._error(pid, "poll", exc.code, exc.message, now)
            self._poll_again(pid, owner, polls, later, again, now)
            return True
        status = int(result.get("publish_status", 1))
        if status == 1:
            self._poll_again(pid, owner, polls, later, again, now)
            return True
        items = (result.get("article_detail") or {}).get("item") or []
        url = str(items[0].get("article_url", "")) if items else ""
        self.finish(pid, post["publish_id"], status, str(result.get("article_id", "")), url, now)
        return True

    def _poll_again(self, pid: str, owner: str, polls: int, later: float, again: Mapping[str, str],
                    now: datetime) -> None:
        """Poll later, or after about a day without a final status stop and hand the post to an editor."""
        if polls + 1 < MAX_POLLS:
            self.store.update_post(pid, ("publishing",), now=_ts(now), owner=owner, score=later, fields=again)
            return
        # Still failed-without-final-status, so a late PUBLISHJOBFINISH publishes it, and no reschedule can
        # submit it a second time (`PostService.schedule` refuses a post whose job may be live).
        failure = (f"publish job: no final status from WeChat after {polls + 1} polls over about a day; check the "
                   "published list (发表记录) on the WeChat admin site (mp.weixin.qq.com): if the post is there, "
                   "record its link with `posts mark-published`")
        self.store.update_post(pid, ("publishing",), "failed", now=_ts(now), owner=owner,
                               fields={**again, "failure": failure})
        self._error(pid, "poll", 0, failure, now)
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
            self._error(pid, "poll", exc.code, exc.message, now)
            return pid  # polling (or an editor) finishes it
        status = int(result.get("publish_status", 1))
        items = (result.get("article_detail") or {}).get("item") or []
        url = str(items[0].get("article_url", "")) if items else ""
        pushed = event.articles[0].url if event.articles else ""
        if event.publish_status != status or (pushed and pushed != url):
            self._error(pid, "publish job", 0, "a PUBLISHJOBFINISH push disagreed with WeChat's record of the job "
                        f"(push: status {event.publish_status}, link {clip(pushed, 200)!r}; freepublish/get: status "
                        f"{status}, link {url!r}); WeChat's record is what counts", now)
            log.warning("post %s: PUBLISHJOBFINISH disagreed with freepublish/get; kept WeChat's record", pid)
        if status == 1:
            return pid  # still publishing: polling finishes it
        if status == 0 and not url:
            # Live, but without its link nobody can be told where it is: polling (or an editor) finishes it.
            self._error(pid, "publish job", 0, "WeChat reported the post published but gave no article link", now)
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
            done = self.store.update_post(pid, allowed, "published", now=_ts(now), fields={
                "url": url, "article_id": article_id, "published_at": repr(_ts(now)), "owner": "", "failure": "",
                "publish_id": publish_id, "submitting": ""})
            if done:
                log.info("post %s published", pid)
            return done
        words = PUBLISH_STATUS.get(status, f"publish_status {status}")
        # A final failure: the job is not live and its draft is used up, so nothing is pinned any more.
        done = self.store.update_post(pid, allowed, "failed", now=_ts(now), fields={
            "publish_status": str(status), "owner": "", "failure": f"publish job: {words} (publish_status {status})",
            "publish_id": publish_id, "submitting": "", "submitted_draft": ""})
        if done:
            self._error(pid, "publish job", status, f"{words} (publish_status {status})", now)
            log.warning("post %s: publish job ended with status %d", pid, status)
        return done

    # -- after publishing ---------------------------------------------------------------------

    def follow_up(self, pid: str, now: datetime | None = None, limit: int | None = None,
                  stamp: Callable[[], float] | None = None) -> int:
        """Mark the questions published and tell each asker the link (once); returns askers handled."""
        now = now or self.clock()
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
        stamp = stamp or self._stamper(now)
        while limit is None or handled < limit:
            # Each claim is stamped with the time it is made, not the tick's start: a long round of sends
            # must not look abandoned to another scheduler, which would tell the same askers again.
            item = self.store.claim_notification(pid, stamp(), NOTIFY_LEASE)
            if item is None:
                break
            entry, asker, _ = item
            if can_tell and self._tell(pid, post, asker, now) == "retry":
                self.store.requeue_notification(pid, entry)
                break  # WeChat is struggling: the rest on a later tick
            # At least once: if this process dies before the ack, the claim is re-driven after NOTIFY_LEASE and
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
        self.store.update_post(pid, ("published",), now=_ts(now), fields={"finalized": "1"})

    def _tell(self, pid: str, post: Mapping[str, str], asker: str, now: datetime) -> str:
        """Send one asker the link: "sent", "pending" (kept for their next reply), "gone" or "retry"."""
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
            self._error(pid, "notify", exc.code, exc.message, now)
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
