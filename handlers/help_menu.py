"""'帮助', '菜单', '?' and their English forms: the list of topics a follower can ask about."""

from __future__ import annotations

import unicodedata
from typing import Any

from bot import messages as m
from bot.ruleset import RuleSet
from handlers.base import Context, Outcome, Router
from handlers.replies import topics_text


class Help(Router):
    name = "help"

    def check(self, msg: m.Inbound, ctx: Context) -> str | None:
        text = m.input_text(msg)
        if not text or len(text) > 16:
            return None
        word = unicodedata.normalize("NFKC", text).strip().strip("。.!！").casefold()
        return word if word in ctx.config.help_keywords else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        rules: RuleSet = ctx.services["rules"]
        return Outcome(m.TextReply(topics_text(rules.current())),
                       (ctx.store.hit_effect("rules", "help", ctx.today()),))
