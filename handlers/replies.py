"""Reply builders shared by the routers: article cards, the survey card, the topic list."""

from __future__ import annotations

from bot import messages as m
from bot.config import ArticleConfig, Config
from bot.links import survey_link
from bot.ruleset import RuleBook
from bot.wechat import fits_passive
from handlers.base import Context

HOW_TO_ASK = ("如有其他问题，请以“提问”开头发送（例如：提问：术后多久可以运动？），"
              "我们会在定期推送的答疑文章中统一解答。")


def article_card(article: ArticleConfig) -> m.NewsReply:
    return m.NewsReply((m.Article(article.title, article.summary, article.url, article.cover),))


def survey_card(msg: m.Inbound, ctx: Context) -> m.NewsReply:
    cfg = ctx.config
    url = survey_link(cfg.account.public_base_url, cfg.secret_key, ctx.pseudonym(msg.openid))
    return m.NewsReply((m.Article(cfg.survey.title, cfg.survey.invitation, url),))


def topics_text(book: RuleBook, intro: str = "您可以发送以下关键词查看相关内容：") -> str:
    """The topic list, generated from the rules so it is never written twice (once per rules version)."""
    cached = book.texts.get(intro)
    if cached is None:
        cached = book.texts[intro] = _topics_text(book, intro)
    return cached


def _topics_text(book: RuleBook, intro: str) -> str:
    lines = [intro]
    for topic in book.compiled.topics():
        if topic.keywords:
            lines.append(f"· {topic.name}：发送“{topic.keywords[0]}”")
    lines.append(HOW_TO_ASK)
    text = "\n".join(lines)
    while not fits_passive(text) and len(lines) > 2:  # many rules: keep the list within one reply
        lines.pop(-2)
        text = "\n".join([*lines[:-1], "……", lines[-1]])
    return text


def urgent_text(guidance: str, config: Config) -> str:
    return f"⚠️ {guidance}\n{config.account.contact}\n紧急情况请勿等待答疑推送。"
