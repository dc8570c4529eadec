"""Pseudonymous ids for followers: what logs, statistics and editors see instead of openids."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymizer:
    """Keyed HMAC of an openid: stable for one secret key, meaningless without it."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"wxbot-pseudonym\x00" + secret_key.encode("utf-8")).digest()

    def __call__(self, openid: str) -> str:
        return "u_" + hmac.new(self._key, openid.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
