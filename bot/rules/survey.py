"""The survey answer's tracked link: `/s/<token>`, the token naming the follower only by pseudonym, signed.

The web side (`bot.web.links`) checks the token, counts the click and redirects; handlers only build links.
"""

from __future__ import annotations

import hashlib
import hmac

from bot.wechat.crypto import same


def _sign(secret_key: str, who: str) -> str:
    return hmac.new(secret_key.encode(), b"survey\x00" + who.encode(), hashlib.sha256).hexdigest()[:12]


def survey_token(secret_key: str, pseudonym: str) -> str:
    """A token naming the follower only by pseudonym; the signature stops forged click counts."""
    who = pseudonym.removeprefix("u_")[:16]
    return f"{who}.{_sign(secret_key, who)}"


def survey_link(base_url: str, secret_key: str, pseudonym: str) -> str:
    return f"{base_url}/s/{survey_token(secret_key, pseudonym)}"


def token_follower(secret_key: str, token: str) -> str | None:
    """The pseudonymous id a genuine token names, or None for a forged or malformed one."""
    who, _, sig = token.partition(".")
    if not who or len(who) > 16 or not same(_sign(secret_key, who), sig):
        return None
    return who
