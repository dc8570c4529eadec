"""Handing the draft to WeChat (freepublish/submit or mass/sendall) and what an error means for the attempt."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime

from bot.questions.publishing.common import (
    INVALID_MEDIA,
    POLL_DELAYS,
    RETRY_SECONDS,
    Step,
    cover_digest,
    ts,
)
from bot.wechat.api import MEANINGS, WeChatAPIError, meaning

log = logging.getLogger(__name__)


def unknown_submit(cause: str, *, mass: bool = False) -> str:
    """The failure of an attempt whose hand-over WeChat may have taken: what an editor must check."""
    where = "sent list (群发记录)" if mass else "published list (发表记录)"
    return (f"{'mass send' if mass else 'submit'}: outcome unknown ({cause}); the post may be live. Check the "
            f"{where} on the WeChat admin site (mp.weixin.qq.com): if the post is there, record its link with "
            "`posts mark-published`; if not, reschedule it (the same draft is submitted again; edit it only after "
            "`posts mark-not-published`)")


class Handover(Step):
    """The acting calls, each marked on the post first, never repeated by us after an unknown outcome."""

    def submit(self, pid: str, owner: str, draft: str, now: datetime) -> None:
        """freepublish/submit; the job's end then comes by PUBLISHJOBFINISH or polling."""
        assert self.api is not None
        # Marked first: whoever resumes a post marked so (this process died in the call, or before
        # recording its answer) knows WeChat may have the job, and never submits it again by itself.
        self.record(pid, owner, now, {"submitting": draft, "submitted_draft": draft})
        # Not repeated on a timeout or 5xx: a job WeChat took whose reply was lost would be published twice.
        result = self.api.post("freepublish/submit", data={"media_id": draft}, retry=False)
        publish_id = str(result["publish_id"])
        self.store.map_publish_id(publish_id, pid, draft)  # even if the lease is lost next, the event finds it
        # The lease ends with the submit: polls take it again, one at a time.
        self.record(pid, owner, now, {"publish_id": publish_id, "polls": "0", "owner": "", "submitting": "",
                                      "lease_until": repr(ts(now))}, score=ts(now) + POLL_DELAYS[0])
        log.info("post %s submitted (publish_id %s)", pid, publish_id)

    def mass_send(self, pid: str, owner: str, draft: str, now: datetime, wait: float) -> str:
        """message/mass/sendall; its msg_id, or "" if an earlier attempt's send went through (45065)."""
        assert self.api is not None
        self.record(pid, owner, now, {"submitting": draft, "submitted_draft": draft})
        # The clientmsgid makes WeChat refuse a repeat of the same post (45065): after a timeout the next
        # attempt repeats the call, refused if the first one went through.
        client_msg_id = f"wxbot-post-{pid}-{hashlib.sha1(draft.encode()).hexdigest()[:12]}"
        body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": draft}, "msgtype": "mpnews",
                "send_ignore_reprint": 0, "clientmsgid": client_msg_id}
        try:
            msg_id = str(self.api.post("message/mass/sendall", data=body, retry=False).get("msg_id", ""))
        except WeChatAPIError as exc:
            if exc.code == 45065:  # an earlier attempt's send went through; its reply was lost
                return ""
            raise
        if msg_id:
            # WeChat reports the send's result with MASSSENDJOBFINISH: the post stays publishing until then.
            self.store.map_mass_msg_id(msg_id, pid)
            until = ts(now) + wait
            self.record(pid, owner, now, {"msg_id": msg_id, "owner": "", "submitting": "",
                                          "lease_until": repr(until)}, score=until)
            log.info("post %s mass-sent (msg_id %s); waiting for MASSSENDJOBFINISH", pid, msg_id)
        return msg_id

    def refused(self, pid: str, owner: str, post: Mapping[str, str], step: str, exc: WeChatAPIError,
                now: datetime) -> None:
        """A WeChat error at `step`: recorded; the attempt retried later, or the post failed with what to do."""
        self.error(pid, step, exc.code, exc.message, now)
        if step == "submit" and exc.outcome_unknown:
            # WeChat may have taken the job: never submit again by ourselves. The draft stays recorded: if
            # WeChat published it, the draft is gone and a rescheduled submit is refused (40007), not doubled.
            self.end_attempt(pid, owner, post, step, False, unknown_submit(
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
            self.store.drop_cover(cover_digest(self.pub))
            self.move(pid, ("publishing",), now=now, owner=owner, fields={"cover_media_id": ""})
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
        self.end_attempt(pid, owner, post, step, retry, failure, now, fields=fields)

    def end_attempt(self, pid: str, owner: str, post: Mapping[str, str], step: str, retry: bool, failure: str,
                    now: datetime, *, fields: Mapping[str, str] | None = None) -> None:
        """After an error: try again later (retryable, attempts left) or mark the post failed."""
        attempts = int(post.get("attempts") or 0) + 1
        extra = {"submitting": "", **(fields or {})}  # this attempt's acting call, if any, has ended
        if retry and attempts < self.pub.max_attempts:
            at = ts(now) + min(3600.0, RETRY_SECONDS * 2 ** (attempts - 1))
            self.move(pid, ("publishing",), "scheduled", now=now, score=at, owner=owner,
                      fields={"scheduled_at": repr(at), "attempts": str(attempts), "owner": "",
                              "failure": f"attempt {attempts} failed at {failure}; retrying", **extra})
            log.warning("post %s: attempt %d failed at %s; retrying at %s", pid, attempts, step, self.iso(at))
        else:
            self.move(pid, ("publishing",), "failed", now=now, owner=owner,
                      fields={"attempts": str(attempts), "owner": "", "failure": failure, **extra})
            log.warning("post %s failed at %s", pid, step)
