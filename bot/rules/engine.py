"""Admin keyword rules: validate them, compile them once per version, pick the reply for a message.

Normalization (keywords and messages alike): NFKC (full-width → half-width), casefold, Traditional →
Simplified by a per-character table, lone surrogates (undecodable bytes) → U+FFFD, inner whitespace
runs → one space, then surrounding whitespace, punctuation and symbols (Chinese and ASCII, emoji) are
stripped.
Matching: "exact" = the whole normalized message (dict lookup); "contains"/"prefix" = one
Aho-Corasick automaton over every rule (prefix = occurrence at position 0); "regex" = a search with
the `regex` package on the first REGEX_TEXT_CHARS characters of the normalized text, tried last, so
its cost grows with the number of regex rules. Each regex search has a budget of
REGEX_TIMEOUT_SECONDS: past it the rule does not match and a warning names the rule (never the
message). Validation refuses the shapes that backtrack badly (see _backtrack_risk) besides.
Contains/prefix keywords are keyed on UTF-8 bytes (see _utf8_key) to keep the cost flat in size.
Click: the menu EventKey is matched like text. Subscribe: a rule whose inputs are only {"subscribe"}
and whose keywords are "*" (or empty) matches every subscribe; other rules with "subscribe" in
inputs match their keywords against the QR scene ("qrscene_" stripped).
Winner, when several rules match: urgent first; higher priority; mode exact > prefix > contains >
regex > "*"; longer keyword (regex: longer match); earlier position; lower rule id (lexical).
Disabled, out-of-window and wrong-input rules are dropped before ranking, so a lower rule can win.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import re
import unicodedata
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# No stubs; the project's mypy config may already ignore them, hence unused-ignore.
import ahocorasick  # type: ignore[import-not-found, unused-ignore]
import regex  # type: ignore[import-untyped, unused-ignore]  # stubs: types-regex, not installed

if TYPE_CHECKING:
    import sre_constants as _sre_constants
    import sre_parse as _sre_parser
else:  # the sre_* aliases warn on import since 3.11; re._parser is the same module
    from re import _constants as _sre_constants
    from re import _parser as _sre_parser

__all__ = [
    "DEFAULT_TIMEZONE",
    "REGEX_TEXT_CHARS",
    "REGEX_TIMEOUT_SECONDS",
    "RESERVED_IDS",
    "Answer",
    "AnswerKind",
    "CompiledRules",
    "InputKind",
    "MatchMode",
    "Rule",
    "RuleError",
    "RuleMatch",
    "TimeWindow",
    "Topic",
    "compile_rules",
    "normalize",
    "parse_rule",
    "parse_rules",
    "rule_to_dict",
    "validate_rules",
]

MatchMode = Literal["exact", "contains", "prefix", "regex"]
InputKind = Literal["text", "voice", "click", "subscribe"]
AnswerKind = Literal["article", "survey", "text", "help"]

MATCH_MODES: Final[tuple[MatchMode, ...]] = get_args(MatchMode)
INPUT_KINDS: Final[tuple[InputKind, ...]] = get_args(InputKind)
ANSWER_KINDS: Final[tuple[AnswerKind, ...]] = get_args(AnswerKind)

DEFAULT_INPUTS: Final[frozenset[InputKind]] = frozenset(("text", "voice"))
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
WILDCARD: Final = "*"
QR_SCENE_PREFIX: Final = "qrscene_"  # WeChat prefixes the scene of a subscribe-by-QR EventKey

MAX_KEYWORDS: Final = 1000
MAX_KEYWORD_CHARS: Final = 64
MAX_REGEX_CHARS: Final = 200
MAX_NAME_CHARS: Final = 64
MAX_REPLY_BYTES: Final = 2047  # WeChat's passive text reply limit, UTF-8
# Regex rules run on the request thread: each search gets this budget per message (past it the rule
# does not match) and sees at most the first REGEX_TEXT_CHARS characters of the normalized message.
REGEX_TIMEOUT_SECONDS: Final = 0.05
REGEX_TEXT_CHARS: Final = 1000
# Fields the built-in handlers count in the same per-day stats hash as rule hits (store.hit_effect
# "rules" in handlers/help_menu.py, welcome.py, fallback.py): a rule with such an id would be
# counted together with them. Keep in step with those handlers.
RESERVED_IDS: Final = frozenset({"help", "welcome", "unmatched"})
_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HOURS_RE: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))")

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Normalization


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


# --------------------------------------------------------------------------------------------------
# Model


def _parse_hours(hours: str | None, tz: str) -> tuple[int, int, ZoneInfo] | None:
    """(start minute, end minute, zone) for a valid "HH:MM-HH:MM", else None."""
    if hours is None:
        return None
    m = _HOURS_RE.fullmatch(hours)
    if m is None:
        return None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    h1, m1, h2, m2, h24, _ = m.groups()
    end = 24 * 60 if h24 else int(h2) * 60 + int(m2)
    return int(h1) * 60 + int(m1), end, zone


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """When a rule may fire: instants in [start, end) and/or daily local hours "HH:MM-HH:MM"."""

    start: datetime | None = None
    end: datetime | None = None
    hours: str | None = None  # half-open, wraps midnight when start > end ("22:00-06:00")
    timezone: str = DEFAULT_TIMEZONE  # zone in which `hours` is read
    _daily: tuple[int, int, ZoneInfo] | None = field(
        init=False, default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_daily", _parse_hours(self.hours, self.timezone))

    def contains(self, now: datetime) -> bool:
        """True if the timezone-aware instant `now` falls inside the window."""
        if self.start is not None and now < self.start:
            return False
        if self.end is not None and now >= self.end:
            return False
        daily = self._daily
        if daily is None:
            return True
        lo, hi, zone = daily
        local = now.astimezone(zone)
        minute = local.hour * 60 + local.minute
        return lo <= minute < hi if lo < hi else (minute >= lo or minute < hi)


@dataclass(frozen=True, slots=True)
class Answer:
    """What to send: an article card, the survey link, one of several texts, or the help menu."""

    kind: AnswerKind
    article_id: str | None = None
    texts: tuple[str, ...] = ()

    def choose_text(
        self, choice: random.Random | Callable[[Sequence[str]], str] | None = None
    ) -> str:
        """One of `texts`, picked by `choice` (a seeded Random or a chooser) for deterministic tests."""
        if not self.texts:
            raise ValueError(f"answer of kind {self.kind!r} has no texts")
        if choice is None:
            return random.choice(self.texts)
        if isinstance(choice, random.Random):
            return choice.choice(self.texts)
        return choice(self.texts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One admin rule: when a message matches one of `keywords` (per `match`), send `answer`."""

    id: str
    name: str
    keywords: tuple[str, ...]
    match: MatchMode = "contains"
    priority: int = 0
    enabled: bool = True
    window: TimeWindow | None = None
    answer: Answer
    inputs: frozenset[InputKind] = DEFAULT_INPUTS
    urgent: bool = False

    @property
    def is_wildcard(self) -> bool:
        """Subscribe-only rule with no keywords or "*": matches every subscribe."""
        return self.inputs == {"subscribe"} and self.keywords in ((), (WILDCARD,))


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The winning rule, the keyword as written (or the regex, or "*"), and where it matched."""

    rule: Rule
    keyword: str
    input_kind: InputKind
    span: tuple[int, int]  # indices into `text`
    text: str  # the normalized message

    @property
    def matched(self) -> str:
        """The matched substring of the normalized message."""
        return self.text[self.span[0] : self.span[1]]


@dataclass(frozen=True, slots=True)
class Topic:
    """An entry of the generated help/welcome menu."""

    rule_id: str
    name: str
    keywords: tuple[str, ...]


class RuleError(ValueError):
    """Invalid rules; `errors` lists every problem, each prefixed with its field path."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        if len(self.errors) == 1:
            message = self.errors[0]
        else:
            message = f"{len(self.errors)} errors:\n" + "\n".join("  " + e for e in self.errors)
        super().__init__(message)


