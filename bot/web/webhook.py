"""The `/wechat` endpoint: a thin Flask adapter over `bot.web.intake`."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from bot.wechat.edge import parse_query
from bot.wechat.errors import WeChatRequestError

bp = Blueprint("webhook", __name__)


def _text(body: str, status: int = 200, *, xml: bool = False) -> Response:
    return Response(body, status=status, mimetype="application/xml" if xml else "text/plain",
                    headers=(("X-Content-Type-Options", "nosniff"),))


@bp.get("/wechat")
def verify() -> Response:
    """WeChat's server-URL check: echo `echostr` only for a valid signature."""
    try:
        return _text(current_app.extensions["wxbot"].edge.verify_url(request.args))
    except WeChatRequestError as exc:
        return _text(exc.reason, exc.status)


@bp.post("/wechat")
def receive() -> Response:
    # Every push passes here: the proxies are resolved once (each access costs a context lookup).
    req = request._get_current_object()  # type: ignore[attr-defined]
    bot = current_app.extensions["wxbot"]
    limit = bot.config.webhook.max_body_bytes
    if (req.content_length or 0) > limit:
        return _text("body too large", 413)
    body = req.stream.read(limit + 1)  # also bounds chunked bodies that declare no length
    if len(body) > limit:
        return _text("body too large", 413)
    # WeChat's query is plain ASCII; parsing it directly saves building a MultiDict per push.
    status, reply = bot.intake.receive(parse_query(req.environ.get("QUERY_STRING", "")), body)
    return _text(reply, status, xml=status == 200 and reply.startswith("<"))


@bp.get("/healthz")
def healthz() -> dict[str, object]:
    """Liveness plus Redis reachability (the process is up either way, so always 200)."""
    ok = current_app.extensions["wxbot"].store.ping()
    return {"status": "ok" if ok else "degraded", "redis": ok}
