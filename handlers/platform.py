"""Events WeChat sends that a follower does not expect an answer to."""

from __future__ import annotations

from typing import Any

from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router

# Reports about our own sends, and navigation the follower already completed: answer `success`.
# Unsubscribe, PUBLISHJOBFINISH and MASSSENDJOBFINISH have routers of their own (handlers.questions,
# handlers.publishing).
SILENT_EVENTS = (
    m.ViewEvent,
    m.LocationEvent,
    m.TemplateSendJobFinishEvent,
)


class PlatformEvents(Router):
    name = "platform"

    def check(self, msg: m.Inbound, ctx: Context) -> object | None:
        return msg.kind if isinstance(msg, SILENT_EVENTS) else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        return Outcome(None)
