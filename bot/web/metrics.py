"""`GET /metrics`: Prometheus text format, for a scraper on this host or one holding METRICS_TOKEN."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from bot.metrics import exposition

bp = Blueprint("metrics", __name__)


def _allowed() -> bool:
    token = current_app.extensions["wxbot"].config.metrics_token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    # No token: only a scraper on this host talking to gunicorn directly. A request through the reverse
    # proxy also comes from loopback, but the proxy adds X-Forwarded-For (and deploy/nginx never routes here).
    loopback = request.remote_addr in ("127.0.0.1", "::1")
    return loopback and "X-Forwarded-For" not in request.headers and "Forwarded" not in request.headers


@bp.get("/metrics")
def metrics() -> Response:
    if not _allowed():
        return Response("metrics need METRICS_TOKEN (Authorization: Bearer ...) from outside this host\n",
                        status=403, mimetype="text/plain")
    body, content_type = exposition()
    return Response(body, content_type=content_type)
