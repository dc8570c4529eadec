"""XML in: a decrypted push body becomes a typed message or event (`bot.wechat.messages`)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import TypedDict

from bot.wechat import messages as m
from bot.wechat.errors import MalformedRequest

_BOM = b"\xef\xbb\xbf"
_INT = re.compile(r"-?[0-9]{1,18}")  # ASCII only: int() also takes "١٢٣", "1_000" and " +5"
_MSG_ID = re.compile(r"[0-9]{1,20}")
MAX_CREATE_TIME = 10**10  # seconds: year 2286; anything beyond is not a send time


def parse_xml(body: bytes) -> ET.Element:
    """Parse a push body; refuses DTDs, entity declarations and anything before the root."""
    body = body.removeprefix(_BOM)  # some clients write one before UTF-8 XML; it means nothing more
    head = body.lstrip()
    if head.startswith(b"<?xml"):
        end = head.find(b"?>")
        if end < 0:
            raise MalformedRequest("unterminated XML declaration")
        head = head[end + 2 :].lstrip()
    # WeChat's root is <xml>. Requiring it to come first rules out DOCTYPE (and with it every entity
    # declaration, external or expanding), comments and processing instructions.
    if not head.startswith(b"<xml"):
        raise MalformedRequest(_before_root(head))
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedRequest(f"malformed XML: {exc}") from None
    except (LookupError, ValueError):  # e.g. an encoding="..." Python does not know
        raise MalformedRequest("unsupported XML encoding") from None
    if root.tag != "xml":
        raise MalformedRequest("root element must be <xml>")
    return root


def _before_root(head: bytes) -> str:
    """Why a body that does not open with <xml> is refused (never echoing what it holds)."""
    if not head:
        return "empty body: a push is an <xml> document"
    if head.startswith(b"<!DOCTYPE") or head.startswith(b"<!ENTITY"):
        return "DTDs and entity declarations are not accepted"
    if head.startswith(b"<!--"):
        return "comments before <xml> are not accepted"
    if head.startswith(b"<?"):
        return "processing instructions before <xml> are not accepted"
    if head.startswith(b"<"):
        return "the root element must be <xml>"
    return "the body is not XML: a push is an <xml> document"


def element_fields(root: ET.Element) -> dict[str, str]:
    """The text of each child element, by tag (stripped)."""
    return {child.tag: (child.text or "").strip() for child in root}


def _int(fields: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = fields.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise MalformedRequest(f"missing {name}")
    if not _INT.fullmatch(raw):
        raise MalformedRequest(f"{name} is not a whole number in ASCII digits")
    return int(raw)


def _float(fields: Mapping[str, str], name: str, bound: float = 1e9) -> float:
    try:
        value = float(fields.get(name) or 0)
    except ValueError:
        raise MalformedRequest(f"{name} is not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise MalformedRequest(f"{name} is out of range (at most {bound:g} in size, not NaN or infinite)")
    return value


def _create_time(fields: Mapping[str, str]) -> int:
    value = _int(fields, "CreateTime")
    if not 0 < value < MAX_CREATE_TIME:
        raise MalformedRequest("CreateTime is not a plausible send time (seconds since 1970)")
    return value


def _msg_id(fields: Mapping[str, str]) -> str:
    raw = fields.get("MsgId", "")
    if not _MSG_ID.fullmatch(raw):
        raise MalformedRequest("missing MsgId, or not up to 20 ASCII digits")
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
            latitude=_float(f, "Location_X", 90),
            longitude=_float(f, "Location_Y", 180),
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
    f = element_fields(info)
    articles: list[m.PublishedArticle] = []
    detail = info.find("article_detail")
    if detail is not None:
        for item in detail.findall("item"):
            fi = element_fields(item)
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
            **common, latitude=_float(f, "Latitude", 90), longitude=_float(f, "Longitude", 180),
            precision=_float(f, "Precision")
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
    f = element_fields(root)
    openid = f.get("FromUserName", "")
    if not openid or len(openid) > 128:
        raise MalformedRequest("missing FromUserName")
    msg_type = f.get("MsgType", "").lower()
    if not msg_type:
        raise MalformedRequest("missing MsgType")
    common: _Common = {
        "account": f.get("ToUserName", ""),
        "openid": openid,
        "create_time": _create_time(f),
    }
    if msg_type == "event":
        return _event(root, f, common)
    return _message(f, common, msg_type)

