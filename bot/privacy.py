"""Followers' privacy: pseudonymous ids instead of openids, and personal data scrubbed from what is published."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable


class Pseudonymizer:
    """Keyed HMAC of an openid: stable for one secret key, meaningless without it."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"wxbot-pseudonym\x00" + secret_key.encode("utf-8")).digest()

    def __call__(self, openid: str) -> str:
        return "u_" + hmac.new(self._key, openid.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


# What may stand between the groups of a typed number: spaces, hyphens and dashes of every width, dots
# ("138.1234.5678", and "。" from a Chinese input method). Full-width forms are folded before matching.
_SEP = r"[ \t\u00a0.。\u2010-\u2015\u2212\ufe63-]{0,3}"
_CARD = "[卡号已隐去]"


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A verbose pattern in which each `~` marks where a separator may stand."""
    return re.compile(pattern.replace("~", _SEP), re.VERBOSE | flags)


def _card(match: re.Match[str]) -> str:
    """The placeholder for a card number; four-digit groups that fail the card checksum are kept."""
    number = match[0]
    if number.isdigit() or number.startswith("62"):  # 62: UnionPay, so even a mistyped card is hidden
        return _CARD
    # Grouped like a card, but maybe a list of four-digit lab values ("尿量 2350 2420 3180 2900"): Luhn
    # tells them apart; the 16 digits alone are checked too, in case a short number followed the card.
    digits = [int(c) for c in number if c.isdigit()]
    for checked in (digits, digits[:16]):
        if sum(d if i % 2 == 0 else 2 * d - 9 * (d > 4) for i, d in enumerate(reversed(checked))) % 10 == 0:
            return _CARD
    return number


# Personal data that must never reach a published post or the admins' unmatched list. Order matters: e-mail
# first ("13812345678@163.com" is one address), ID-card and card numbers before phones (they contain
# phone-like runs), labels last, for what no shape above caught. Separators are allowed only between the
# parts people group a number in, so a list of lab values does not read as one long number.
_SCRUB_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Spaces around "@" or "。" for "." still make an address; so does a big provider without ".com".
    # The look-behind starts the name only where a run of its characters starts: no retrying inside it.
    (_rx(r"""(?<![A-Za-z0-9._%+-]) [A-Za-z0-9._%+-]+ [ \t]*@[ \t]*
             (?: [A-Za-z0-9-]+ (?:[.。][A-Za-z0-9-]+)* [.。][A-Za-z]{2,}
               | (?:qq|163|126|139|yeah|sina|sohu|foxmail|gmail|hotmail|outlook) (?![A-Za-z0-9]) )""",
         re.IGNORECASE), "[邮箱已隐去]"),
    # ID card: area code, birth date YYYYMMDD, sequence, check digit, typed whole, as 6-4-4-4 (6-8-4…) or
    # in fours; or any 17 digits and an X, a mistyped one. No separator inside "MMDD", as in dates.
    (_rx(r"""(?<![0-9A-Za-z])
             (?: [1-9]\d{5} ~ (?:18|19|20)\d\d ~ (?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) ~ \d{3}~[\dXx]
               | [1-9]\d{3} ~ \d\d(?:18|19|20) ~ \d\d(?:0[1-9]|1[0-2]) ~ (?:0[1-9]|[12]\d|3[01])\d\d ~ \d[\dXx]
               | \d{17}[Xx] )
             (?![0-9A-Za-z])"""), "[身份证号已隐去]"),
    # Bank and insurance cards: 16-19 digits, or in fours (then starting 2-9 but not 20, unlike a year).
    (_rx(r"(?<!\d) (?: \d{16,19} | (?!20)[2-9]\d{3} (?:~\d{4}){3} (?:~\d{3})? ) (?!\d)"), _card),
    # Old 15-digit ID cards: area code, YYMMDD, sequence; typed whole, as 6-6-3 or in fours.
    (_rx(r"""(?<![0-9A-Za-z])
             (?: [1-9]\d{5} ~ \d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) ~ \d{3}
               | [1-9]\d{3} ~ \d{4} ~ (?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]) ~ \d{3} )
             (?![0-9A-Za-z])"""), "[身份证号已隐去]"),
    # Mobiles: 3-4-4 digits, maybe after +86 / 0086 / (+86). Landlines: area code (maybe bracketed, or
    # after +86 without its 0), then 7-8 digits, maybe as 3-4 + 4.
    (_rx(r"""(?<!\d)
             (?: (?:[(（]?(?:\+|00)?86[)）]?~)? 1[3-9]\d~\d{4}~\d{4}
               | (?: [(（]~0\d{2,3}~[)）] | 0\d{2,3} | (?:\+|00)86~[(（]?0?[1-9]\d{1,2}[)）]? )
                 ~ (?:\d{7,8} | \d{3,4}~\d{4}) )
             (?!\d)"""), "[电话已隐去]"),
    # Passports and travel permits: a letter and 8 digits (E, G; 港澳 C; 回乡 H, M…), or E, a letter, 7 digits.
    (_rx(r"(?<![0-9A-Za-z]) (?: [CDEGHMPS]\d{8}(?:\d{2})? | E[A-Z]\d{7} ) (?![0-9A-Za-z])", re.IGNORECASE),
     "[证件号已隐去]"),
    # Seven digits or more after "电话", "手机"… are a phone number, e.g. one without area code ("电话 6404 1990").
    (_rx(r"""((?:电话|手机|座机|联系方式)(?:号码?)? (?:\s*(?:是|为|[:：]))? \s*)
             (?: \d{7,} | \d{3,}(?:~\d{3,})+ ) (?!\d)"""), r"\g<1>[电话已隐去]"),
    # Hospital, card and account numbers known by their label, which stays so the question still reads.
    # At least five characters, or groups of three or more digits, so "医保卡 2024年办的" stays; a Latin
    # label must end a word ("idiopathic" is no ID).
    (_rx(r"""((?: (?:住院|病历|病案|门诊|急诊|就诊|就诊卡|诊疗卡|医保卡?|社保卡?|银行卡|卡|身份证|护照|通行证)号码?
               | (?:就诊|诊疗|门诊|医保|社保|银行)卡 | 微信号?码? | (?<![A-Za-z])(?:QQ|vx|wx|v信|ID)(?![A-Za-z])号?码? )
              (?:\s*(?:是|为|[:：]))? \s*)
             (?: [A-Za-z0-9][A-Za-z0-9_-]{4,}(?:~\d{3,})* | \d{3,4}(?:~\d{3,})+ ) (?!\d)""", re.IGNORECASE),
     r"\g<1>[号码已隐去]"),
)


# Chinese input methods often type digits and Latin letters full-width ("１３８…"); fold those (and the
# characters numbers and e-mail addresses are written with) to ASCII, but keep Chinese punctuation.
_FOLD_FULL_WIDTH = {cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
                                               0xFF20, 0xFF0B, 0xFF0D, 0xFF0E, 0xFF3F)} | {0x3000: 0x20}


def scrub(text: str) -> str:
    """A copy of follower text with phone, ID-card, card, passport and other personal numbers and e-mail hidden."""
    text = text.translate(_FOLD_FULL_WIDTH)
    for pattern, placeholder in _SCRUB_PATTERNS:
        text = pattern.sub(placeholder, text)
    return text