# --------------------------------------------------------------------------------------------------
# Regex safety: a conservative walk over the sre parse tree
#
# Exponential backtracking needs a repeat whose body can match the same text in several ways. We
# refuse (1) any variable-length quantifier (?, *, +, {m,n}) inside a group repeated more than once:
# (a+)+, (?:a+){16}, (\d+\.?){8}, (.*,){12}, also the harmless (ab?)*; an optional group such as
# (\.\d+)? and fixed counts inside a repeat such as (\d{3}-)+ stay allowed; (2) inside a repeat
# allowing more than _BIG_REPEAT iterations, any alternation whose branches can start with the same
# character or match empty: (a|aa)+, (a|ab)+; classes such as \d, [^x] and . count as "any
# character". Adjacent unbounded repeats are polynomial, but .*.*.*.*x on 1,000 characters is
# 10^12 steps: (3) more than _MAX_UNBOUNDED unbounded quantifiers along one alternative are refused.
# Some safe patterns are refused too: admins can rewrite them, a stuck worker is worse. Matching has
# a time budget besides (REGEX_TIMEOUT_SECONDS), for whatever this walk misses.

_REPEATS: Final = frozenset(
    (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT, _sre_constants.POSSESSIVE_REPEAT)
)
_BIG_REPEAT: Final = 16  # repeats allowing more iterations than this count as unbounded
_MAX_UNBOUNDED: Final = 2  # unbounded quantifiers allowed along one alternative (.*x\d+ is fine)
_ANY_FIRST: Final = None  # "could start with any character"


def _compile_regex(pattern: str) -> Any:
    """A regex keyword compiled for matching: the `regex` package (its searches take a timeout)."""
    return regex.compile(pattern, regex.V0)  # V0: the same syntax and semantics as `re`


# A brace that opens no {m,n} repeat (fuzzy matching in `regex`), or a POSIX class: two engines, two readings.
_TWO_READINGS: Final = re.compile(r"(?<!\\)\{(?![\d,])|\[:\^?[A-Za-z]+:\]")


def _required_chars(pattern: str) -> frozenset[str] | None:
    """Characters of which every match must contain one, or None if that cannot be told.

    A search with a timeout costs ~1.7 µs even on a miss; most messages contain none of these
    characters, so most searches are skipped with one set test.
    """
    if _TWO_READINGS.search(pattern):
        return None  # read differently by the `regex` package that matches: always search
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            tree = _sre_parser.parse(pattern)
    except Exception:  # syntax only the `regex` package knows: always search
        return None
    if tree.state.flags & (re.IGNORECASE | re.LOCALE):
        return None  # a literal may then match another character

    def sequence(items: Any) -> frozenset[str] | None:
        for op, av in items:  # the first mandatory item that names characters is enough
            found = item(op, av)
            if found is not None:
                return found
        return None

    def item(op: Any, av: Any) -> frozenset[str] | None:
        if op is _sre_constants.LITERAL:
            return frozenset(chr(av))
        if op is _sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            return None if add_flags or del_flags else sequence(sub)
        if op is _sre_constants.ATOMIC_GROUP:
            return sequence(av)
        if op in _REPEATS:
            low, _high, sub = av
            return sequence(sub) if low >= 1 else None
        if op is _sre_constants.IN:  # a class of plain characters ([发低高]), not negated or ranges
            if all(iop is _sre_constants.LITERAL for iop, _ in av):
                return frozenset(chr(c) for _, c in av)
            return None
        if op is _sre_constants.BRANCH:
            branches = [sequence(b) for b in av[1]]
            if any(b is None for b in branches):
                return None
            return frozenset().union(*cast("list[frozenset[str]]", branches))
        return None  # classes, any, anchors, lookarounds: no character is certain

    return sequence(tree)


