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
        self._last = ("", "")  # one message asks for its sender's pseudonym several times (claim, handlers)

    def __call__(self, openid: str) -> str:
        last = self._last  # read once: another thread may replace it (a whole tuple, never half of one)
        if last[0] == openid and openid:
            return last[1]
        value = "u_" + hmac.new(self._key, openid.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
        self._last = (openid, value)
        return value


# What may stand between the groups of a typed number (`~`): spaces, hyphens and dashes of every width, dots
# ("138.1234.5678", and "。" from a Chinese input method). Full-width forms are folded before matching.
_SEP_CHARS = r" \t\u00a0.。\u2010-\u2015\u2212\ufe63\-"
# Right after a label ("手机", "身份证") also commas, slashes, middle dots and underscores (`≈`, at least one):
# "手机138，1234，5678". Without a label these separate lists of values ("尿量 150，1200，1300").
_LABEL_SEP_CHARS = _SEP_CHARS + r",，、/／·\u2022\u30fb_"
_MARKERS = {
    "~": f"[{_SEP_CHARS}]{{0,3}}",
    "≈": f"(?:[{_LABEL_SEP_CHARS}]{{1,3}})",
    "<area>": "(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])",  # province: an ID's first two digits
    "<year>": r"(?:19|20)\d\d",
    "<mm>": "(?:0[1-9]|1[0-2])",
    "<dd>": r"(?:0[1-9]|[12]\d|3[01])",
    "<is>": r"(?:\s*(?:是|为|[:：]))?\s*",  # between a label and its value: "电话是 ", "护照号码："
    # <alone>…</alone>: not next to a value of four digits or fewer across spaces, as in a list of lab values
    # ("尿量 1205 0950 2300 1200 ml"); a long number next to it is fine ("13812345678 6222 0212 3456 7890").
    "<alone>": r"(?:(?<=\d{5}[ \t\u00a0])|(?<=\d{5}[ \t\u00a0]{2})|(?<!\d[ \t\u00a0])(?<!\d[ \t\u00a0]{2}))",
    "</alone>": r"(?![ \t\u00a0]{1,3}\d{1,4}(?!\d))",
}
_CARD = "[卡号已隐去]"
_Replacement = str | Callable[[re.Match[str]], str | None]


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A verbose pattern with the `_MARKERS` above expanded."""
    for marker, expansion in _MARKERS.items():
        pattern = pattern.replace(marker, expansion)
    return re.compile(pattern, re.VERBOSE | flags)


def _luhn(digits: str) -> bool:
    """The checksum of bank card numbers."""
    return sum(d if i % 2 == 0 else 2 * d - 9 * (d > 4) for i, d in enumerate(map(int, reversed(digits)))) % 10 == 0


_CARD_LABEL = _rx(r"卡(?:号码?)? <is> $")  # "银行卡", "信用卡号：", "卡号是"…
_CARD_PREFIX = re.compile(r"4|5[1-5]|35(?:2[89]|[3-8]\d)|6")  # Visa, Mastercard, JCB, UnionPay and Discover


def _card(match: re.Match[str]) -> str | None:
    """A card number typed whole, or in fours after a card label or with a card's prefix and checksum."""
    number = match[0]
    if number.isdigit() or _CARD_LABEL.search(match.string, max(0, match.start() - 12), match.start()):
        return _CARD
    # In fours but unlabeled: maybe lab values ("尿量 2350 2420 3180 2900"); 1 in 10 such series passes the
    # checksum, so a card's prefix is needed too. A UnionPay "62" needs no checksum: a mistyped card is hidden.
    digits = "".join(c for c in number if c.isdigit())
    if _CARD_PREFIX.match(digits) and (digits.startswith("62") or _luhn(digits) or _luhn(digits[:16])):
        return _CARD  # digits[:16]: in case a short number followed the card
    return None


def _labeled_phone(match: re.Match[str]) -> str | None:
    """Seven digits or more after "电话", "手机"… are a phone number; fewer ("打电话 120，110") are not."""
    return match[1] + "[电话已隐去]" if sum(c.isdigit() for c in match[0]) >= 7 else None


_RECENT_DATE = _rx(r"(?:19[5-9]|20[0-4])\d <mm><dd>")


def _passport(match: re.Match[str]) -> str | None:
    """E/G and 8 digits unless the digits are a date, 1950-2049 ("E20240312"), or round ("E10000000")."""
    digits = match[0][1:]
    if digits.isdigit() and (_RECENT_DATE.fullmatch(digits) or len(set(digits)) < 3):
        return None
    return "[证件号已隐去]"


# Personal data that must never reach a published post or the admins' unmatched list. Order matters: e-mail
# first ("13812345678@163.com" is one address), ID-card and card numbers before phones (they contain
# phone-like runs), labels last, for what no shape above caught. Without a label, separators are allowed only
# between the parts people group a number in, so a list of lab values does not read as one long number.
# A callable returning None keeps the match, and matching resumes one character later.
_SCRUB_PATTERNS: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    # Spaces around "@" or "。" for "." still make an address; so does a big provider without ".com".
    # The look-behind starts the name only where a run of its characters starts: no retrying inside it.
    (_rx(r"""(?<![A-Za-z0-9._%+-]) [A-Za-z0-9._%+-]+ [ \t]*@[ \t]*
             (?: [A-Za-z0-9-]+ (?:[.。][A-Za-z0-9-]+)* [.。][A-Za-z]{2,}
               | (?:qq|163|126|139|yeah|sina|sohu|foxmail|gmail|hotmail|outlook) (?![A-Za-z0-9]) )""",
         re.IGNORECASE), "[邮箱已隐去]"),
    # ID card after "身份证": 18 characters (or an old card's 15 digits) grouped any way.
    (_rx(r"""(身份证(?:号码?)? <is>) \d (?:≈?\d){14} (?:≈?\d ≈?\d ≈?[\dXx])? (?![0-9A-Za-z])"""),
     r"\g<1>[身份证号已隐去]"),
    # ID card without a label: province, birth date YYYYMMDD, sequence, check digit; typed whole, grouped by
    # these parts (6-8-4, 6-4-4-4, 3-3-4-4-4, 6-6-6: a separator inside MMDD only after YYYYMM) or in fours;
    # or any 17 digits and an X, a mistyped one.
    (_rx(r"""(?<![0-9A-Za-z])
             (?: <area>\d ~ \d{3} ~ <year> (?: ~ <mm><dd> | <mm> ~ <dd> ) ~ \d{3} ~ [\dXx]
               | <area>\d\d ~ \d\d(?:19|20) ~ \d\d<mm> ~ <dd>\d\d ~ \d[\dXx]
               | \d{17}[Xx] )
             (?![0-9A-Za-z])"""), "[身份证号已隐去]"),
    # Bank and insurance cards: 16-19 digits, or in fours (see _card) but not in a list of values.
    (_rx(r"(?<!\d) (?: \d{16,19} | <alone> \d{4} (?:~\d{4}){3} (?:~\d{3})? </alone> ) (?!\d)"), _card),
    # Old 15-digit ID cards: province, YYMMDD, sequence; typed whole or as 6-6-3 (other groupings only after
    # "身份证": in fours they are too often lab values, "1205 1180 1103 980").
    (_rx(r"(?<![0-9A-Za-z]) <area>\d{4} ~ \d\d<mm><dd> ~ \d{3} (?![0-9A-Za-z])"), "[身份证号已隐去]"),
    # Mobiles: 3-4-4 digits, maybe after +86 / 0086 / (+86). Landlines: area code (maybe bracketed, or after
    # +86 without its 0), then 7-8 digits, maybe as 3-4 + 4; not in a list of values.
    (_rx(r"""(?<!\d)
             (?: (?:[(（]?(?:\+|00)?86[)）]?~)? 1[3-9]\d~\d{4}~\d{4}
               | <alone> (?: [(（]~0\d{2,3}~[)）] | 0\d{2,3} | (?:\+|00)86~[(（]?0?[1-9]\d{1,2}[)）]? )
                 ~ (?:\d{7,8} | \d{3,4}~\d{4}) </alone> )
             (?!\d)"""), "[电话已隐去]"),
    # Passports and permits after their label: up to two letters and 7-10 digits ("港澳通行证 C1234567").
    (_rx(r"""((?:护照|通行证|回乡证|台胞证|旅行证|证件)(?:号码?)? <is>) [A-Za-z]{0,2}\d{7,10} (?![0-9A-Za-z])""",
         re.IGNORECASE), r"\g<1>[证件号已隐去]"),
    # Without a label only Chinese passports' own shapes, E or G and 8 digits (see _passport), or E, a letter,
    # 7 digits; other letters and 8 digits are as often sample or lot numbers ("S20240312 标本").
    (_rx(r"(?<![0-9A-Za-z]) (?: [EG]\d{8} | E[A-Z]\d{7} ) (?![0-9A-Za-z])", re.IGNORECASE), _passport),
    # After "电话", "手机"…: digits in groups of three or more, or one at a time ("1 3 8 1 2 …"; see _labeled_phone).
    (_rx(r"""((?:电话|手机|座机|联系方式)(?:号码?)? <is>) (?: \d{3,}(?:≈\d{3,})* | \d(?:≈\d){6,} ) (?!\d)"""),
     _labeled_phone),
    # Hospital, card and account numbers known by their label, which stays so the question still reads.
    # At least five characters, or groups of three or more digits, so "医保卡 2024年办的" stays.
    (_rx(r"""((?: (?:住院|病历|病案|门诊|急诊|就诊|就诊卡|诊疗卡|医保卡?|社保卡?|银行卡|卡|身份证|护照|通行证)号码?
               | (?:就诊|诊疗|门诊|医保|社保|银行)卡 ) <is>)
             (?: [A-Za-z0-9][A-Za-z0-9_-]{4,}(?:~\d{3,})* | \d{3,4}(?:~\d{3,})+ ) (?!\d)""", re.IGNORECASE),
     r"\g<1>[号码已隐去]"),
    # Accounts: the same, but a value starting with letters needs a digit, "_" or "-" in it (WeChat ids do;
    # "微信 group" is a word). A Latin label must end a word ("idiopathic" is no ID, "wxbot" no wx).
    (_rx(r"""((?: 微信号?码? | (?<![A-Za-z])(?:QQ|vx|wx|v信|ID)(?![A-Za-z])号?码? ) <is>)
             (?: (?=[A-Za-z]*[\d_-]) [A-Za-z0-9][A-Za-z0-9_-]{4,}(?:~\d{3,})* | \d{3,4}(?:~\d{3,})+ ) (?!\d)""",
         re.IGNORECASE), r"\g<1>[号码已隐去]"),
)


