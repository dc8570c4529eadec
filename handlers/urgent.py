"""Urgent symptoms: care guidance and the department's contact, before any other feature.

An explicit question ("提问：…") that mentions a symptom is left to the question router, which stores it
and puts this same guidance first in its acknowledgement (see `handlers.questions.ExplicitQuestion`).
"""

from __future__ import annotations

from typing import Any

from bot.questions.desk import question_body
from bot.rules.model import RuleMatch
from bot.rules.ruleset import RuleSet
from bot.rules.urgent import urgent_text
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router


def urgent_match(msg: m.Inbound, ctx: Context) -> RuleMatch | None:
    """The urgent rule `msg` matches, if any (urgent rules outrank all others, so it is the winner)."""
    rules: RuleSet = ctx.services.rules
    match = rules.match(msg, ctx.clock())  # memoised per message: the routers after this one reuse it
    return match if match is not None and match.rule.urgent else None


def guidance(match: RuleMatch, ctx: Context) -> str:
    return urgent_text(match.rule.answer.choose_text(), ctx.config.account.contact)


class Urgent(Router):
    name = "urgent"

    def check(self, msg: m.Inbound, ctx: Context) -> RuleMatch | None:
        match = urgent_match(msg, ctx)
        if match is None:
            return None
        text = m.input_text(msg)
        if text and question_body(text, ctx.config.questions.markers):
            return None  # an explicit question: stored and answered with this guidance first
        return match

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        match: RuleMatch = found
        return Outcome(m.TextReply(guidance(match, ctx)),
                       (ctx.store.hit_effect("rules", match.rule.id, ctx.today()),))
