"""`/wechat`: a plain WSGI app over `bot.web.intake`, mounted in front of Flask; and Flask's `/healthz`.

Every push passes here, and a push needs nothing of Flask's request machinery (request context,
session, URL routing, response object), which cost about as much CPU as the bot's whole handling of
a keyword push (README, *Webhook throughput*). Every other path goes on to the Flask app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app

from bot.wechat.edge import parse_query
from bot.wechat.errors import WeChatRequestError

if TYPE_CHECKING:
    from bot import Bot

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PATH = "/wechat"
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed", 413: "Content Too Large"}

bp = Blueprint("webhook", __name__)


class WebhookEdge:
    """WSGI middleware answering `/wechat` itself: GET (WeChat's URL check) and POST (pushes)."""

    def __init__(self, app: WSGIApp, bot: Bot) -> None:
        self.app = app
        self.bot = bot
        self.limit = bot.config.webhook.max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "")
        headers = [("X-Content-Type-Options", "nosniff")]
        if method == "POST":
            status, body, xml = self._receive(environ)
        elif method in ("GET", "HEAD"):
            status, body, xml = self._verify(environ)
        else:
            status, body, xml = 405, "method not allowed", False
            headers.append(("Allow", "GET, HEAD, POST"))
        data = body.encode("utf-8")
        headers += [("Content-Type", "application/xml; charset=utf-8" if xml else "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(data)))]
        start_response(f"{status} {_REASONS.get(status, '')}", headers)
        return [] if method == "HEAD" else [data]

    def _verify(self, environ: dict[str, Any]) -> tuple[int, str, bool]:
        """WeChat's server-URL check: echo `echostr` only for a valid signature."""
        try:
            return 200, self.bot.edge.verify_url(parse_query(environ.get("QUERY_STRING", ""))), False
        except WeChatRequestError as exc:
            return exc.status, exc.reason, False

    def _receive(self, environ: dict[str, Any]) -> tuple[int, str, bool]:
        declared = environ.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            return 400, "invalid Content-Length", False
        if int(declared) > self.limit:
            return 413, "body too large", False
        stream = environ["wsgi.input"]
        try:
            if int(declared):
                body = stream.read(int(declared))
            elif environ.get("wsgi.input_terminated"):  # chunked, decoded by the server: read one byte too many
                body = stream.read(self.limit + 1)
            else:  # no length and a raw socket: reading would wait for the client to close
                body = b""
        except (OSError, ValueError):  # the client went away, or a broken chunked encoding
            return 400, "could not read the body", False
        if len(body) > self.limit:
            return 413, "body too large", False
        # WeChat's query is plain ASCII; parsing it directly saves building a MultiDict per push.
        status, reply = self.bot.intake.receive(parse_query(environ.get("QUERY_STRING", "")), body)
        return status, reply, status == 200 and reply.startswith("<")


@bp.get("/healthz")
def healthz() -> dict[str, object]:
    """Liveness plus Redis reachability (the process is up either way, so always 200)."""
    ok = current_app.extensions["wxbot"].store.ping()
    return {"status": "ok" if ok else "degraded", "redis": ok}
