"""The WeChat protocol edge: one push in (verify, decrypt, parse), one reply out (sealed).

Nothing else in the bot sees WeChat's wire format: requests become `bot.wechat.messages` dataclasses
and replies are rendered by `bot.wechat.outbound`. Written lean on purpose, since it runs on every
push (no DOM beyond one ElementTree parse, one cached AES cipher per key).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bot.wechat import messages as m
from bot.wechat.crypto import MessageCrypto, check_signature, same, sign
from bot.wechat.errors import ForeignAccount, MalformedRequest, SignatureError
from bot.wechat.inbound import element_fields, parse_message, parse_xml

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




@dataclass(frozen=True, slots=True)
class Envelope:
    """A verified, decrypted push: the message and how to seal the reply."""

    message: m.Inbound
    key_index: int | None  # None: plaintext mode, reply in plain XML
    timestamp: str
    nonce: str
    # Plaintext only: (signature, digest of the body). The signature covers token, timestamp and nonce but
    # not the body, so the store binds it to the first body seen with it (see `Store.claim`).
    binding: tuple[str, str] | None = None


class WeChatEdge:
    """Verifies and opens WeChat's pushes and seals the replies, for one account."""

    def __init__(self, token: str, app_id: str, aes_keys: tuple[str, ...], max_skew_seconds: int = 0,
                 clock: Callable[[], float] = time.time, require_encryption: bool = False,
                 original_id: str = "") -> None:
        self.token = token
        # ToUserName of our pushes: the account's original id (gh_...); some tools put the AppID there.
        self.accounts = frozenset(a for a in (original_id, app_id) if a) if original_id else frozenset()
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
            signature = args.get("signature", "")
            if not check_signature(self.token, signature, timestamp, nonce):
                raise SignatureError("invalid signature")
            binding = (signature.lower(), hashlib.blake2b(body, digest_size=16).hexdigest())
            return Envelope(self._ours(parse_message(body)), None, timestamp, nonce, binding)
        if self.crypto is None:
            raise SignatureError("encrypted push but no EncodingAESKey is configured")
        encrypted = (element_fields(parse_xml(body)).get("Encrypt") or "")
        if not encrypted:
            raise MalformedRequest("missing Encrypt")
        if not same(sign(self.token, timestamp, nonce, encrypted), args.get("msg_signature", "")):
            raise SignatureError("invalid msg_signature")
        plain, key_index = self.crypto.decrypt(encrypted)
        return Envelope(self._ours(parse_message(plain)), key_index, timestamp, nonce)

    def _ours(self, msg: m.Inbound) -> m.Inbound:
        if self.accounts and msg.account not in self.accounts:
            raise ForeignAccount("push is for another account (ToUserName is not account.original_id)")
        return msg

    def seal(self, xml: str, envelope: Envelope) -> str:
        """The response body: plain XML, or the encrypted envelope in the key that opened the push."""
        if envelope.key_index is None or self.crypto is None:
            return xml
        return self.crypto.seal(xml, envelope.key_index, envelope.nonce, envelope.timestamp)
