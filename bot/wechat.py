"""The WeChat protocol edge: signatures, AES message crypto, XML in, XML out.

Nothing else in the bot sees WeChat's wire format: requests become `bot.messages` dataclasses and
replies are rendered here. Written lean on purpose, since it runs on every push (no DOM beyond one
ElementTree parse, one cached AES cipher per key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot import messages as m

PASSIVE_TEXT_LIMIT = 2047  # UTF-8 bytes; longer passive text replies are silently dropped by WeChat
USER_MESSAGE_NEWS_LIMIT = 1  # articles in a reply to a follower's message (events allow 8)
EVENT_NEWS_LIMIT = 8
_BLOCK = 32  # WeChat pads with PKCS#7 to 32-byte blocks, not AES's 16


class WeChatRequestError(Exception):
    """A push we refuse; `status` is the HTTP status to answer with."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(WeChatRequestError):
    status = 403


class AppIdMismatch(WeChatRequestError):
    status = 403


class MalformedRequest(WeChatRequestError):
    status = 400


_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() also accepts "²"
_ECHOSTR = re.compile(r"[A-Za-z0-9_-]{1,128}")


def parse_query(query: str) -> dict[str, str]:
    """Query parameters of a push (first value wins), fast for WeChat's unescaped ASCII queries."""
    if "%" in query or "+" in query:
        return dict(reversed(parse_qsl(query)))
    params: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        params.setdefault(name, value)
    return params


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts any (hostile, non-ASCII) input."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogatepass"))


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    return same(sign(token, timestamp, nonce), signature)


# --------------------------------------------------------------------------------------------------
# AES (compatible and safe mode)


class _AesKey:
    """One EncodingAESKey, its cipher built once (the IV is fixed: the key's first 16 bytes)."""

    __slots__ = ("cipher",)

    def __init__(self, encoding_aes_key: str) -> None:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self.cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def decrypt(self, data: bytes) -> bytes:
        ctx = self.cipher.decryptor()
        return ctx.update(data) + ctx.finalize()

    def encrypt(self, data: bytes) -> bytes:
        ctx = self.cipher.encryptor()
        return ctx.update(data) + ctx.finalize()


class MessageCrypto:
    """Encrypts and decrypts message bodies with the current key, falling back to the previous one."""

    def __init__(self, token: str, app_id: str, aes_keys: tuple[str, ...]) -> None:
        self.token = token
        self.app_id = app_id.encode("ascii")
        self.keys = tuple(_AesKey(k) for k in aes_keys)

    def decrypt(self, encrypted: str) -> tuple[bytes, int]:
        """Plain XML and the index of the key that opened it; raises on tampering or a foreign appid."""
        try:
            data = binascii.a2b_base64(encrypted.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedRequest("Encrypt is not base64") from None
        if not data or len(data) % 16:
            raise MalformedRequest("Encrypt has a wrong length")
        foreign = False
        for index, key in enumerate(self.keys):
            plain = _unpad(key.decrypt(data))
            if plain is None or len(plain) < 20:
                continue
            (length,) = struct.unpack(">I", plain[16:20])
            if 20 + length > len(plain):
                continue
            if plain[20 + length :] != self.app_id:
                foreign = True  # decrypted cleanly but for another account
                continue
            return plain[20 : 20 + length], index
        if foreign:
            raise AppIdMismatch("message is for another appid")
        raise MalformedRequest("Encrypt does not decrypt with any configured key")

    def encrypt(self, xml: str, key_index: int = 0, random_prefix: bytes | None = None) -> str:
        body = xml.encode("utf-8")
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes((pad,)) * pad
        return base64.b64encode(self.keys[key_index].encrypt(plain)).decode("ascii")

    def seal(self, xml: str, key_index: int, nonce: str, timestamp: str, random_prefix: bytes | None = None) -> str:
        """The encrypted reply envelope WeChat expects in safe mode."""
        encrypted = self.encrypt(xml, key_index, random_prefix)
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml>\n<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
        )


def _unpad(data: bytes) -> bytes | None:
    pad = data[-1] if data else 0
    if not 1 <= pad <= _BLOCK or pad > len(data) or data[-pad:] != bytes((pad,)) * pad:
        return None
    return data[:-pad]


# --------------------------------------------------------------------------------------------------
# XML in


def parse_xml(body: bytes) -> ET.Element:
    """Parse a push body; refuses DTDs, entity declarations and anything before the root."""
    head = body.lstrip()
    if head.startswith(b"<?xml"):
        end = head.find(b"?>")
        if end < 0:
            raise MalformedRequest("unterminated XML declaration")
        head = head[end + 2 :].lstrip()
    # WeChat's root is <xml>. Requiring it to come first rules out DOCTYPE (and with it every entity
    # declaration, external or expanding), comments and processing instructions.
    if not head.startswith(b"<xml"):
        raise MalformedRequest("body must be an <xml> document without DTD")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedRequest(f"malformed XML: {exc}") from None
    except (LookupError, ValueError):  # e.g. an encoding="..." Python does not know
        raise MalformedRequest("unsupported XML encoding") from None
    if root.tag != "xml":
        raise MalformedRequest("root element must be <xml>")
    return root


