"""Urgent symptoms: care guidance and the department's contact, before any other feature."""

from __future__ import annotations

from typing import Any

from bot import messages as m
from bot.rules import RuleMatch
from bot.ruleset import RuleSet
from handlers.base import Context, Outcome, Router
from handlers.replies import urgent_text


class Urgent(Router):
    name = "urgent"

    def check(self, msg: m.Inbound, ctx: Context) -> RuleMatch | None:
        rules: RuleSet = ctx.services["rules"]
        match = rules.match(msg, ctx.clock())
        return match if match is not None and match.rule.urgent else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        match: RuleMatch = found
        guidance = match.rule.answer.choose_text()
        return Outcome(m.TextReply(urgent_text(guidance, ctx.config)),
                       (ctx.store.hit_effect("rules", match.rule.id, ctx.today()),))
