"""'帮助', '菜单', '?' and their English forms: the list of topics a follower can ask about."""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

from bot.rules.normalization import normalize
from bot.rules.ruleset import RuleSet
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router
from handlers.replies import topics_text


@functools.lru_cache(maxsize=8)
def help_words(keywords: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The configured help words as messages are compared: (normalized words, punctuation-only words).

    A message is compared in `bot.rules.normalize` form, the form of every keyword rule, so "幫助", "【帮助】",
    "帮助？" and "help?" ask for the menu. "?" normalizes to nothing (edge punctuation is stripped), so the
    words made only of punctuation are compared as typed, after NFKC ("？" is "?"). Computed once per config.
    """
    words = {normalize(k) for k in keywords}
    bare = {unicodedata.normalize("NFKC", k).strip().casefold() for k in keywords if not normalize(k)}
    return frozenset(w for w in words if w), frozenset(w for w in bare if w)


class Help(Router):
    name = "help"

    def check(self, msg: m.Inbound, ctx: Context) -> str | None:
        text = m.input_text(msg)
        if not text or len(text) > 16:
            return None
        words, bare = help_words(ctx.config.help_keywords)
        word = normalize(text)
        if word:
            return word if word in words else None
        word = unicodedata.normalize("NFKC", text).strip().casefold()
        return word if word in bare else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        rules: RuleSet = ctx.services.rules
        return Outcome(m.TextReply(topics_text(rules.current(), ctx.clock())),
                       (ctx.store.hit_effect("rules", "help", ctx.today()),))
