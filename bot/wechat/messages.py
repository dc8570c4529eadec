"""Typed, protocol-free messages: what handlers receive and what they return.

The WeChat edge (`bot.wechat.edge`) turns XML into these frozen dataclasses and replies back into XML;
nothing outside `bot.wechat` knows the wire format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------------------
# Inbound


@dataclass(frozen=True, slots=True)
class Inbound:
    """Fields every push carries: the account id, the follower's openid and the send time."""

    account: str
    openid: str
    create_time: int

    @property
    def dedup_key(self) -> str:
        """Identity of this push across WeChat's retries (MsgId, or the event tuple for events)."""
        raise NotImplementedError

    @property
    def kind(self) -> str:
        """Short name used in logs and rule inputs: 'text', 'voice', 'event:subscribe', ..."""
        raise NotImplementedError

    @property
    def is_user_message(self) -> bool:
        """True for messages a follower typed or sent (they allow at most one news item in reply)."""
        return False


@dataclass(frozen=True, slots=True)
class Message(Inbound):
    """A message the follower sent; WeChat gives each one a 64-bit MsgId."""

    msg_id: str

    @property
    def dedup_key(self) -> str:
        return "m:" + self.msg_id

    @property
    def is_user_message(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class TextMessage(Message):
    content: str

    @property
    def kind(self) -> str:
        return "text"


@dataclass(frozen=True, slots=True)
class ImageMessage(Message):
    pic_url: str
    media_id: str

    @property
    def kind(self) -> str:
        return "image"


@dataclass(frozen=True, slots=True)
class VoiceMessage(Message):
    media_id: str
    format: str
    recognition: str | None  # only when the account has speech recognition switched on

    @property
    def kind(self) -> str:
        return "voice"


@dataclass(frozen=True, slots=True)
class VideoMessage(Message):
    media_id: str
    thumb_media_id: str
    short: bool  # MsgType shortvideo

    @property
    def kind(self) -> str:
        return "shortvideo" if self.short else "video"


@dataclass(frozen=True, slots=True)
class LocationMessage(Message):
    latitude: float
    longitude: float
    scale: int
    label: str

    @property
    def kind(self) -> str:
        return "location"


@dataclass(frozen=True, slots=True)
class LinkMessage(Message):
    title: str
    description: str
    url: str

    @property
    def kind(self) -> str:
        return "link"


@dataclass(frozen=True, slots=True)
class UnknownMessage(Message):
    """A message type this bot does not know (WeChat adds types from time to time)."""

    msg_type: str

    @property
    def kind(self) -> str:
        return "unknown:" + self.msg_type


@dataclass(frozen=True, slots=True)
class Event(Inbound):
    """An event push; WeChat recommends deduplicating on sender + CreateTime (+ event and key)."""

    @property
    def event_name(self) -> str:
        raise NotImplementedError

    @property
    def event_key(self) -> str:
        return ""

    @property
    def dedup_key(self) -> str:
        raw = "\x1f".join((self.openid, str(self.create_time), self.event_name, self.event_key))
        # Hashed so that openids never appear in Redis key names.
        return "e:" + hashlib.blake2b(raw.encode("utf-8"), digest_size=12).hexdigest()

    @property
    def kind(self) -> str:
        return "event:" + self.event_name


@dataclass(frozen=True, slots=True)
class SubscribeEvent(Event):
    scene: str | None = None  # from a parametric QR code (EventKey qrscene_<scene>)
    ticket: str | None = None

    @property
    def event_name(self) -> str:
        return "subscribe"

    @property
    def event_key(self) -> str:
        return self.scene or ""


@dataclass(frozen=True, slots=True)
class UnsubscribeEvent(Event):
    @property
    def event_name(self) -> str:
        return "unsubscribe"


@dataclass(frozen=True, slots=True)
class ScanEvent(Event):
    scene: str
    ticket: str

    @property
    def event_name(self) -> str:
        return "scan"

    @property
    def event_key(self) -> str:
        return self.scene


@dataclass(frozen=True, slots=True)
class LocationEvent(Event):
    latitude: float
    longitude: float
    precision: float

    @property
    def event_name(self) -> str:
        return "location"


@dataclass(frozen=True, slots=True)
class ClickEvent(Event):
    key: str

    @property
    def event_name(self) -> str:
        return "click"

    @property
    def event_key(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class ViewEvent(Event):
    url: str

    @property
    def event_name(self) -> str:
        return "view"

    @property
    def event_key(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class MassSendJobFinishEvent(Event):
    msg_id: str
    status: str
    total_count: int
    filter_count: int
    sent_count: int
    error_count: int
    article_url: str = ""  # the first article's link, from ArticleUrlResult when WeChat includes it

    @property
    def event_name(self) -> str:
        return "masssendjobfinish"

    @property
    def event_key(self) -> str:
        return self.msg_id


@dataclass(frozen=True, slots=True)
class TemplateSendJobFinishEvent(Event):
    msg_id: str
    status: str

    @property
    def event_name(self) -> str:
        return "templatesendjobfinish"

    @property
    def event_key(self) -> str:
        return self.msg_id


@dataclass(frozen=True, slots=True)
class PublishedArticle:
    idx: int
    url: str


@dataclass(frozen=True, slots=True)
class PublishJobFinishEvent(Event):
    """Final state of a freepublish job (publish_status 0 = published)."""

    publish_id: str
    publish_status: int
    article_id: str
    articles: tuple[PublishedArticle, ...] = ()
    fail_idx: tuple[int, ...] = ()

    @property
    def event_name(self) -> str:
        return "publishjobfinish"

    @property
    def event_key(self) -> str:
        return self.publish_id


@dataclass(frozen=True, slots=True)
class UnknownEvent(Event):
    name: str
    key: str = ""

    @property
    def event_name(self) -> str:
        return self.name.lower()

    @property
    def event_key(self) -> str:
        return self.key


# --------------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True, slots=True)
class TextReply:
    content: str


@dataclass(frozen=True, slots=True)
class Article:
    """One item of a news (article card) reply."""

    title: str
    description: str
    url: str
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    articles: tuple[Article, ...] = field(default_factory=tuple)


Reply = TextReply | NewsReply


def input_text(msg: Inbound) -> str | None:
    """The text a follower said: typed text, or the recognised text of a voice message."""
    if isinstance(msg, TextMessage):
        return msg.content
    if isinstance(msg, VoiceMessage):
        return msg.recognition or None
    return None
