"""The peers' whole "rule engine": config.yaml's article and survey keywords, looked up as a plain table.

No normalization, no urgent rules, no questions: what a small hand-written webhook would do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Card:
    """One news card: title, description, picture and link."""

    title: str
    description: str
    image: str
    url: str


@dataclass(frozen=True)
class Table:
    """Keyword to reply (a card or a text), the survey's menu click and the fallback text."""

    replies: dict[str, Card | str]
    clicks: dict[str, Card | str]
    default: str

    def for_text(self, content: str) -> Card | str:
        """The exact keyword's reply, else the first keyword the message contains, else the fallback."""
        text = content.strip()
        hit = self.replies.get(text)
        if hit is not None:
            return hit
        return next((reply for word, reply in self.replies.items() if word in text), self.default)

    def for_click(self, key: str) -> Card | str:
        return self.clicks.get(key, self.default)


def load(config: Config | None = None) -> tuple[Config, Table]:
    """The config ($BOT_CONFIG, default the repository's config.yaml, secrets not taken from the environment)."""
    config = config or load_config(os.environ.get("BOT_CONFIG") or ROOT / "config.yaml", env={})
    replies: dict[str, Card | str] = {}
    for article in config.articles:
        card = Card(article.title, article.summary, article.cover, article.url)
        replies.update((word, card) for word in article.keywords)
    survey = f"{config.survey.invitation}\n{config.survey.title}：{config.survey.url}"
    replies.update((word, survey) for word in config.survey.keywords)
    return config, Table(replies, {"MENU_SURVEY": survey}, config.webhook.default_reply)
