"""The Flask side: the `/wechat` webhook over the push intake, the tracked survey links, `/metrics`, the console."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the web layer's blueprints; `/wechat` is answered by a WSGI edge in front of them."""
    from bot.web import console, links, metrics, webhook

    app.wsgi_app = webhook.WebhookEdge(app.wsgi_app, app.extensions["wxbot"])  # type: ignore[method-assign]
    app.register_blueprint(webhook.bp)
    app.register_blueprint(links.bp)
    app.register_blueprint(metrics.bp)
    console.init_app(app)
