"""Customer-service messages to followers (/cgi-bin/message/custom/send). Callers hold `FakeWeChatState`'s lock."""

from __future__ import annotations

from collections.abc import Callable

from bot.fake_wechat.model import ApiRequest, JsonDict, SentMessage, _Counter, _WeChatError
from bot.fake_wechat.protocol import _parse_json


class Messages:
    """Every customer-service message WeChat would have delivered, in order."""

    def __init__(self, seq: _Counter, is_article: Callable[[object], bool]) -> None:
        """`seq` is the call log's; `is_article` tells a published article_id (for mpnewsarticle)."""
        self._seq = seq
        self._is_article = is_article
        self._messages: list[SentMessage] = []

    def sent(self) -> list[SentMessage]:
        """The messages accepted so far."""
        return list(self._messages)

    def clear(self) -> None:
        """Forget every message."""
        self._messages.clear()

    def api_custom_send(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """POST /cgi-bin/message/custom/send."""
        body = _parse_json(req)
        touser, msgtype = body.get("touser"), body.get("msgtype")
        if not isinstance(touser, str) or not touser:
            raise _WeChatError(40003)
        part = body.get(msgtype) if isinstance(msgtype, str) else None
        if msgtype == "text":
            if not isinstance(part, dict) or not isinstance(part.get("content"), str) or not part["content"]:
                raise _WeChatError(44004)
        elif msgtype == "news":
            articles = part.get("articles") if isinstance(part, dict) else None
            if not isinstance(articles, list) or not articles:
                raise _WeChatError(44003)
            if len(articles) > 1:
                raise _WeChatError(45008)  # news is limited to one article since 2018-10
        elif msgtype in ("image", "voice", "video", "mpnews"):
            if not isinstance(part, dict) or not part.get("media_id"):
                raise _WeChatError(40007)
        elif msgtype == "mpnewsarticle":
            if not isinstance(part, dict) or not self._is_article(part.get("article_id")):
                raise _WeChatError(53600)
        elif msgtype in ("music", "msgmenu", "wxcard", "miniprogrampage"):
            if not isinstance(part, dict):
                raise _WeChatError(47001, f"data format error hint: missing {msgtype} object")
        else:
            raise _WeChatError(40008)
        # seq + 1 is the seq this call is about to be recorded with, linking the message to its call.
        self._messages.append(SentMessage(self._seq.value + 1, appid or "", touser, str(msgtype), body))
        return {"errcode": 0, "errmsg": "ok"}
