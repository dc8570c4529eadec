"""Pseudonymous ids for followers: what logs, statistics and editors see instead of openids."""

from __future__ import annotations

import hashlib
import hmac
import re


class Pseudonymizer:
    """Keyed HMAC of an openid: stable for one secret key, meaningless without it."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"wxbot-pseudonym\x00" + secret_key.encode("utf-8")).digest()

    def __call__(self, openid: str) -> str:
        return "u_" + hmac.new(self._key, openid.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


# Personal data that must never reach a published post or the admins' unmatched list. Order matters:
# ID-card numbers before phone numbers (an ID contains digit runs that look like phones). Numbers are
# often typed with separators ("110105 19491231 002X", "138-1234-5678").
_SCRUB_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}[ -]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                r"[ -]?\d{3}[\dXx](?![0-9A-Za-z])"), "[身份证号已隐去]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[邮箱已隐去]"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), "[电话已隐去]"),
    (re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)"), "[电话已隐去]"),
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), "[卡号已隐去]"),  # bank cards, medical-insurance numbers
)


# Chinese input methods often type digits and Latin letters full-width ("１３８…"); fold those (and the
# characters numbers and e-mail addresses are written with) to ASCII, but keep Chinese punctuation.
_FOLD_FULL_WIDTH = {cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
                                               0xFF20, 0xFF0B, 0xFF0D, 0xFF0E)} | {0x3000: 0x20}


def scrub(text: str) -> str:
    """A copy of follower text with phone, ID-card, e-mail and card numbers replaced by placeholders."""
    text = text.translate(_FOLD_FULL_WIDTH)
    for pattern, placeholder in _SCRUB_PATTERNS:
        text = pattern.sub(placeholder, text)
    return text
