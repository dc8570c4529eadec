"""Admin keyword rules: article cards, the survey, fixed texts and the topic list."""

from __future__ import annotations

import random
from typing import Any

from bot.rules.model import RuleMatch
from bot.rules.ruleset import RuleSet
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router
from handlers.replies import article_card, survey_card, topics_text

_random = random.Random()


class Keywords(Router):
    name = "keywords"

    def check(self, msg: m.Inbound, ctx: Context) -> RuleMatch | None:
        rules: RuleSet = ctx.services.rules
        match = rules.match(msg, ctx.clock())  # the urgent router asked first: usually memoised
        return match if match is not None and not match.rule.urgent else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        match: RuleMatch = found
        answer = match.rule.answer
        reply: m.Reply
        if answer.kind == "article":
            article = ctx.services.rules.catalog().article(answer.article_id or "")
            if article is None:  # validated on save; the catalog can still change under it
                return Outcome(m.TextReply(ctx.config.webhook.default_reply))
            reply = article_card(article)
        elif answer.kind == "survey":
            reply = survey_card(msg, ctx)
        elif answer.kind == "help":
            reply = m.TextReply(topics_text(ctx.services.rules.current(), ctx.clock()))
        else:
            reply = m.TextReply(answer.choose_text(_random))
        return Outcome(reply, (ctx.store.hit_effect("rules", match.rule.id, ctx.today()),))
