"""The fake's vocabulary: accounts, faults, recorded calls and pushes, requests and responses, and the records
each endpoint family keeps. Plain data; nothing here knows about HTTP servers or locks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

FINAL_PUBLISH_STATUSES = frozenset({0, 2, 3, 4, 5, 6})
PUBLISHING = 1

ERRMSGS: Mapping[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub_menu level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40054: "invalid sub button url domain",
    40055: "invalid button url domain",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45065: "clientmsgid exist",
    45066: "same clientmsgid retry too fast",
    45067: "clientmsgid size out of limit",
    45110: "author size out of limit",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
    53502: "invalid publish_id",
    53600: "invalid article_id",
}


@dataclass
class FakeAccount:
    """Credentials of one fake official account."""

    appid: str = "wxfake0000000000"
    secret: str = "fake-secret"
    original_id: str = "gh_fake00000000"


@dataclass(frozen=True)
class Fault:
    """An injected fault: what to answer instead of the real result, for which path, how often."""

    path: str
    times: int = 1
    errcode: int | None = None
    errmsg: str | None = None
    http_status: int | None = None
    delay: float | None = None
    publish_status: int | None = None
    fail_idx: tuple[int, ...] = ()

    @property
    def is_publish_fault(self) -> bool:
        """True if this fault decides how the next submitted publish job ends."""
        return self.publish_status is not None

    def matches(self, path: str) -> bool:
        """True if this fault applies to a request for `path`."""
        return self.path in ("*", path)


@dataclass(frozen=True)
class RecordedCall:
    """One API call as the fake saw it; secrets and tokens in query/body are redacted."""

    seq: int
    time: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    appid: str | None
    http_status: int
    errcode: int | None
    fault: str | None


@dataclass(frozen=True)
class SentMessage:
    """A customer-service message accepted by /cgi-bin/message/custom/send."""

    seq: int
    appid: str
    touser: str
    msgtype: str
    body: JsonDict


@dataclass(frozen=True)
class PushResult:
    """Outcome of one PUBLISHJOBFINISH push to the webhook."""

    seq: int
    publish_id: str
    publish_status: int
    url: str
    http_status: int | None
    error: str | None
    encrypted: bool = False  # sent in safe mode (encrypt_type=aes), see `FakeWeChatState.set_webhook`


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class ApiRequest:
    """A /cgi-bin request reduced to what the fake needs; independent of Flask."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    form: dict[str, str] = field(default_factory=dict)
    files: tuple[UploadedFile, ...] = ()

    def file(self, name: str) -> UploadedFile | None:
        """The first uploaded file in field `name`, if any."""
        return next((f for f in self.files if f.field == name), None)


@dataclass(frozen=True)
class ApiResponse:
    """What the fake answers: a JSON payload, or a non-JSON text body (for injected 5xx)."""

    status: int = 200
    payload: JsonDict | None = None
    text: str | None = None

    @property
    def errcode(self) -> int | None:
        """The WeChat errcode (0 when the payload has none), or None for a non-JSON body."""
        if self.payload is None:
            return None
        return int(self.payload.get("errcode", 0))


@dataclass
class _Token:
    appid: str
    expires_at: float
    stable: bool
    superseded: bool = False  # a newer token exists; once expired it answers 40001 "not latest"
    revoked: bool = False  # force_refresh killed it at once


@dataclass
class _Material:
    media_id: str
    type: str
    filename: str
    size: int
    url: str


@dataclass
class _Draft:
    media_id: str
    appid: str
    articles: list[JsonDict]


@dataclass
class _PublishJob:
    publish_id: str
    msg_data_id: int
    appid: str
    media_id: str
    articles: list[JsonDict]
    planned_status: int
    planned_fail_idx: list[int]
    status: int = PUBLISHING
    fail_idx: list[int] = field(default_factory=list)
    polls: int = 0
    article_id: str | None = None
    article_urls: list[str] = field(default_factory=list)
    finished_at: int = 0  # the PUBLISHJOBFINISH CreateTime: the same in every re-send, as WeChat's retries

    def get_response(self) -> JsonDict:
        """The /freepublish/get answer for this job in its current state (shape of the official samples)."""
        out: JsonDict = {"publish_id": self.publish_id, "publish_status": self.status}
        if self.article_id is not None:
            out["article_id"] = self.article_id
        if self.status == 0:
            out["article_detail"] = {
                "count": len(self.article_urls),
                "item": [{"idx": i, "article_url": u} for i, u in enumerate(self.article_urls, 1)],
            }
        out["fail_idx"] = list(self.fail_idx)
        return out


@dataclass
class _MassSend:
    msg_id: int
    msg_data_id: int
    appid: str
    clientmsgid: str | None
    msgtype: str
    media_id: str | None
    is_to_all: bool
    tag_id: Any


class _WeChatError(Exception):
    """Raised by endpoint handlers; becomes `{"errcode", "errmsg"}` with HTTP 200."""

    def __init__(self, errcode: int, errmsg: str | None = None, **extra: Any) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.errmsg = errmsg if errmsg is not None else ERRMSGS.get(errcode, "error")
        self.extra = extra


def _error(errcode: int, errmsg: str | None = None) -> ApiResponse:
    """An error answered the way WeChat does it: HTTP 200 with errcode/errmsg."""
    return ApiResponse(payload={"errcode": errcode, "errmsg": errmsg or ERRMSGS.get(errcode, "error")})


@dataclass
class _Counter:
    """The sequence number shared by recorded calls and pushes, so one ordering covers both."""

    value: int = 0

    def next(self) -> int:
        """Advance and return the new value."""
        self.value += 1
        return self.value
