"""PUBLISHJOBFINISH / MASSSENDJOBFINISH: one of our reply posts finished; record it and start telling the askers."""

from __future__ import annotations

from typing import Any

from bot.questions.posts import PostService
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router


class PublishFinished(Router):
    """Not pure: it updates the post in Redis and may send customer-service messages (WeChat expects no reply)."""

    name = "publish-finished"
    pure = False

    def check(self, msg: m.Inbound, ctx: Context) -> m.PublishJobFinishEvent | m.MassSendJobFinishEvent | None:
        return msg if isinstance(msg, m.PublishJobFinishEvent | m.MassSendJobFinishEvent) else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        service: PostService = ctx.services.posts
        if isinstance(found, m.MassSendJobFinishEvent):
            service.publisher.on_mass_send(found)
        else:
            service.publisher.on_event(found)
        return Outcome(None)
