"""A WeRoBot 1.13 webhook answering config.yaml's keywords, served by WeRoBot's own `robot.wsgi` (Bottle).

A yardstick, not a bot: no dedup, no replay protection (a retried or replayed push is answered again), no
body size limit. Plaintext and AES (safe mode) pushes alike; WeRoBot encrypts every reply of a process once
it has decrypted one push, so a process serves one mode: run one per mode.

    gunicorn 'bench.peers.werobot_app:create_app()'
"""

from __future__ import annotations

from typing import Any

from werobot import WeRoBot
from werobot.replies import Article, ArticlesReply

from bench.peers.table import Card, load


def create_app() -> Any:
    """The robot's WSGI app, with the token, app_id and encoding_aes_key of config.yaml."""
    config, table = load()
    # SESSION_STORAGE=False: WeRoBot's default keeps a SQLite session per follower, read and written on
    # every message; keyword replies need none, and the bot keeps none.
    robot = WeRoBot(token=config.wechat.token, app_id=config.wechat.app_id,
                    encoding_aes_key=config.wechat.encoding_aes_key, SESSION_STORAGE=False)

    def reply(message: Any, answer: Card | str) -> Any:
        if isinstance(answer, str):
            return answer
        card = ArticlesReply(message=message)
        card.add_article(Article(answer.title, answer.description, answer.image, answer.url))
        return card

    @robot.text
    def text(message: Any) -> Any:
        return reply(message, table.for_text(message.content))

    @robot.click
    def click(message: Any) -> Any:
        return reply(message, table.for_click(message.key))

    # Everything else (subscribe, VIEW, images...): the fixed text, rather than an empty answer WeRoBot logs.
    @robot.handler
    def other(message: Any) -> Any:
        return table.default

    return robot.wsgi
