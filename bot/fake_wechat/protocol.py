"""WeChat's wire formats as the fake speaks them: push signatures, the PUBLISHJOBFINISH event XML, JSON bodies
and the ids WeChat hands out."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Sequence

from bot.fake_wechat.model import ApiRequest, JsonDict, _WeChatError

# A `\uXXXX` escape preceded by an even number of backslashes (an escaped backslash followed by "u" is fine):
# WeChat refuses bodies carrying them with 40033.
UNICODE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")

# Per the official docs, PUBLISHJOBFINISH comes from the "mphelper" (群发助手) openid; this is a fixed fake.
MPHELPER_OPENID = "oFakeMpHelper000000000000000"


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's push signature: sha1 over the sorted, concatenated token/timestamp/nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()


def publish_event_xml(
    original_id: str, publish_id: str, status: int, article_id: str | None, article_urls: Sequence[str],
    fail_idx: Sequence[int], create_time: int,
) -> str:
    """The plaintext PUBLISHJOBFINISH push body, shaped like the official samples (success or failure)."""
    info = [f"<publish_id>{publish_id}</publish_id>", f"<publish_status>{status}</publish_status>"]
    if article_id is not None:
        info.append(f"<article_id><![CDATA[{article_id}]]></article_id>")
    if status == 0:
        items = "".join(
            f"<item><idx>{i}</idx><article_url><![CDATA[{url}]]></article_url></item>"
            for i, url in enumerate(article_urls, 1)
        )
        info.append(f"<article_detail><count>{len(article_urls)}</count>{items}</article_detail>")
    # Failures list the failed article numbers as repeated <fail_idx> elements, as in the official sample.
    info.extend(f"<fail_idx>{i}</fail_idx>" for i in fail_idx)
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{original_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{MPHELPER_OPENID}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[PUBLISHJOBFINISH]]></Event>"
        f"<PublishEventInfo>{''.join(info)}</PublishEventInfo>"
        "</xml>"
    )

def _parse_json(req: ApiRequest) -> JsonDict:
    """The request body as a JSON object, or the WeChat error for an empty/invalid body."""
    if not req.body.strip():
        raise _WeChatError(44002)
    try:
        data = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _WeChatError(47001, f"data format error hint: {exc}") from None
    if not isinstance(data, dict):
        raise _WeChatError(47001)
    return data


def _new_id() -> str:
    # Same alphabet and length (43) as real permanent media_ids and article_ids.
    return secrets.token_urlsafe(32)
