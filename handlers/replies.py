"""Reply builders shared by the routers: article cards, the survey card, the topic list."""

from __future__ import annotations

from datetime import datetime

from bot.config import ArticleConfig
from bot.rules.ruleset import RuleBook
from bot.rules.survey import survey_link
from bot.wechat import messages as m
from bot.wechat.outbound import PASSIVE_TEXT_LIMIT
from handlers.base import Context

HOW_TO_ASK = ("如有其他问题，请以“提问”开头发送（例如：提问：术后多久可以运动？），"
              "我们会在定期推送的答疑文章中统一解答。")


def article_card(article: ArticleConfig) -> m.NewsReply:
    return m.NewsReply((m.Article(article.title, article.summary, article.url, article.cover),))


def survey_card(msg: m.Inbound, ctx: Context) -> m.NewsReply:
    cfg = ctx.config
    survey = ctx.services.rules.catalog().survey  # the live catalog: admins edit it in the console
    url = survey_link(cfg.account.public_base_url, cfg.secret_key, ctx.pseudonym(msg.openid))
    return m.NewsReply((m.Article(survey.title, survey.invitation, url),))


TOPICS_INTRO = "您可以发送以下关键词查看相关内容："
MORE = "……"
_CACHED_TEXTS = 32  # topic lists kept per rules version (intro x reserve x window state)


def topics_text(book: RuleBook, now: datetime, intro: str = TOPICS_INTRO, *, reserve: int = 0) -> str:
    """The topic list, generated from the rules so it is never written twice.

    Only rules whose time window is open at `now` are listed. The text is cached per rules version and
    per window state (which windowed rules are open), so a window opening or closing shows at once.
    The list is cut so that the text plus `reserve` UTF-8 bytes (what the caller appends) fits one passive reply.
    """
    state = "".join("1" if r.window.contains(now) else "0" for r in book.rules if r.window is not None)
    key = f"{intro}\x00{reserve}\x00{state}"
    cached = book.texts.get(key)
    if cached is None:
        if len(book.texts) >= _CACHED_TEXTS:  # daily windows cycle through few states; bound it anyway
            book.texts.clear()
        cached = book.texts[key] = _topics_text(book, now, intro, PASSIVE_TEXT_LIMIT - reserve)
    return cached


def _topics_text(book: RuleBook, now: datetime, intro: str, budget: int) -> str:
    lines = [f"· {t.name}：发送“{t.keywords[0]}”" for t in book.compiled.topics(now=now) if t.keywords]
    text = "\n".join([intro, *lines, HOW_TO_ASK])
    if _size(text) <= budget:
        return text
    # Many rules: the longest head of the list that fits with "……" and how to ask (one line less each time
    # would cost quadratic time in the number of rules).
    used = _size("\n".join([intro, MORE, HOW_TO_ASK]))
    kept = 0
    for line in lines:
        used += _size(line) + 1  # the line and its newline
        if used > budget:
            break
        kept += 1
    return "\n".join([intro, *lines[:kept], MORE, HOW_TO_ASK])


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
