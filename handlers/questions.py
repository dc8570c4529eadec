"""Followers' questions: stored for the next Q&A reply post and acknowledged with its due time.

Not pure: the question is stored by the push's dedup claim (`write`); the acknowledgment follows from
what the store answered, on a worker thread under WeChat's reply deadline.
"""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.questions.desk import fold_words, question_body, with_pending_links
from bot.rules.model import RuleMatch
from bot.store import Effect, StoreError, Write
from bot.wechat import messages as m
from handlers.base import Context, Outcome, Router, Written
from handlers.urgent import guidance, urgent_match

NO_POST_YET = "答疑文章还在整理中，发布后会第一时间推送链接给提问的读者。您也可以以“提问”开头发送您的问题。"


@dataclass(frozen=True, slots=True)
class Asked:
    body: str  # the question itself (after the marker)
    text: str  # the whole message as received
    urgent: RuleMatch | None = None  # an urgent rule the message also matches: its guidance comes first


NOT_SAVED = "系统繁忙，您的问题暂未保存，请稍后重新发送。"


class ExplicitQuestion(Router):
    """A message that starts with a question marker ("提问", "Q:", "？" ... followed by the question)."""

    name = "questions"
    pure = False

    def check(self, msg: m.Inbound, ctx: Context) -> Asked | None:
        text = m.input_text(msg)
        if not text:
            return None
        body = question_body(text, ctx.config.questions.markers)
        # The urgent router, asked before this one, leaves explicit questions to us (see handlers.urgent).
        return Asked(body, text, urgent_match(msg, ctx)) if body else None

    def write(self, msg: m.Inbound, found: Any, ctx: Context) -> Write:
        asked: Asked = found
        return ctx.services.posts.desk.write(openid=msg.openid, asker=ctx.pseudonym(msg.openid), body=asked.body,
                                             text=asked.text, now=ctx.clock())

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        written: Written = found  # the question was stored (or not: result None) with the dedup claim
        asked: Asked = written.found
        desk = ctx.services.posts.desk
        text = NOT_SAVED if written.result is None else desk.reply(desk.received(written.result, ctx.clock()))
        effects: tuple[Effect, ...] = ()
        if asked.urgent is not None:
            # Symptoms first: the question waits for the next reply post, the follower must not, and the
            # guidance (from memory) does not depend on Redis taking the question. A reply longer than one
            # passive message is split by the intake, the rest sent through the API.
            text = f"{guidance(asked.urgent, ctx)}\n\n{text}"
            if written.result is not None:  # no Redis for the counter either
                effects = (ctx.store.hit_effect("rules", asked.urgent.rule.id, ctx.today()),)
        if written.links_waiting:
            with contextlib.suppress(StoreError):  # else the links stay for the follower's next message
                text = with_pending_links(ctx.store, ctx.pseudonym(msg.openid), text)
        return Outcome(m.TextReply(text), effects)


class UnmatchedQuestion(ExplicitQuestion):
    """Long text nothing else answered, taken as a question when `questions.unmatched.enabled`."""

    name = "questions-unmatched"

    def check(self, msg: m.Inbound, ctx: Context) -> Asked | None:
        qa = ctx.config.questions
        text = m.input_text(msg)
        if not qa.unmatched_enabled or not text or len(text.strip()) < qa.unmatched_min_chars:
            return None
        return Asked(text.strip(), text)


class LatestPost(Router):
    """"答疑" (and the other `questions.latest_keywords`): the latest published reply post as a card."""

    name = "latest-post"
    pure = False

    def check(self, msg: m.Inbound, ctx: Context) -> bool | None:
        text = m.input_text(msg)
        if not text or len(text) > 16:
            return None
        word = unicodedata.normalize("NFKC", text).strip().strip("。.!！?？").casefold()
        keywords = fold_words(ctx.config.questions.latest_keywords)
        return True if any(word == folded for _, folded in keywords) else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        latest = ctx.store.latest_post()
        if latest is None:
            return Outcome(m.TextReply(with_pending_links(ctx.store, ctx.pseudonym(msg.openid), NO_POST_YET)))
        return Outcome(m.NewsReply((m.Article(latest["title"], "最新一期答疑：医生对读者提问的集中解答。",
                                              latest["url"], latest.get("cover", "")),)))


class Unsubscribed(Router):
    """A follower left: delete the openid kept to tell them about answers (their questions stay, pseudonymous)."""

    name = "unsubscribe"
    pure = False

    def check(self, msg: m.Inbound, ctx: Context) -> bool | None:
        return True if isinstance(msg, m.UnsubscribeEvent) else None

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        ctx.store.forget_follower(ctx.pseudonym(msg.openid))
        return Outcome(None)