def _first_chars(items: Iterable[Any], ic: bool) -> tuple[frozenset[int] | None, bool]:
    """Characters a sequence can start with (None = unknown/any) and whether it can match empty."""
    acc: set[int] = set()
    for op, av in items:
        if op is _sre_constants.LITERAL:
            acc.add(av)
            if ic:
                acc.update((ord(chr(av).lower()[0]), ord(chr(av).upper()[0])))
            return frozenset(acc), False
        if op is _sre_constants.IN:
            chars: set[int] = set()
            for iop, iav in av:
                if iop is _sre_constants.LITERAL:
                    chars.add(iav)
                elif iop is _sre_constants.RANGE and iav[1] - iav[0] <= 1024:
                    chars.update(range(iav[0], iav[1] + 1))
                else:  # NEGATE, CATEGORY, huge ranges: assume anything
                    return _ANY_FIRST, False
            if ic:
                return _ANY_FIRST, False
            return frozenset(acc | chars), False
        if op in (_sre_constants.AT, _sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            continue  # zero-width
        if op is _sre_constants.SUBPATTERN or op is _sre_constants.ATOMIC_GROUP:
            sub = av[3] if op is _sre_constants.SUBPATTERN else av
            first, nullable = _first_chars(sub, ic)
        elif op is _sre_constants.BRANCH:
            first, nullable = frozenset(), False
            for branch in av[1]:
                f, n = _first_chars(branch, ic)
                first = None if f is None or first is None else first | f
                nullable = nullable or n
        elif op in _REPEATS:
            first, nullable = _first_chars(av[2], ic)
            nullable = nullable or av[0] == 0
        else:  # ANY, NOT_LITERAL, GROUPREF, GROUPREF_EXISTS, ...
            return _ANY_FIRST, False
        if first is None:
            return _ANY_FIRST, False
        acc |= first
        if not nullable:
            return frozenset(acc), False
    return frozenset(acc), True


def _branches_overlap(branches: Sequence[Any], ic: bool) -> bool:
    """True if two alternatives can start with the same character (or either can be empty)."""
    firsts = [_first_chars(b, ic) for b in branches]
    for i, (fi, ni) in enumerate(firsts):
        for fj, nj in firsts[i + 1 :]:
            if ni or nj or fi is None or fj is None or fi & fj:
                return True
    return False


def _backtrack_risk(items: Iterable[Any], in_big: bool, in_repeat: bool, ic: bool) -> str | None:
    """Why this (sub)pattern could backtrack exponentially, or None if it looks safe.

    `in_repeat`: inside a group that may repeat more than once; `in_big`: more than _BIG_REPEAT times.
    """
    for op, av in items:
        if op in _REPEATS:
            lo, hi, body = av
            if in_repeat and lo != hi:
                return (
                    "a quantifier inside a repeated group, like (a+)+, (\\d+\\.?){8} or (.*,){12} "
                    "(repeat only fixed text, like (ab)+ or (\\d{3}-)+)"
                )
            big = hi == _sre_constants.MAXREPEAT or hi > _BIG_REPEAT
            reason = _backtrack_risk(body, in_big or big, in_repeat or hi > 1, ic)
        elif op is _sre_constants.BRANCH:
            if in_big and _branches_overlap(av[1], ic):
                return "an unbounded repeat over alternatives that can start alike, like (a|ab)+"
            reason = next((r for b in av[1] if (r := _backtrack_risk(b, in_big, in_repeat, ic))), None)
        elif op is _sre_constants.GROUPREF_EXISTS:
            if in_big:
                return "a conditional group inside an unbounded repeat"
            arms = [av[1]] if av[2] is None else [av[1], av[2]]
            reason = next((r for b in arms if (r := _backtrack_risk(b, in_big, in_repeat, ic))), None)
        elif op is _sre_constants.SUBPATTERN:
            reason = _backtrack_risk(av[3], in_big, in_repeat, ic or bool(av[1] & re.IGNORECASE))
        elif op is _sre_constants.ATOMIC_GROUP:
            reason = _backtrack_risk(av, in_big, in_repeat, ic)
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            reason = _backtrack_risk(av[1], in_big, in_repeat, ic)
        else:
            reason = None
        if reason:
            return reason
    return None


def _unbounded_run(items: Iterable[Any]) -> int:
    """The most unbounded quantifiers (*, +, {n,}, more than _BIG_REPEAT) along one alternative."""
    count = 0
    for op, av in items:
        if op in _REPEATS:
            count += av[1] == _sre_constants.MAXREPEAT or av[1] > _BIG_REPEAT
            count += _unbounded_run(av[2])
        elif op is _sre_constants.BRANCH:
            count += max((_unbounded_run(b) for b in av[1]), default=0)
        elif op is _sre_constants.GROUPREF_EXISTS:
            count += max(_unbounded_run(av[1]), _unbounded_run(av[2]) if av[2] is not None else 0)
        elif op is _sre_constants.SUBPATTERN:
            count += _unbounded_run(av[3])
        elif op is _sre_constants.ATOMIC_GROUP:
            count += _unbounded_run(av)
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            count += _unbounded_run(av[1])
    return count


def _dead_literal(items: Iterable[Any], ic: bool) -> tuple[str, str] | None:
    """A literal that normalized text can never contain (e.g. 問, Ａ), with its normalized form."""
    for op, av in items:
        if op is _sre_constants.LITERAL:
            ch = chr(av)
            folded = _fold_char(ch)
            if folded != ch and not (ic and folded == ch.casefold()):
                return ch, folded
        elif op in _REPEATS:
            found = _dead_literal(av[2], ic)
            if found:
                return found
        elif op is _sre_constants.SUBPATTERN:
            found = _dead_literal(av[3], ic or bool(av[1] & re.IGNORECASE))
            if found:
                return found
        elif op is _sre_constants.ATOMIC_GROUP or op is _sre_constants.ASSERT:
            found = _dead_literal(av if op is _sre_constants.ATOMIC_GROUP else av[1], ic)
            if found:
                return found
        elif op is _sre_constants.BRANCH:
            for branch in av[1]:
                found = _dead_literal(branch, ic)
                if found:
                    return found
    return None


def _regex_errors(pattern: str, path: str) -> list[str]:
    """Problems with one regex keyword: length, syntax, catastrophic backtracking, dead literals."""
    if len(pattern) > MAX_REGEX_CHARS:
        return [f"{path}: regex longer than {MAX_REGEX_CHARS} characters ({len(pattern)})"]
    if _has_surrogate(pattern):
        return [f"{path}: contains characters that are not valid text (lone surrogates)"]
    # The checks below (and the prefilter in front of searches) read the standard library's parse tree,
    # while matching uses the `regex` package: syntax the two read differently is refused.
    if _TWO_READINGS.search(pattern):
        return [f"{path}: POSIX classes like [[:digit:]] and fuzzy matching like {{e<=1}} are not supported; "
                "write [0-9] or list the variants, and \\{ for a literal brace"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # "possible nested set": read differently later
            re.compile(pattern)  # the safety walk below reads sre's parse tree, so sre must accept it
        tree = _sre_parser.parse(pattern)
        compiled = _compile_regex(pattern)  # what matching uses
    except FutureWarning as exc:
        return [f"{path}: regex is ambiguous ({exc}); escape [ and ] meant literally"]
    except (re.error, regex.error, OverflowError, RecursionError) as exc:  # OverflowError: a{99999999999}
        return [f"{path}: regex does not compile: {exc}"]
    ic = bool(tree.state.flags & re.IGNORECASE)
    risk = _backtrack_risk(tree.data, False, False, ic)
    if risk is None and (run := _unbounded_run(tree.data)) > _MAX_UNBOUNDED:
        risk = (
            f"{run} unbounded quantifiers (*, +, {{n,}} or more than {_BIG_REPEAT} repeats) in one "
            f"pattern; at most {_MAX_UNBOUNDED} are allowed (alternatives count apart), like 肌酐.*\\d+"
        )
    if risk:
        return [f"{path}: regex could backtrack catastrophically: {risk}"]
    if compiled.search("") is not None:
        return [f"{path}: regex matches the empty string, so it would match every message"]
    dead = _dead_literal(tree.data, ic)
    if dead:
        ch, folded = dead
        return [
            f"{path}: regex literal {ch!r} never occurs in normalized text "
            f"(regexes see NFKC, lower-case, Simplified text: write {folded!r})"
        ]
    return []


# --------------------------------------------------------------------------------------------------
# Validation of rules already built (used by parse_rule and compile_rules)


def _keyword_errors(
    keywords: Sequence[str], mode: MatchMode, inputs: Collection[str], where: str
) -> list[str]:
    errors: list[str] = []
    path = f"{where}.keywords"
    subscribe_only = set(inputs) == {"subscribe"}
    if len(keywords) > MAX_KEYWORDS:
        errors.append(f"{path}: too many keywords ({len(keywords)} > {MAX_KEYWORDS})")
    if not keywords:
        if not subscribe_only:
            errors.append(f"{path}: must not be empty (only subscribe-only rules may omit keywords)")
        return errors
    seen: dict[str, int] = {}
    for i, kw in enumerate(keywords):
        kpath = f"{path}[{i}]"
        if kw == WILDCARD:
            if not subscribe_only:
                errors.append(f"{kpath}: '*' is only allowed in rules whose inputs are [subscribe]")
            elif len(keywords) > 1:
                errors.append(f"{kpath}: '*' must be the only keyword")
            continue
        if mode == "regex":
            errors.extend(_regex_errors(kw, kpath))
            continue
        if len(kw) > MAX_KEYWORD_CHARS:
            errors.append(f"{kpath}: longer than {MAX_KEYWORD_CHARS} characters ({len(kw)})")
            continue
        if _has_surrogate(kw):
            errors.append(f"{kpath}: contains characters that are not valid text (lone surrogates)")
            continue
        norm = normalize(kw)
        if not norm:
            errors.append(f"{kpath}: {kw!r} normalizes to an empty string")
        elif norm in seen:
            errors.append(f"{kpath}: same as keywords[{seen[norm]}] after normalization ({norm!r})")
        else:
            seen[norm] = i
    return errors


def _window_errors(window: TimeWindow, path: str) -> list[str]:
    errors: list[str] = []
    for name, value in (("start", window.start), ("end", window.end)):
        if value is not None and value.utcoffset() is None:
            errors.append(f"{path}.{name}: must include a timezone, e.g. 2025-01-01T08:00:00+08:00")
    if window.start is None and window.end is None and window.hours is None:
        errors.append(f"{path}: set at least one of start, end, hours")
    start, end = window.start, window.end
    if start and end and start.utcoffset() is not None and end.utcoffset() is not None and end <= start:
        errors.append(f"{path}.end: must be after start ({start.isoformat()})")
    try:
        ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"{path}.timezone: unknown timezone {window.timezone!r}")
        return errors
    if window.hours is not None:
        daily = _parse_hours(window.hours, window.timezone)
        if daily is None:
            errors.append(
                f"{path}.hours: must look like '08:00-17:30' (24-hour HH:MM), got {window.hours!r}"
            )
        elif daily[0] == daily[1]:
            errors.append(f"{path}.hours: start equals end, the window would be empty")
    return errors


def _answer_errors(answer: Answer, path: str, article_ids: Collection[str] | None) -> list[str]:
    if answer.kind not in ANSWER_KINDS:
        expected = ", ".join(ANSWER_KINDS)
        return [f"{path}.kind: unknown answer kind {answer.kind!r} (expected one of {expected})"]
    errors: list[str] = []
    if answer.kind == "article":
        if not answer.article_id:
            errors.append(f"{path}.article_id: required when kind is 'article'")
        elif article_ids is not None and answer.article_id not in article_ids:
            errors.append(f"{path}.article_id: unknown article {answer.article_id!r}")
    elif answer.article_id is not None:
        errors.append(f"{path}.article_id: only allowed when kind is 'article'")
    if answer.kind == "text":
        if not answer.texts:
            errors.append(f"{path}.texts: must not be empty when kind is 'text'")
        for i, text in enumerate(answer.texts):
            size = len(text.encode("utf-8", "surrogatepass"))
            if _has_surrogate(text):
                errors.append(f"{path}.texts[{i}]: contains characters that are not valid text (lone surrogates)")
            elif not text.strip():
                errors.append(f"{path}.texts[{i}]: must not be empty")
            elif size > MAX_REPLY_BYTES:
                errors.append(
                    f"{path}.texts[{i}]: {size} bytes in UTF-8, "
                    f"WeChat passive replies allow at most {MAX_REPLY_BYTES}"
                )
    elif answer.texts:
        errors.append(f"{path}.texts: only allowed when kind is 'text'")
    return errors


def _urgent_errors(rule: Rule, where: str, urgent_overhead: int) -> list[str]:
    """An urgent rule's reply is a text wrapped with care guidance and the contact: it must fit."""
    if not rule.urgent:
        return []
    path = f"{where}.answer"
    if rule.answer.kind != "text":
        return [
            f"{path}.kind: urgent rules must answer with kind 'text' (the urgent reply wraps a text "
            f"with care guidance and the department's contact), got {rule.answer.kind!r}"
        ]
    budget = MAX_REPLY_BYTES - urgent_overhead
    errors: list[str] = []
    for i, text in enumerate(rule.answer.texts):
        size = len(text.encode("utf-8", "surrogatepass"))
        if budget < size <= MAX_REPLY_BYTES:  # longer texts are reported by _answer_errors
            errors.append(
                f"{path}.texts[{i}]: {size} bytes in UTF-8; urgent replies add {urgent_overhead} bytes "
                f"of guidance and the department's contact, so urgent texts allow at most {budget}"
            )
    return errors


def _core_errors(rule: Rule, where: str) -> list[str]:
    """Id, name, match mode, inputs and keywords (window and answer are checked separately)."""
    errors: list[str] = []
    if not _ID_RE.fullmatch(rule.id):
        errors.append(f"{where}.id: {rule.id!r} must match [a-z0-9][a-z0-9_-]{{0,63}}")
    elif rule.id in RESERVED_IDS:
        reserved = ", ".join(sorted(RESERVED_IDS))
        errors.append(
            f"{where}.id: {rule.id!r} is reserved: the daily statistics count the built-in replies "
            f"under {reserved}; choose another id"
        )
    if not rule.name.strip():
        errors.append(f"{where}.name: must not be empty")
    elif len(rule.name) > MAX_NAME_CHARS:
        errors.append(f"{where}.name: longer than {MAX_NAME_CHARS} characters")
    inputs_ok = False
    bad_inputs = sorted(k for k in rule.inputs if k not in INPUT_KINDS)
    if bad_inputs:
        expected = ", ".join(INPUT_KINDS)
        errors.append(f"{where}.inputs: unknown input kind {bad_inputs[0]!r} (expected {expected})")
    elif not rule.inputs:
        errors.append(f"{where}.inputs: must not be empty")
    else:
        inputs_ok = True
    if rule.match not in MATCH_MODES:
        expected = ", ".join(MATCH_MODES)
        errors.append(f"{where}.match: unknown match mode {rule.match!r} (expected one of {expected})")
    elif inputs_ok:
        errors.extend(_keyword_errors(rule.keywords, rule.match, rule.inputs, where))
    return errors


def _rule_errors(
    rule: Rule, where: str, article_ids: Collection[str] | None, urgent_overhead: int
) -> list[str]:
    errors = _core_errors(rule, where)
    if rule.window is not None:
        errors.extend(_window_errors(rule.window, f"{where}.window"))
    answer_errors = _answer_errors(rule.answer, f"{where}.answer", article_ids)
    errors.extend(answer_errors)
    if not answer_errors:
        errors.extend(_urgent_errors(rule, where, urgent_overhead))
    return errors


def validate_rules(
    rules: Sequence[Rule], *, article_ids: Collection[str] | None = None, urgent_overhead: int = 0
) -> list[str]:
    """Every problem in `rules` (duplicate ids included); article ids are checked only if given.

    `urgent_overhead`: the UTF-8 bytes the urgent reply adds around an urgent rule's text (care
    guidance and the department's contact, see bot.rules.urgent); the rules module
    cannot know it, so without it urgent texts are held to the plain 2047-byte limit only.
    RuleSet passes it for the account's config.
    """
    errors: list[str] = []
    first: dict[str, int] = {}
    for i, rule in enumerate(rules):
        errors.extend(_rule_errors(rule, f"rules[{i}]", article_ids, urgent_overhead))
        if rule.id in first:
            errors.append(f"rules[{i}].id: duplicate id {rule.id!r} (also rules[{first[rule.id]}])")
        else:
            first[rule.id] = i
    return errors


# --------------------------------------------------------------------------------------------------
# Plain dicts (YAML/JSON) <-> rules

_RULE_FIELDS: Final = (
    "id", "name", "keywords", "match", "priority", "enabled", "window", "answer", "inputs", "urgent"
)
_WINDOW_FIELDS: Final = ("start", "end", "hours", "timezone")
_ANSWER_FIELDS: Final = ("kind", "article_id", "texts")
_MISSING: Final = object()
_TYPE_NAMES: Final[dict[type[Any], str]] = {
    str: "a string", int: "an integer", bool: "true or false"
}


def _unknown_fields(data: Mapping[Any, Any], allowed: Sequence[str], path: str) -> list[str]:
    expected = ", ".join(allowed)
    return [f"{path}.{k}: unknown field (expected one of {expected})" for k in data if k not in allowed]


def _field(
    data: Mapping[Any, Any], key: str, kind: type[Any], default: Any, path: str, errors: list[str]
) -> Any:
    """data[key] if it is a `kind` (a bool is not an int here); `default` if absent."""
    if key not in data:
        if default is _MISSING:
            errors.append(f"{path}.{key}: required")
        return default
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        errors.append(f"{path}.{key}: must be {_TYPE_NAMES[kind]}, got {value!r}")
        return _MISSING
    return value


def _string_list(value: object, path: str, errors: list[str]) -> tuple[str, ...] | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        errors.append(f"{path}: must be a list of strings, got {value!r}")
        return None
    bad = [f"{path}[{i}]: must be a string, got {v!r}" for i, v in enumerate(value) if not isinstance(v, str)]
    errors.extend(bad)
    return None if bad else tuple(value)


def _datetime(value: object, path: str, errors: list[str]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.append(f"{path}: not an ISO 8601 datetime: {value!r}")
            return None
    if not isinstance(value, datetime):  # YAML turns a bare 2025-01-01 into a date
        errors.append(f"{path}: must be a datetime with a timezone, got {value!r}")
        return None
    if value.utcoffset() is None:
        errors.append(f"{path}: must include a timezone, e.g. 2025-01-01T08:00:00+08:00")
        return None
    return value


def _parse_window(value: object, path: str, errors: list[str]) -> TimeWindow | None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be a mapping with start, end, hours, timezone")
        return None
    n = len(errors)
    errors.extend(_unknown_fields(value, _WINDOW_FIELDS, path))
    start = _datetime(value.get("start"), f"{path}.start", errors)
    end = _datetime(value.get("end"), f"{path}.end", errors)
    hours = value.get("hours")
    if hours is not None and not isinstance(hours, str):
        errors.append(f"{path}.hours: must be a string like '08:00-17:30', got {hours!r}")
    tz = value.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(tz, str):
        errors.append(f"{path}.timezone: must be a string like 'Asia/Shanghai', got {tz!r}")
    if len(errors) > n:
        return None
    window = TimeWindow(start=start, end=end, hours=hours, timezone=tz)
    errors.extend(_window_errors(window, path))
    return window if len(errors) == n else None


def _parse_answer(
    value: object, path: str, errors: list[str], article_ids: Collection[str]
) -> Answer | None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be a mapping with kind ({', '.join(ANSWER_KINDS)})")
        return None
    n = len(errors)
    errors.extend(_unknown_fields(value, _ANSWER_FIELDS, path))
    kind = _field(value, "kind", str, _MISSING, path, errors)
    article_id = _field(value, "article_id", str, None, path, errors)
    texts: tuple[str, ...] | None = ()
    if "texts" in value:
        texts = _string_list(value["texts"], f"{path}.texts", errors)
    if len(errors) > n or texts is None:
        return None
    answer = Answer(kind=kind, article_id=article_id, texts=texts)
    errors.extend(_answer_errors(answer, path, article_ids))
    return answer if len(errors) == n else None


def _collect_rule(
    data: object, where: str, article_ids: Collection[str], errors: list[str], urgent_overhead: int = 0
) -> Rule | None:
    """Parse one rule dict, appending every problem to `errors`; None if there was any."""
    if not isinstance(data, Mapping):
        errors.append(f"{where}: must be a mapping, got {type(data).__name__}")
        return None
    n = len(errors)
    errors.extend(_unknown_fields(data, _RULE_FIELDS, where))
    rule_id = _field(data, "id", str, _MISSING, where, errors)
    name = _field(data, "name", str, _MISSING, where, errors)
    mode = _field(data, "match", str, "contains", where, errors)
    priority = _field(data, "priority", int, 0, where, errors)
    enabled = _field(data, "enabled", bool, True, where, errors)
    urgent = _field(data, "urgent", bool, False, where, errors)
    keywords: tuple[str, ...] | None = None
    if "keywords" not in data:
        errors.append(f"{where}.keywords: required")
    else:
        keywords = _string_list(data["keywords"], f"{where}.keywords", errors)
    inputs: tuple[str, ...] | None = tuple(DEFAULT_INPUTS)
    if "inputs" in data:
        inputs = _string_list(data["inputs"], f"{where}.inputs", errors)
    window = None
    if data.get("window") is not None:
        window = _parse_window(data["window"], f"{where}.window", errors)
    answer = None
    if "answer" not in data:
        errors.append(f"{where}.answer: required")
    else:
        answer = _parse_answer(data["answer"], f"{where}.answer", errors, article_ids)
    if len(errors) > n or keywords is None or inputs is None or answer is None:
        return None
    rule = Rule(
        id=rule_id,
        name=name,
        keywords=keywords,
        match=mode,
        priority=priority,
        enabled=enabled,
        window=window,
        answer=answer,
        inputs=frozenset(cast("Iterable[InputKind]", inputs)),
        urgent=urgent,
    )
    errors.extend(_core_errors(rule, where))
    errors.extend(_urgent_errors(rule, where, urgent_overhead))
    return rule if len(errors) == n else None


def parse_rule(
    data: Mapping[str, Any], *, where: str = "rule", article_ids: Collection[str], urgent_overhead: int = 0
) -> Rule:
    """Build a Rule from its YAML/JSON dict; RuleError lists every problem with its field path.

    `urgent_overhead`: see validate_rules().
    """
    errors: list[str] = []
    rule = _collect_rule(data, where, article_ids, errors, urgent_overhead)
    if rule is None:
        raise RuleError(errors)
    return rule


def parse_rules(
    items: Iterable[object], *, article_ids: Collection[str], urgent_overhead: int = 0
) -> list[Rule]:
    """All rules or none: one RuleError lists every problem (duplicate ids included).

    `urgent_overhead`: see validate_rules().
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise RuleError(["rules: must be a list of rules"])
    errors: list[str] = []
    rules: list[Rule] = []
    first: dict[str, int] = {}
    for i, data in enumerate(items):
        where = f"rules[{i}]"
        rule = _collect_rule(data, where, article_ids, errors, urgent_overhead)
        if rule is not None:
            rules.append(rule)
        rule_id = data.get("id") if isinstance(data, Mapping) else None
        if isinstance(rule_id, str):
            if rule_id in first:
                errors.append(f"{where}.id: duplicate id {rule_id!r} (also rules[{first[rule_id]}])")
            else:
                first[rule_id] = i
    if errors:
        raise RuleError(errors)
    return rules


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The YAML/JSON form of `rule` (datetimes as ISO strings); parse_rule() inverts it."""
    data: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "keywords": list(rule.keywords),
        "match": rule.match,
        "priority": rule.priority,
        "enabled": rule.enabled,
    }
    if rule.window is not None:
        w = rule.window
        window: dict[str, Any] = {}
        if w.start is not None:
            window["start"] = w.start.isoformat()
        if w.end is not None:
            window["end"] = w.end.isoformat()
        if w.hours is not None:
            window["hours"] = w.hours
        window["timezone"] = w.timezone
        data["window"] = window
    answer: dict[str, Any] = {"kind": rule.answer.kind}
    if rule.answer.article_id is not None:
        answer["article_id"] = rule.answer.article_id
    if rule.answer.texts:
        answer["texts"] = list(rule.answer.texts)
    data["answer"] = answer
    data["inputs"] = [k for k in INPUT_KINDS if k in rule.inputs]
    data["urgent"] = rule.urgent
    return data


# --------------------------------------------------------------------------------------------------
# Compiled matcher

# A match's rank is one int, smaller = better, so comparing candidates never builds tuples:
#   group(urgent, priority, mode) << 96 | (_LMAX - keyword length) << 64 | position << 32 | id rank
_LMAX: Final = (1 << 32) - 1
_NO_MATCH: Final = 1 << 200
_MODE_RANK: Final[dict[str, int]] = {"exact": 0, "prefix": 1, "contains": 2, "regex": 3, WILDCARD: 4}

# Literal keyword candidate: (base rank, prefix-only, inputs, window, rule, keyword as written,
# UTF-8 length, character length of the normalized keyword)
_Cand = tuple[int, bool, frozenset[InputKind], TimeWindow | None, Rule, str, int, int]
# Regex candidate: (group floor, compiled `regex` pattern, id rank, inputs, window, rule, pattern source,
# characters one of which a match needs, or None)
_RegexCand = tuple[int, Any, int, frozenset[InputKind], TimeWindow | None, Rule, str, frozenset[str] | None]


def _utf8_key(s: str) -> str:
    """`s` as UTF-8 bytes spelled as code points 0-255, the alphabet of the automaton."""
    # pyahocorasick scans a trie node's children linearly; on raw CJK the root would have thousands
    # (3 µs at 10 keywords, 40 µs at 100k for a 50-character message). On UTF-8 bytes a node has at
    # most ~64 children, and since UTF-8 is self-synchronizing a byte match is a character match.
    # normalize() leaves no lone surrogate; surrogatepass (here and in _char_span) is a second guard.
    return s if s.isascii() else s.encode("utf-8", "surrogatepass").decode("latin-1")


def _regex_search(pattern: Any, norm: str, rule: Rule) -> tuple[int, int] | None:
    """Span of a regex rule's match in the capped text; None if none or past the time budget."""
    try:
        m = pattern.search(norm[:REGEX_TEXT_CHARS], timeout=REGEX_TIMEOUT_SECONDS)
    except TimeoutError:
        # The rule id only: the message is a follower's and may be health data.
        log.warning("regex rule %s took longer than %.2f s; treated as no match", rule.id, REGEX_TIMEOUT_SECONDS)
        return None
    return None if m is None else cast("tuple[int, int]", m.span())


def _base(cand: _Cand) -> int:
    return cand[0]


def _check_call(input_kind: str, now: datetime) -> InputKind:
    if input_kind not in INPUT_KINDS:
        expected = ", ".join(INPUT_KINDS)
        raise ValueError(f"unknown input kind {input_kind!r} (expected one of {expected})")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return input_kind  # narrowed to InputKind by the membership test


def _message_text(text: str, kind: InputKind) -> str:
    """The normalized text to match; for subscribe, the QR scene without WeChat's prefix."""
    if kind == "subscribe" and text.startswith(QR_SCENE_PREFIX):
        text = text[len(QR_SCENE_PREFIX) :]
    return normalize(text)


def _char_span(norm: str, key: str, start_byte: int, nchars: int) -> tuple[int, int]:
    """Character span in `norm` of an automaton hit found at `start_byte` of `key`."""
    start = start_byte if key is norm else len(key[:start_byte].encode("latin-1").decode("utf-8", "surrogatepass"))
    return start, start + nchars


class CompiledRules:
    """Every enabled rule of one version, precompiled: one automaton, one exact dict, the regexes."""

    __slots__ = ("_automaton", "_exact", "_regexes", "_wild", "keyword_count", "rules", "version")

    def __init__(self, rules: Sequence[Rule], version: int) -> None:
        """Build the matcher; call compile_rules() instead, which validates first."""
        self.version = version
        self.rules: tuple[Rule, ...] = tuple(rules)
        enabled = [r for r in self.rules if r.enabled]
        id_rank = {rid: i for i, rid in enumerate(sorted(r.id for r in self.rules))}
        modes = {r.id: WILDCARD if r.is_wildcard else r.match for r in enabled}
        groups = sorted({(not r.urgent, -r.priority, _MODE_RANK[modes[r.id]]) for r in enabled})
        group_rank = {g: i for i, g in enumerate(groups)}
        exact: dict[str, list[_Cand]] = {}
        words: dict[str, list[_Cand]] = {}
        regexes: list[_RegexCand] = []
        wild: list[_Cand] = []
        count = 0
        for r in enabled:
            mode = modes[r.id]
            floor = group_rank[(not r.urgent, -r.priority, _MODE_RANK[mode])] << 96
            rank = id_rank[r.id]
            if mode == WILDCARD:
                wild.append((floor | _LMAX << 64 | rank, False, r.inputs, r.window, r, WILDCARD, 0, 0))
                continue
            count += len(r.keywords)
            for kw in r.keywords:
                if mode == "regex":
                    regexes.append((floor, _compile_regex(kw), rank, r.inputs, r.window, r, kw,
                                    _required_chars(kw)))
                    continue
                norm = normalize(kw)
                key = _utf8_key(norm)
                base = floor | (_LMAX - len(norm)) << 64 | rank
                cand = (base, mode == "prefix", r.inputs, r.window, r, kw, len(key), len(norm))
                if mode == "exact":
                    exact.setdefault(norm, []).append(cand)
                else:
                    words.setdefault(key, []).append(cand)
        self.keyword_count = count
        self._exact = {k: tuple(sorted(v, key=_base)) for k, v in exact.items()}
        # Each automaton value lists that keyword's candidates best-first (pyahocorasick stores
        # any Python object), so a hit needs no lookup besides the tuple it returns.
        self._automaton: Any = None
        if words:
            self._automaton = ahocorasick.Automaton()
            for key, cands in words.items():
                self._automaton.add_word(key, tuple(sorted(cands, key=_base)))
            self._automaton.make_automaton()
        self._regexes = tuple(sorted(regexes, key=lambda c: (c[0], c[2])))
        self._wild = tuple(sorted(wild, key=_base))

    def __repr__(self) -> str:
        n = len(self.rules)
        return f"<CompiledRules v{self.version}: {n} rules, {self.keyword_count} keywords>"

    def match(self, text: str, input_kind: str, now: datetime) -> RuleMatch | None:
        """The winning rule for one message (click: the EventKey; subscribe: the scene or "")."""
        kind = _check_call(input_kind, now)
        norm = _message_text(text, kind)
        best = _NO_MATCH
        hit: tuple[Rule, str, int, int] | None = None
        for base, _prefix, inputs, window, rule, kw, _nb, nchars in self._exact.get(norm, ()):
            if kind in inputs and (window is None or window.contains(now)):
                best, hit = base, (rule, kw, 0, nchars)
                break
        if self._automaton is not None:
            key = _utf8_key(norm)
            won: _Cand | None = None
            won_at = 0
            for end, cands in self._automaton.iter(key):
                for cand in cands:
                    base, prefix, inputs, window, _rule, _kw, nbytes, _nc = cand
                    if base >= best:
                        break  # candidates are best-first and the position only adds to a rank
                    start = end - nbytes + 1  # a byte offset: ranks the same as characters
                    if prefix and start:
                        continue
                    if kind not in inputs or (window is not None and not window.contains(now)):
                        continue
                    rank = base | start << 32
                    if rank < best:
                        best, won, won_at = rank, cand, start
                    break
            if won is not None:
                span = _char_span(norm, key, won_at, won[7])
                hit = (won[4], won[5], *span)
        chars: set[str] | None = None
        for floor, pattern, rank, inputs, window, rule, kw, needs in self._regexes:
            if floor > best:
                break  # every remaining regex is in a worse (urgent, priority) group
            if kind not in inputs or (window is not None and not window.contains(now)):
                continue
            if needs is not None:
                if chars is None:
                    chars = set(norm[:REGEX_TEXT_CHARS])
                if needs.isdisjoint(chars):
                    continue  # a character every match needs is absent (match_all() searches regardless)
            found = _regex_search(pattern, norm, rule)
            if found is not None:
                start, end = found
                key_rank = floor | (_LMAX - min(end - start, _LMAX)) << 64 | start << 32 | rank
                if key_rank < best:
                    best, hit = key_rank, (rule, kw, start, end)
        if kind == "subscribe":
            for base, _prefix, inputs, window, rule, kw, _nb, _nc in self._wild:
                if base >= best:
                    break
                if kind in inputs and (window is None or window.contains(now)):
                    best, hit = base, (rule, kw, 0, 0)
                    break
        if hit is None:
            return None
        return RuleMatch(hit[0], hit[1], kind, (hit[2], hit[3]), norm)

    def match_all(self, text: str, input_kind: str, now: datetime) -> list[RuleMatch]:
        """Every eligible rule's best match, winner first (for `rules test` and the console)."""
        kind = _check_call(input_kind, now)
        norm = _message_text(text, kind)
        best: dict[str, tuple[int, RuleMatch]] = {}
        for rank, rule, kw, span in self._all_candidates(norm, kind, now):
            if rule.id not in best or rank < best[rule.id][0]:
                best[rule.id] = (rank, RuleMatch(rule, kw, kind, span, norm))
        return [m for _, m in sorted(best.values(), key=lambda pair: pair[0])]

    def _all_candidates(
        self, norm: str, kind: InputKind, now: datetime
    ) -> Iterator[tuple[int, Rule, str, tuple[int, int]]]:
        """Every eligible occurrence with its rank, unpruned: the reference that match() prunes."""

        def ok(inputs: frozenset[InputKind], window: TimeWindow | None) -> bool:
            return kind in inputs and (window is None or window.contains(now))

        for base, _p, inputs, window, rule, kw, _nb, nchars in self._exact.get(norm, ()):
            if ok(inputs, window):
                yield base, rule, kw, (0, nchars)
        if self._automaton is not None:
            key = _utf8_key(norm)
            for end, cands in self._automaton.iter(key):
                for base, prefix, inputs, window, rule, kw, nbytes, nchars in cands:
                    start = end - nbytes + 1
                    if not (prefix and start) and ok(inputs, window):
                        yield base | start << 32, rule, kw, _char_span(norm, key, start, nchars)
        for floor, pattern, rank, inputs, window, rule, kw, _needs in self._regexes:
            found = _regex_search(pattern, norm, rule) if ok(inputs, window) else None
            if found is not None:
                s, e = found
                yield floor | (_LMAX - min(e - s, _LMAX)) << 64 | s << 32 | rank, rule, kw, (s, e)
        if kind == "subscribe":
            for base, _p, inputs, window, rule, kw, _nb, _nc in self._wild:
                if ok(inputs, window):
                    yield base, rule, kw, (0, 0)

    def topics(self, *, now: datetime | None = None, max_keywords: int = 3) -> list[Topic]:
        """Help-menu entries: enabled, non-urgent, typable keyword rules, highest priority first."""
        picked = [
            r
            for r in self.rules
            if r.enabled
            and not r.urgent
            and r.match != "regex"
            and r.keywords
            and not r.is_wildcard
            and r.inputs & {"text", "voice"}
            and r.answer.kind != "help"
            and (now is None or r.window is None or r.window.contains(now))
        ]
        picked.sort(key=lambda r: -r.priority)  # stable: equal priorities keep the admin's order
        return [Topic(r.id, r.name, r.keywords[:max_keywords]) for r in picked]


def compile_rules(rules: Iterable[Rule], version: int) -> CompiledRules:
    """Validate (all but article ids) and precompile a whole rule set; RuleError if anything is off."""
    rules = tuple(rules)
    errors = validate_rules(rules)
    if errors:
        raise RuleError(errors)
    return CompiledRules(rules, version)
