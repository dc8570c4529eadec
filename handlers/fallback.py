"""The answer to whatever no other feature handles: polite, never an error."""

from __future__ import annotations

from typing import Any

from bot.questions.privacy import clip, scrub
from bot.store import Effect
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router

MAX_UNMATCHED_CHARS = 500
MEDIA_REPLY = "您好，我们暂时只能阅读文字消息。请用文字描述您的问题，或发送“帮助”查看可咨询的内容。"


class Fallback(Router):
    name = "fallback"

    def check(self, msg: m.Inbound, ctx: Context) -> object | None:
        return msg.kind  # accepts everything: it is last in the dispatch order

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        if isinstance(msg, m.Event):
            return Outcome(None if not isinstance(msg, m.SubscribeEvent | m.ClickEvent | m.ScanEvent)
                           else m.TextReply(ctx.config.webhook.default_reply))
        text = m.input_text(msg)
        if text is None and not isinstance(msg, m.UnknownMessage):
            return Outcome(m.TextReply(MEDIA_REPLY))
        effects: tuple[Effect, ...] = ()
        if text:
            # What followers ask that nothing answers yet, for the admins: scrubbed, pseudonymous. Scrubbed before
            # the cut: a cut number would no longer be recognised, and the cut must not split a placeholder.
            day = ctx.today()
            record = {"t": clip(scrub(text), MAX_UNMATCHED_CHARS), "who": ctx.pseudonym(msg.openid),
                      "at": str(msg.create_time)}
            effects = (ctx.store.hit_effect("rules", "unmatched", day),
                       *ctx.store.unmatched_effects(record, day, ctx.config.retention.unmatched_days))
        return Outcome(m.TextReply(ctx.config.webhook.default_reply), effects)
