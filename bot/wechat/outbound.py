"""XML out: replies rendered for WeChat's passive answer, and customer-service message bodies."""

from __future__ import annotations

import re
import time

from bot.wechat import messages as m

PASSIVE_TEXT_LIMIT = 2047  # UTF-8 bytes; longer passive text replies are silently dropped by WeChat
USER_MESSAGE_NEWS_LIMIT = 1  # articles in a reply to a follower's message (events allow 8)
EVENT_NEWS_LIMIT = 8

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _cdata(text: str) -> str:
    # Drop what XML cannot carry first (removing it later could create a "]]>"), then split "]]>",
    # which would end the section early, across two sections.
    text = _INVALID_XML_CHARS.sub("", text)
    if "]]>" in text:
        text = text.replace("]]>", "]]]]><![CDATA[>")
    return "<![CDATA[" + text + "]]>"


def fits_passive(text: str) -> bool:
    return len(text.encode("utf-8", "surrogatepass")) <= PASSIVE_TEXT_LIMIT


def split_text(text: str, limit: int = PASSIVE_TEXT_LIMIT) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes, preferring line and sentence ends."""
    parts: list[str] = []
    rest = text
    while len(rest.encode("utf-8", "surrogatepass")) > limit:
        # Largest prefix that fits, then back off to the last natural break inside it.
        cut = len(rest.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore"))
        window = rest[:cut]
        brk = max(window.rfind(sep) for sep in ("\n", "。", "！", "？", ". ", "；"))
        if brk >= cut // 2:
            cut = brk + 1
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def render_reply(reply: m.Reply, msg: m.Inbound, now: int | None = None) -> str:
    """The passive-reply XML for `reply` to `msg` (text must already fit the passive limit)."""
    head = (
        f"<xml><ToUserName>{_cdata(msg.openid)}</ToUserName>"
        f"<FromUserName>{_cdata(msg.account)}</FromUserName>"
        f"<CreateTime>{int(time.time()) if now is None else now}</CreateTime>"
    )
    if isinstance(reply, m.TextReply):
        if not fits_passive(reply.content):
            raise ValueError("text reply over the passive limit; split it first")
        return head + f"<MsgType><![CDATA[text]]></MsgType><Content>{_cdata(reply.content)}</Content></xml>"
    limit = USER_MESSAGE_NEWS_LIMIT if msg.is_user_message else EVENT_NEWS_LIMIT
    items = "".join(
        f"<item><Title>{_cdata(a.title)}</Title><Description>{_cdata(a.description)}</Description>"
        f"<PicUrl>{_cdata(a.pic_url)}</PicUrl><Url>{_cdata(a.url)}</Url></item>"
        for a in reply.articles[:limit]
    )
    count = min(len(reply.articles), limit)
    return head + (f"<MsgType><![CDATA[news]]></MsgType><ArticleCount>{count}</ArticleCount>"
                   f"<Articles>{items}</Articles></xml>")


def custom_message(reply: m.Reply, openid: str) -> dict[str, object]:
    """The customer-service API body that delivers `reply` outside the passive window."""
    if isinstance(reply, m.TextReply):
        return {"touser": openid, "msgtype": "text", "text": {"content": reply.content}}
    a = reply.articles[0]
    return {
        "touser": openid,
        "msgtype": "news",
        "news": {"articles": [{"title": a.title, "description": a.description, "url": a.url, "picurl": a.pic_url}]},
    }

