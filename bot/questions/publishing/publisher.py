"""The publisher: the periodic tick, and one attempt's steps run in order under the post's lease."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from bot.config import Config
from bot.questions.publishing.common import (
    MASS_WAIT,
    NO_API,
    POLL_DELAYS,
    LostLease,
    Step,
    SubmitInterrupted,
    ts,
)
from bot.questions.publishing.drafting import Drafting
from bot.questions.publishing.handover import Handover, unknown_submit
from bot.questions.publishing.job import JobTracking
from bot.questions.publishing.notify import Notifying
from bot.questions.render import PostContentError
from bot.store import Store
from bot.wechat import messages as m
from bot.wechat.api import WeChatAPI, WeChatAPIError

log = logging.getLogger(__name__)


class Publisher(Step):
    """Publishes due posts, resumes what a dead process left, follows jobs to their end, tells the askers."""

    def __init__(self, config: Config, store: Store, api: WeChatAPI | None, clock: Callable[[], datetime]) -> None:
        super().__init__(config, store, api, clock)
        self.elapsed = time.monotonic  # how long a round of sends has run (the clock above may be a test's)
        self.drafting = Drafting(config, store, api, clock)
        self.handover = Handover(config, store, api, clock)
        self.notifying = Notifying(config, store, api, clock, self._stamper)
        self.job = JobTracking(config, store, api, clock, self.notifying.follow_up)

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Publish what is due, resume what a dead process left, poll running jobs, tell askers."""
        now = now or self.clock()
        stamp = self._stamper(now)  # one clock for the whole tick: later posts' claims are not stamped early
        done = Counter[str]()
        for pid in self.store.due_posts("scheduled", ts(now)):
            done["started"] += self._guarded(pid, lambda p: int(self.publish(p, now)))
        for pid in self.store.due_posts("publishing", ts(now)):
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
        base, started = ts(now), self.elapsed()
        return lambda: base + self.elapsed() - started

    @staticmethod
    def _guarded(pid: str, step: Callable[[str], int]) -> int:
        """One post's trouble (a bug, Redis hiccup) must not stop the tick for the others."""
        try:
            return step(pid)
        except Exception:
            log.exception("post %s: tick step failed; retried on the next tick", pid)
            return 0

    def publish(self, pid: str, now: datetime | None = None) -> bool:
        """Claim a due post (or one whose publisher died) and run its remaining steps; False if not ours."""
        now = now or self.clock()
        owner = uuid.uuid4().hex
        lease = ts(now) + self.pub.lease_seconds
        if not self.move(pid, ("scheduled", "publishing"), "publishing", now=now, score=lease,
                         fields={"owner": owner, "lease_until": repr(lease)}):
            return False
        log.info("publishing post %s", pid)
        self._run(pid, owner, now)
        return True

    def _run(self, pid: str, owner: str, now: datetime) -> None:
        """One attempt, from the first step not yet recorded on the post."""
        post = self.store.post(pid) or {}
        step = "prepare"
        try:
            if self.api is None:
                raise WeChatAPIError(NO_API, "no WeChat API client: WECHAT_APP_SECRET is not set")
            if post.get("msg_id"):  # mass-sent, and no MASSSENDJOBFINISH came within MASS_WAIT
                self.job.mass_sent(pid, owner, post["msg_id"], "no result reported by WeChat (MASSSENDJOBFINISH)",
                                   now)
                return
            if post.get("publish_id"):  # submitted before: the poll or PUBLISHJOBFINISH finishes it
                self.record(pid, owner, now, {"owner": "", "lease_until": repr(ts(now))},
                            score=ts(now) + POLL_DELAYS[0])
                return
            if post.get("submitting"):
                step = "mass_send" if self.pub.mode == "mass_send" else "submit"
                raise SubmitInterrupted
            # Rendered before the release, which locks the groups: an unconfirmed one can still be confirmed.
            step = "render"
            rendered = self.drafting.render(pid, post)
            step = "release"
            self.drafting.release(pid, post, owner, now)
            step = "cover"
            cover_id = self.drafting.cover(pid, post, owner, now)
            step = "draft"
            draft = self.drafting.draft(pid, post, owner, now, rendered, cover_id)
            if self.pub.mode == "mass_send":
                step = "mass_send"
                if not self.handover.mass_send(pid, owner, draft, now, MASS_WAIT):
                    # An earlier attempt's send went through; its msg_id (and its result) is unknown.
                    self.job.mass_sent(pid, owner, "sent before", "sent by an earlier attempt; result unknown", now)
                return
            step = "submit"
            self.handover.submit(pid, owner, draft, now)
        except LostLease:
            log.warning("post %s: lost the publishing lease at step %s; another process resumes it", pid, step)
        except SubmitInterrupted:
            self.error(pid, step, 0, f"the publishing process stopped during the {step} call", now)
            self.handover.end_attempt(pid, owner, post, step, False, unknown_submit(
                "the publishing process stopped during the call", mass=step == "mass_send"), now)
        except PostContentError as exc:
            self.error(pid, step, 0, str(exc), now)
            self.handover.end_attempt(pid, owner, post, step, False, f"{step}: {exc}", now)
        except WeChatAPIError as exc:
            self.handover.refused(pid, owner, post, step, exc, now)
        except Exception as exc:
            # A bug or a Redis failure: the post stays publishing and is resumed after its lease; editors see why.
            self.error(pid, step, 0, f"internal error ({type(exc).__name__}); resumed after the lease", now)
            raise

    def poll(self, pid: str, now: datetime | None = None) -> bool:
        """Ask freepublish/get how the job is doing (the fallback for a lost PUBLISHJOBFINISH); False: not ours."""
        return self.job.poll(pid, now or self.clock())

    def on_event(self, event: m.PublishJobFinishEvent) -> str | None:
        """PUBLISHJOBFINISH: confirmed with freepublish/get, then the post finished; its post id."""
        return self.job.on_event(event)

    def on_mass_send(self, event: m.MassSendJobFinishEvent) -> str | None:
        """MASSSENDJOBFINISH of one of our posts: its result recorded on the post; its post id."""
        return self.job.on_mass_send(event)

    def finish(self, pid: str, publish_id: str, status: int, article_id: str, url: str, now: datetime) -> bool:
        """The job's final state, applied once (the event and the poll may both report it)."""
        return self.job.finish(pid, publish_id, status, article_id, url, now)

    def follow_up(self, pid: str, now: datetime | None = None, limit: int | None = None,
                  stamp: Callable[[], float] | None = None) -> int:
        """Mark the questions published and tell each asker the link (once); returns askers handled."""
        return self.notifying.follow_up(pid, now or self.clock(), limit, stamp)
