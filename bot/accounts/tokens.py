"""Personal API tokens: ``wxb_`` and 32 random bytes, shown once; only their SHA-256 is kept."""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "wxb_"
_SHAPE = re.compile(r"wxb_[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    return bool(_SHAPE.fullmatch(value))
