"""Scheduler jobs: idempotent module-level functions taking explicit services.

Each is safe to run from several scheduler processes at once against one Redis.
"""

from __future__ import annotations

import logging

from bot.api import WeChatAPI, WeChatAPIError
from bot.store import Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def deliver_outbox(store: Store, api: WeChatAPI | None, limit: int = 200) -> int:
    """Retry late replies that WeChat could not take before; returns how many were sent.

    Items are popped atomically, so two schedulers never send the same one.
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
            if exc.retryable and attempts < MAX_ATTEMPTS:
                store.push_outbox({**item, "attempts": attempts})
                log.warning("late reply still failing (%s); attempt %d", exc, attempts)
                break  # WeChat is struggling: try the rest on the next run
            log.warning("late reply given up after %d attempts: %s", attempts, exc)
    return sent