# Chinese input methods often type digits and Latin letters full-width ("１３８…"); fold those (and the
# characters numbers and e-mail addresses are written with) to ASCII, but keep Chinese punctuation.
_FOLD_FULL_WIDTH = {cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
                                               0xFF20, 0xFF0B, 0xFF0D, 0xFF0E, 0xFF3F)} | {0x3000: 0x20}


def scrub(text: str) -> str:
    """A copy of follower text with phone, ID-card, card, passport and other personal numbers and e-mail hidden."""
    text = text.translate(_FOLD_FULL_WIDTH)
    for pattern, replacement in _SCRUB_PATTERNS:
        text = _sub(pattern, replacement, text)
    return text


def _sub(pattern: re.Pattern[str], replacement: _Replacement, text: str) -> str:
    """`pattern.sub`, but where a callable replacement returns None the text stays and the search goes on from
    the match's next character, as if the pattern had not matched there."""
    if isinstance(replacement, str):
        return pattern.sub(replacement, text)
    parts: list[str] = []
    done = pos = 0
    while (match := pattern.search(text, pos)) is not None:
        new = replacement(match)
        if new is None:
            pos = match.start() + 1
            continue
        parts += (text[done:match.start()], new)
        done = pos = match.end()  # no pattern matches the empty string
    parts.append(text[done:])
    return "".join(parts)
