"""A new follower: greeting, the topics, the survey and how to ask a question."""

from __future__ import annotations

from typing import Any

from bot.rules.ruleset import RuleSet
from bot.rules.survey import survey_link
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router
from handlers.replies import topics_text


class Welcome(Router):
    name = "welcome"

    def check(self, msg: m.Inbound, ctx: Context) -> bool | None:
        return True if isinstance(msg, m.SubscribeEvent) else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        cfg = ctx.config
        rules: RuleSet = ctx.services.rules
        link = survey_link(cfg.account.public_base_url, cfg.secret_key, ctx.pseudonym(msg.openid))
        intro = (f"感谢关注“{cfg.account.name}”！我们会定期推送肾移植相关的科普文章。\n"
                 "您可以发送以下关键词查看相关内容：")
        survey = f"\n\n{rules.catalog().survey.invitation}\n参与问卷：{link}"
        # The topic list gives way to the survey: the whole welcome is one passive reply. (Every link has
        # the same length, so the cut list is cached once for all followers.)
        text = topics_text(rules.current(), ctx.clock(), intro, reserve=len(survey.encode("utf-8"))) + survey
        return Outcome(m.TextReply(text), (ctx.store.hit_effect("rules", "welcome", ctx.today()),))
