"""The Flask side: the `/wechat` webhook over the push intake, and the tracked survey links."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the web layer's blueprints."""
    from bot.web import links, webhook

    app.register_blueprint(webhook.bp)
    app.register_blueprint(links.bp)
