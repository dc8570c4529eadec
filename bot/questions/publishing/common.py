"""What the publishing steps share: their limits, the lease, and recording on the post for editors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from bot.config import DEFAULT_LEASE_SECONDS, DEFAULT_NOTIFY_LEASE_SECONDS, Config, QAPublishing
from bot.questions.post_states import move_post
from bot.store import Store
from bot.wechat.api import MEANINGS, WeChatAPI

LEASE_SECONDS = float(DEFAULT_LEASE_SECONDS)  # default of questions.publishing.lease_seconds
RETRY_SECONDS = 60.0  # first retry after a retryable error; doubles per attempt, at most an hour
POLL_DELAYS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)  # freepublish/get: 100 calls a day for the account
MAX_POLLS = 30  # about a day of polls (the last ones an hour apart); a job still unsettled then needs a person
REPLY_WINDOW = 48 * 3600 - 600  # customer-service messages: 48 h after the follower's last message
REFUSED = frozenset({45015, 45047})  # outside the window / quota used: keep the link for their next reply
GONE = frozenset({43004, 40003, 50005})  # not following / invalid openid: nobody to give the link to
NOTIFY_LEASE = float(DEFAULT_NOTIFY_LEASE_SECONDS)  # default of questions.publishing.notify_lease_seconds
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

# Post fields that keep publishing exactly-once across crashes and editors' retries:
#   submitting      the draft an acting call (freepublish/submit, mass/sendall) is being made with; set just
#                   before the call, cleared when the attempt ends. Found set on resume: the process died in it.
#   submitted_draft the draft WeChat may have used (an acting call with it was made and not clearly refused).
#                   While set, that draft is never replaced (a new draft could publish the post twice); only an
#                   editor who checked WeChat's published list clears it (`posts mark-not-published`).


class LostLease(Exception):
    """Another process took the post over (our lease expired); stop without touching it."""


class SubmitInterrupted(Exception):
    """A process stopped during or right after freepublish/submit (or sendall): WeChat may have the job."""


def ts(now: datetime) -> float:
    return now.timestamp()


def cover_digest(pub: QAPublishing) -> str:
    """The cover image's content digest: its media_id is cached under it."""
    return hashlib.sha256(Path(pub.cover_image).read_bytes()).hexdigest()[:32]


class Step:
    """One family of publishing steps: the services it uses, moves under the lease, errors for editors."""

    def __init__(self, config: Config, store: Store, api: WeChatAPI | None, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.pub = config.questions.publishing
        self.store = store
        self.api = api
        self.clock = clock

    def move(self, pid: str, allowed: Iterable[str], to: str = "", *, now: datetime, score: float | None = None,
             owner: str = "", fields: Mapping[str, str] | None = None) -> bool:
        """A checked state-machine move of the post (see `post_states`); True if it applied."""
        return move_post(self.store, pid, allowed, to, now=ts(now), score=score, owner=owner, fields=fields)

    def record(self, pid: str, owner: str, now: datetime, fields: Mapping[str, str],
               score: float | None = None) -> None:
        """Record a step's result on a post we hold the lease of; LostLease if we no longer do."""
        if not self.move(pid, ("publishing",), now=now, owner=owner, fields=fields, score=score):
            raise LostLease(pid)

    def iso(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.config.account.tz).isoformat(timespec="seconds")

    def error(self, pid: str, step: str, code: int, message: str, now: datetime) -> None:
        """Record one error on the post for editors (`posts show`): code, meaning in words, step, time."""
        words = MEANINGS.get(code) if step != "publish job" else None
        self.store.add_post_error(pid, {"at": self.iso(ts(now)), "step": step, "code": code,
                                        "meaning": words or message, "detail": message})
