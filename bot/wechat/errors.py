"""Why a push is refused: each error carries the HTTP status WeChat gets back."""

from __future__ import annotations


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


class ForeignAccount(WeChatRequestError):
    """A push addressed (ToUserName) to another official account."""

    status = 403


class MalformedRequest(WeChatRequestError):
    status = 400