def _fields(root: ET.Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in root}


def _int(fields: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = fields.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise MalformedRequest(f"missing {name}")
    try:
        return int(raw)
    except ValueError:
        raise MalformedRequest(f"{name} is not a number") from None


def _float(fields: Mapping[str, str], name: str) -> float:
    try:
        return float(fields.get(name) or 0)
    except ValueError:
        raise MalformedRequest(f"{name} is not a number") from None


def _msg_id(fields: Mapping[str, str]) -> str:
    raw = fields.get("MsgId", "")
    if not raw.isdigit() or len(raw) > 20:
        raise MalformedRequest("missing or invalid MsgId")
    return raw


class _Common(TypedDict):
    """The fields every message and event dataclass starts with."""

    account: str
    openid: str
    create_time: int


def _message(f: dict[str, str], common: _Common, msg_type: str) -> m.Inbound:
    msg_id = _msg_id(f)
    if msg_type == "text":
        return m.TextMessage(**common, msg_id=msg_id, content=f.get("Content", ""))
    if msg_type == "image":
        return m.ImageMessage(
            **common, msg_id=msg_id, pic_url=f.get("PicUrl", ""), media_id=f.get("MediaId", "")
        )
    if msg_type == "voice":
        return m.VoiceMessage(
            **common,
            msg_id=msg_id,
            media_id=f.get("MediaId", ""),
            format=f.get("Format", ""),
            recognition=f.get("Recognition") or None,
        )
    if msg_type in ("video", "shortvideo"):
        return m.VideoMessage(
            **common,
            msg_id=msg_id,
            media_id=f.get("MediaId", ""),
            thumb_media_id=f.get("ThumbMediaId", ""),
            short=msg_type == "shortvideo",
        )
    if msg_type == "location":
        return m.LocationMessage(
            **common,
            msg_id=msg_id,
            latitude=_float(f, "Location_X"),
            longitude=_float(f, "Location_Y"),
            scale=_int(f, "Scale", 0),
            label=f.get("Label", ""),
        )
    if msg_type == "link":
        return m.LinkMessage(
            **common, msg_id=msg_id, title=f.get("Title", ""), description=f.get("Description", ""),
            url=f.get("Url", ""),
        )
    return m.UnknownMessage(**common, msg_id=msg_id, msg_type=msg_type[:32])


def _mass_article_url(root: ET.Element) -> str:
    """The first article's link in MASSSENDJOBFINISH's ArticleUrlResult (its inner layout is unconfirmed)."""
    result = root.find("ArticleUrlResult")
    if result is None:
        return ""
    for node in result.iter():
        if node.tag.lower() == "articleurl" and (node.text or "").strip():
            return (node.text or "").strip()
    return ""


def _publish_event(root: ET.Element, common: _Common) -> m.PublishJobFinishEvent:
    info = root.find("PublishEventInfo")
    if info is None:
        raise MalformedRequest("PUBLISHJOBFINISH without PublishEventInfo")
    f = _fields(info)
    articles: list[m.PublishedArticle] = []
    detail = info.find("article_detail")
    if detail is not None:
        for item in detail.findall("item"):
            fi = _fields(item)
            articles.append(m.PublishedArticle(idx=_int(fi, "idx", 0), url=fi.get("article_url", "")))
    fail_idx: list[int] = []
    fail = info.find("fail_idx")
    if fail is not None:
        # Documented as a list of article numbers; seen both as repeated elements and as text.
        numbers = [c.text or "" for c in fail] or (fail.text or "").replace(",", " ").split()
        fail_idx = [int(n) for n in numbers if n.strip().isdigit()]
    return m.PublishJobFinishEvent(
        **common,
        publish_id=f.get("publish_id", ""),
        publish_status=_int(f, "publish_status"),
        article_id=f.get("article_id", ""),
        articles=tuple(articles),
        fail_idx=tuple(fail_idx),
    )


def _event(root: ET.Element, f: dict[str, str], common: _Common) -> m.Inbound:
    name = f.get("Event", "")
    lname = name.lower()
    key = f.get("EventKey", "")
    if lname == "subscribe":
        scene = key[len("qrscene_") :] if key.startswith("qrscene_") else None
        return m.SubscribeEvent(**common, scene=scene, ticket=f.get("Ticket") or None)
    if lname == "unsubscribe":
        return m.UnsubscribeEvent(**common)
    if lname == "scan":
        return m.ScanEvent(**common, scene=key, ticket=f.get("Ticket", ""))
    if lname == "location":
        return m.LocationEvent(
            **common, latitude=_float(f, "Latitude"), longitude=_float(f, "Longitude"), precision=_float(f, "Precision")
        )
    if lname == "click":
        return m.ClickEvent(**common, key=key)
    if lname == "view":
        return m.ViewEvent(**common, url=key)
    if lname == "masssendjobfinish":
        return m.MassSendJobFinishEvent(
            **common,
            msg_id=f.get("MsgID", "") or f.get("MsgId", ""),
            status=f.get("Status", ""),
            total_count=_int(f, "TotalCount", 0),
            filter_count=_int(f, "FilterCount", 0),
            sent_count=_int(f, "SentCount", 0),
            error_count=_int(f, "ErrorCount", 0),
            article_url=_mass_article_url(root),
        )
    if lname == "templatesendjobfinish":
        return m.TemplateSendJobFinishEvent(
            **common, msg_id=f.get("MsgID", "") or f.get("MsgId", ""), status=f.get("Status", "")
        )
    if lname == "publishjobfinish":
        return _publish_event(root, common)
    if not name:
        raise MalformedRequest("event without Event")
    return m.UnknownEvent(**common, name=name[:64], key=key[:256])


def parse_message(body: bytes) -> m.Inbound:
    """Turn a decrypted push body into a typed message or event."""
    root = parse_xml(body)
    f = _fields(root)
    openid = f.get("FromUserName", "")
    if not openid or len(openid) > 128:
        raise MalformedRequest("missing FromUserName")
    msg_type = f.get("MsgType", "").lower()
    if not msg_type:
        raise MalformedRequest("missing MsgType")
    common: _Common = {
        "account": f.get("ToUserName", ""),
        "openid": openid,
        "create_time": _int(f, "CreateTime"),
    }
    if msg_type == "event":
        return _event(root, f, common)
    return _message(f, common, msg_type)


# --------------------------------------------------------------------------------------------------
# XML out

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


# --------------------------------------------------------------------------------------------------
# A whole request


@dataclass(frozen=True, slots=True)
class Envelope:
    """A verified, decrypted push: the message and how to seal the reply."""

    message: m.Inbound
    key_index: int | None  # None: plaintext mode, reply in plain XML
    timestamp: str
    nonce: str


class WeChatEdge:
    """Verifies and opens WeChat's pushes and seals the replies, for one account."""

    def __init__(self, token: str, app_id: str, aes_keys: tuple[str, ...], max_skew_seconds: int = 0,
                 clock: Callable[[], float] = time.time, require_encryption: bool = False) -> None:
        self.token = token
        self.require_encryption = require_encryption
        self.crypto = MessageCrypto(token, app_id, aes_keys) if aes_keys else None
        self.max_skew_seconds = max_skew_seconds
        self.clock = clock

    def verify_url(self, args: Mapping[str, str]) -> str:
        """The echostr to send back when WeChat validates the server URL."""
        signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
        if not check_signature(self.token, signature, timestamp, nonce):
            raise SignatureError("invalid signature")
        echostr = args.get("echostr", "")
        if not _ECHOSTR.fullmatch(echostr):
            # WeChat sends a plain random token; anything else is never reflected back.
            raise MalformedRequest("invalid echostr")
        return echostr

    def open(self, args: Mapping[str, str], body: bytes) -> Envelope:
        """Verify, decrypt and parse one POSTed push."""
        timestamp = args.get("timestamp", "")
        nonce = args.get("nonce", "")
        if not _TIMESTAMP.fullmatch(timestamp) or not nonce or len(nonce) > 64:
            raise SignatureError("missing or invalid timestamp or nonce")
        if self.max_skew_seconds and abs(self.clock() - int(timestamp)) > self.max_skew_seconds:
            # Beyond the dedup window a replayed push could be handled twice; refuse it instead.
            raise SignatureError("timestamp outside the accepted window")
        if args.get("encrypt_type", "raw") != "aes":
            if self.require_encryption:
                # In safe mode WeChat always encrypts; a plaintext push's signature does not cover its body.
                raise SignatureError("plaintext push refused: this account requires encryption")
            if not check_signature(self.token, args.get("signature", ""), timestamp, nonce):
                raise SignatureError("invalid signature")
            return Envelope(parse_message(body), None, timestamp, nonce)
        if self.crypto is None:
            raise SignatureError("encrypted push but no EncodingAESKey is configured")
        encrypted = (_fields(parse_xml(body)).get("Encrypt") or "")
        if not encrypted:
            raise MalformedRequest("missing Encrypt")
        if not same(sign(self.token, timestamp, nonce, encrypted), args.get("msg_signature", "")):
            raise SignatureError("invalid msg_signature")
        plain, key_index = self.crypto.decrypt(encrypted)
        return Envelope(parse_message(plain), key_index, timestamp, nonce)

    def seal(self, xml: str, envelope: Envelope) -> str:
        """The response body: plain XML, or the encrypted envelope in the key that opened the push."""
        if envelope.key_index is None or self.crypto is None:
            return xml
        return self.crypto.seal(xml, envelope.key_index, envelope.nonce, envelope.timestamp)
