"""A fake WeChat official-account API server for tests and local runs.

It speaks WeChat's real HTTP/JSON protocol (see /work/shared/wechat-protocol.md, sections 6-10) on loopback,
records every call, lets tests inject faults, and pushes PUBLISHJOBFINISH events to the bot's webhook.
All state lives in one `FakeWeChatState` guarded by a single lock: this is a single-process test double.

Pushes follow the account's message mode, as WeChat's do. Given only the webhook token, a push is plaintext,
signed with `signature` (plaintext mode). Given the account's EncodingAESKey as well, it is sent in safe mode:
`encrypt_type=aes` and `msg_signature` in the query (besides `signature`), and the body is only
`<xml><ToUserName/><Encrypt/></xml>`, encrypted for the appid of the account the job belongs to. Both are
built by `bot.wechat.simulator.signed_request`, the same code the tests use to play WeChat.

The package, lowest layer first: `model` (the value types and records) and `protocol` (signatures, event XML);
one module per endpoint family (`tokens`, `material`, `publishing`, `messages`, `menu`, `webhook`,
`faults`);
`state`, which composes them; `app` (the Flask routes) and `server` (serving it). Everything is re-exported here.
"""

from bot.fake_wechat.app import MAX_BODY_BYTES, create_fake_app
from bot.fake_wechat.material import IMAGE_MAX_BYTES, THUMB_MAX_BYTES, UPLOADIMG_MAX_BYTES
from bot.fake_wechat.model import (
    ERRMSGS,
    FINAL_PUBLISH_STATUSES,
    PUBLISHING,
    ApiRequest,
    ApiResponse,
    FakeAccount,
    Fault,
    JsonDict,
    PushResult,
    RecordedCall,
    SentMessage,
    UploadedFile,
)
from bot.fake_wechat.protocol import MPHELPER_OPENID, publish_event_xml, signature
from bot.fake_wechat.publishing import (
    AUTHOR_MAX_CHARS,
    CLIENTMSGID_MAX_BYTES,
    CONTENT_MAX_BYTES,
    CONTENT_MAX_CHARS,
    DIGEST_MAX_CHARS,
    MAX_DRAFT_ARTICLES,
    TITLE_MAX_CHARS,
)
from bot.fake_wechat.server import FakeWeChatServer, serve
from bot.fake_wechat.state import FakeWeChatState
from bot.fake_wechat.tokens import DEFAULT_EXPIRES_IN, OVERLAP_RATIO

__all__ = [
    "AUTHOR_MAX_CHARS",
    "CLIENTMSGID_MAX_BYTES",
    "CONTENT_MAX_BYTES",
    "CONTENT_MAX_CHARS",
    "DEFAULT_EXPIRES_IN",
    "DIGEST_MAX_CHARS",
    "ERRMSGS",
    "FINAL_PUBLISH_STATUSES",
    "IMAGE_MAX_BYTES",
    "MAX_BODY_BYTES",
    "MAX_DRAFT_ARTICLES",
    "MPHELPER_OPENID",
    "OVERLAP_RATIO",
    "PUBLISHING",
    "THUMB_MAX_BYTES",
    "TITLE_MAX_CHARS",
    "UPLOADIMG_MAX_BYTES",
    "ApiRequest",
    "ApiResponse",
    "FakeAccount",
    "FakeWeChatServer",
    "FakeWeChatState",
    "Fault",
    "JsonDict",
    "PushResult",
    "RecordedCall",
    "SentMessage",
    "UploadedFile",
    "create_fake_app",
    "publish_event_xml",
    "serve",
    "signature",
]
