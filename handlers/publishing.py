"""PUBLISHJOBFINISH: one of our reply posts finished publishing; record it and start telling the askers."""

from __future__ import annotations

from typing import Any

from bot import messages as m
from bot.posts import PostService
from handlers.base import Context, Outcome, Router


class PublishFinished(Router):
    """Not pure: it updates the post in Redis and may send customer-service messages (WeChat expects no reply)."""

    name = "publish-finished"
    pure = False

    def check(self, msg: m.Inbound, ctx: Context) -> m.PublishJobFinishEvent | None:
        return msg if isinstance(msg, m.PublishJobFinishEvent) else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        service: PostService = ctx.services["posts"]
        service.publisher.on_event(found)
        return Outcome(None)
