"""Normalization shared by keywords and messages, and the UTF-8 key the contains/prefix automaton uses.

NFKC (full-width → half-width), casefold, Traditional → Simplified by a per-character table, lone
surrogates (undecodable bytes) → U+FFFD, inner whitespace runs → one space, then surrounding whitespace,
punctuation and symbols (Chinese and ASCII, emoji) are stripped.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, cast

__all__ = ["normalize"]

def _load_t2s() -> dict[int, str]:
    """Single-character Traditional → Simplified pairs from zhconv's zh2Hans table."""
    # Reading zhconv's JSON directly takes ~10 ms; `import zhconv` pulls in pkg_resources (~300 ms).
    spec = importlib.util.find_spec("zhconv")
    table: Mapping[str, str] | None = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            table = json.loads((Path(folder) / "zhcdict.json").read_bytes())["zh2Hans"]
            break
        except (OSError, ValueError, KeyError):
            continue
    if table is None:
        from zhconv import zhconv as _zhconv  # type: ignore[import-untyped, unused-ignore]

        table = cast("Mapping[str, str]", _zhconv.getdict("zh-hans"))
    pairs = {k: v for k, v in table.items() if len(k) == 1 and len(v) == 1 and k != v}
    # Follow chains to a fixpoint so that normalize() is idempotent with a single translate pass.
    for k, v in pairs.items():
        seen = {k}
        while v in pairs and v not in seen:
            seen.add(v)
            v = pairs[v]
        pairs[k] = v
    return {ord(k): v for k, v in pairs.items()}


def _strip_set() -> frozenset[str]:
    """Characters removed from both ends: whitespace, punctuation, symbols such as emoji and '~'."""
    chars = {"~"} | {chr(cp) for cp in range(0xFE00, 0xFE10)}  # + emoji variation selectors
    for block in (range(0x10000), range(0x1F000, 0x1FB00), range(0xE0000, 0xE0080)):
        for cp in block:
            ch = chr(cp)
            cat = unicodedata.category(ch)
            # Sm/Sc stay ("+", "<", "¥" can carry meaning); "~" above is the one everyone types.
            if cat[0] in "PZ" or cat in ("So", "Sk", "Cc", "Cf") or ch.isspace():
                chars.add(ch)
    return frozenset(chars)


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character class for `codepoints`, consecutive runs written as ranges."""
    parts: list[str] = []
    run: list[int] = []
    for cp in sorted(codepoints):
        if run and cp == run[-1] + 1:
            run.append(cp)
            continue
        if run:
            parts.append(re.escape(chr(run[0])) + ("-" + re.escape(chr(run[-1])) if len(run) > 1 else ""))
        run = [cp]
    if run:
        parts.append(re.escape(chr(run[0])) + ("-" + re.escape(chr(run[-1])) if len(run) > 1 else ""))
    return "[" + "".join(parts) + "]"


# The table gives up zhconv's phrase-level rules (~460 phrases such as 乾隆, 么二三 where zhconv
# keeps or remaps a character by context); both sides are normalized alike, so matching only
# suffers if a keyword depends on such a distinction. Medical vocabulary converts per character.
# Lone surrogates (bytes that were not UTF-8, e.g. a shell argument decoded with surrogateescape)
# become U+FFFD through the same table, so normalized text always encodes as UTF-8.
_SURROGATES: Final = range(0xD800, 0xE000)
_T2S: Final = {**_load_t2s(), **dict.fromkeys(_SURROGATES, "\ufffd")}
_STRIP: Final = _strip_set()
# translate() costs ~50 ns per CJK character; a C-level search skips it for Simplified text. sre
# is slow on classes listing astral characters, so any astral character just triggers translate().
_TRAD_RE: Final = re.compile(_char_class(k for k in _T2S if k < 0x10000)[:-1] + "\U00010000-\U0010ffff]")
# Full-width punctuation that Chinese keyboards emit: NFKC's own mappings, applied with replace()
# so that the C quick check usually finds the text normalized and skips a full NFKC (~6 µs).
_COMMON_NFKC: Final = tuple((ch, unicodedata.normalize("NFKC", ch)) for ch in "，！？：；（）～\u3000")


def normalize(text: str) -> str:
    """Canonical form for matching: NFKC, casefold, Simplified, single spaces, no edge punctuation."""
    if text.isascii():
        s = text.casefold()  # NFKC and the Traditional table leave ASCII alone
    else:
        s = text
        for full, half in _COMMON_NFKC:
            if full in s:
                s = s.replace(full, half)
        if not unicodedata.is_normalized("NFKC", s):
            s = unicodedata.normalize("NFKC", s)
        s = s.casefold()
        if _TRAD_RE.search(s) is not None:
            s = s.translate(_T2S)
    s = " ".join(s.split())
    i, j = 0, len(s)
    while i < j and s[i] in _STRIP:
        i += 1
    while j > i and s[j - 1] in _STRIP:
        j -= 1
    return s[i:j]


_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    """True if `text` holds a lone surrogate (not valid Unicode text, cannot be sent as UTF-8)."""
    return _SURROGATE_RE.search(text) is not None


def _fold_char(ch: str) -> str:
    """What one character becomes inside a normalized message (no edge stripping)."""
    if ch.isspace():
        return " "
    return unicodedata.normalize("NFKC", ch).casefold().translate(_T2S)



def _utf8_key(s: str) -> str:
    """`s` as UTF-8 bytes spelled as code points 0-255, the alphabet of the automaton."""
    # pyahocorasick scans a trie node's children linearly; on raw CJK the root would have thousands
    # (3 µs at 10 keywords, 40 µs at 100k for a 50-character message). On UTF-8 bytes a node has at
    # most ~64 children, and since UTF-8 is self-synchronizing a byte match is a character match.
    # normalize() leaves no lone surrogate; surrogatepass (here and in _char_span) is a second guard.
    return s if s.isascii() else s.encode("utf-8", "surrogatepass").decode("latin-1")
