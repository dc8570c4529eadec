"""Build correctly signed (and optionally encrypted) WeChat pushes, and read replies back.

Used by `python -m bot simulate`, the tests and the benchmark, so all three speak to the server
exactly as WeChat does.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bot.wechat import messages as m
from bot.wechat.crypto import MessageCrypto, sign


@dataclass(frozen=True)
class Account:
    """What a sender needs to know about the account it pushes to."""

    token: str
    app_id: str
    aes_key: str = ""
    original_id: str = "gh_000000000000"


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(account: Account, openid: str, *, text: str | None = None, event: str | None = None,
                event_key: str = "", msg_id: int | None = None, create_time: int | None = None,
                recognition: str | None = None) -> str:
    """The plaintext XML of a text message, a voice message (with `recognition`) or an event."""
    ts = int(time.time()) if create_time is None else create_time
    head = (f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName>"
            f"<FromUserName>{_cdata(openid)}</FromUserName><CreateTime>{ts}</CreateTime>")
    mid = msg_id if msg_id is not None else secrets.randbits(62)
    if event:
        key = f"<EventKey>{_cdata(event_key)}</EventKey>" if event_key else ""
        return head + f"<MsgType><![CDATA[event]]></MsgType><Event>{_cdata(event)}</Event>{key}</xml>"
    if recognition is not None:
        return (head + "<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[media]]></MediaId>"
                f"<Format><![CDATA[amr]]></Format><Recognition>{_cdata(recognition)}</Recognition>"
                f"<MsgId>{mid}</MsgId></xml>")
    content = _cdata(text or "")
    return head + f"<MsgType><![CDATA[text]]></MsgType><Content>{content}</Content><MsgId>{mid}</MsgId></xml>"


def signed_request(account: Account, xml: str, *, aes: bool = False, timestamp: int | None = None,
                   nonce: str | None = None, key: str | None = None) -> tuple[dict[str, str], bytes]:
    """Query parameters and body of the POST WeChat would send for `xml`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**10))
    query = {"signature": sign(account.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "sim"}
    if not aes:
        return query, xml.encode("utf-8")
    crypto = MessageCrypto(account.token, account.app_id, (key or account.aes_key,))
    encrypted = crypto.encrypt(xml)
    query.update(encrypt_type="aes", msg_signature=sign(account.token, ts, nonce, encrypted))
    body = f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    return query, body.encode("utf-8")


@dataclass(frozen=True)
class ReadReply:
    """A reply as a follower would see it."""

    kind: str  # "text", "news", "none"
    text: str = ""
    articles: tuple[tuple[str, str, str], ...] = ()  # (title, description, url)
    xml: str = ""

    def show(self) -> str:
        if self.kind == "none":
            return "(no reply: the server answered 'success')"
        if self.kind == "text":
            return self.text
        return "\n".join(f"[{t}]\n{d}\n{u}" for t, d, u in self.articles)


def read_reply(account: Account, body: str, key: str | None = None) -> ReadReply:
    """Decrypt (if needed), check and parse a passive reply."""
    if body in ("", "success"):
        return ReadReply("none")
    root = ET.fromstring(body)
    encrypted = root.findtext("Encrypt")
    if encrypted is not None:
        expected = sign(account.token, root.findtext("TimeStamp") or "", root.findtext("Nonce") or "", encrypted)
        if expected != root.findtext("MsgSignature"):
            raise ValueError("reply MsgSignature does not verify")
        plain, _ = MessageCrypto(account.token, account.app_id, (key or account.aes_key,)).decrypt(encrypted)
        body = plain.decode("utf-8")
        root = ET.fromstring(body)
    kind = root.findtext("MsgType") or ""
    if kind == "text":
        return ReadReply("text", text=root.findtext("Content") or "", xml=body)
    items = tuple((i.findtext("Title") or "", i.findtext("Description") or "", i.findtext("Url") or "")
                  for i in root.iter("item"))
    return ReadReply(kind, articles=items, xml=body)


def trial_message(text: str, kind: str, account: str, openid: str = "o_rules_trial") -> m.Inbound:
    """The message a follower's input of `kind` would arrive as (text, voice, a menu click, a QR subscribe)."""
    now = int(time.time())
    if kind == "click":
        return m.ClickEvent(account, openid, now, key=text)
    if kind == "subscribe":
        return m.SubscribeEvent(account, openid, now, scene=text or None)
    msg_id = str(secrets.randbits(62))
    if kind == "voice":
        return m.VoiceMessage(account, openid, now, msg_id, media_id="trial", format="amr", recognition=text)
    if kind != "text":
        raise ValueError(f"unknown input kind {kind!r} (text, voice, click or subscribe)")
    return m.TextMessage(account, openid, now, msg_id, content=text)
