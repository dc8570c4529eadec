"""Scheduler jobs: idempotent module-level functions taking explicit services.

Each is safe to run from several scheduler processes at once against one Redis.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import bot.metrics as metrics
from bot.questions.posts import PostService
from bot.store import Store, StoreError
from bot.wechat.api import WeChatAPI, WeChatAPIError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
R = TypeVar("R")


def counted(job: Callable[..., R]) -> Callable[..., R]:
    """The job, its runs counted by result and timed (`wxbot_scheduler_runs`, `wxbot_scheduler_run_seconds`)."""

    @functools.wraps(job)
    def run(*args: Any, **kwargs: Any) -> R:
        started = time.monotonic()
        try:
            result = job(*args, **kwargs)
        except Exception:
            metrics.JOB_RUNS.labels(job.__name__, "error").inc()
            raise
        finally:
            metrics.JOB_SECONDS.labels(job.__name__).observe(time.monotonic() - started)
        metrics.JOB_RUNS.labels(job.__name__, "ok").inc()
        return result

    return run


def deliver_outbox(store: Store, api: WeChatAPI | None, limit: int = 200, keep: int = 10000) -> int:
    """Retry late replies that WeChat could not take before; returns how many were sent.

    Items are popped atomically, so two schedulers never send the same one. An item is tried again
    only when WeChat certainly did not send it: after a timeout, 5xx or -1 the follower may have it.
    """
    if api is None:
        return 0
    sent = 0
    for _ in range(limit):
        item = store.pop_outbox()
        if item is None:
            break
        try:
            api.send_custom(item["body"])
            sent += 1
        except WeChatAPIError as exc:
            attempts = int(item.get("attempts", 0)) + 1
            if exc.safe_to_repeat and attempts < MAX_ATTEMPTS:
                store.push_outbox({**item, "attempts": attempts}, keep)
                log.warning("late reply still failing (%s); attempt %d", exc, attempts)
                break  # WeChat is struggling: try the rest on the next run
            if exc.outcome_unknown:
                log.warning("late reply not sent again: WeChat may have delivered it (%s)", exc)
            else:
                log.warning("late reply given up after %d attempts: %s", attempts, exc)
    return sent


def qa_batch(posts: PostService, clock: Callable[[], datetime]) -> int:
    """A schedule's cron fired: batch pending questions into a draft post, once per slot; returns posts made."""
    return sum(1 for result in posts.run_due(clock()) if result.post)


def qa_tick(posts: PostService, clock: Callable[[], datetime]) -> dict[str, int]:
    """Every questions.tick_seconds: missed batch slots, due posts, publish-job polls and asker notifications."""
    try:
        return posts.tick(clock())
    except StoreError as exc:
        log.warning("Q&A tick skipped: Redis unavailable (%s)", type(exc).__name__)
        return {}
