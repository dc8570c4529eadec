"""What a rule is: match modes, input and answer kinds, time windows, answers, rules, matches, the limits."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_REGEX_KEYWORDS",
    "REGEX_BUDGET_SECONDS",
    "REGEX_CHECK_SECONDS",
    "REGEX_TEXT_CHARS",
    "RESERVED_IDS",
    "Answer",
    "AnswerKind",
    "InputKind",
    "MatchMode",
    "Rule",
    "RuleError",
    "RuleMatch",
    "TimeWindow",
    "Topic",
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
# Regex rules run on the request thread: all the regex searches for one message share this budget
# (past it the remaining regex rules do not match), and each sees at most the first REGEX_TEXT_CHARS
# characters of the normalized message.
REGEX_BUDGET_SECONDS: Final = 0.005
REGEX_TEXT_CHARS: Final = 1000
# Every message is searched with every regex keyword (unless it lacks a character all matches need).
MAX_REGEX_KEYWORDS: Final = 50
# At import, each regex keyword runs on inputs built to make it backtrack; over this in all, it is refused.
# Safe patterns take microseconds there, so the margin absorbs a busy machine.
REGEX_CHECK_SECONDS: Final = 0.02
# Fields the built-in handlers count in the same per-day stats hash as rule hits (store.hit_effect
# "rules" in handlers/help_menu.py, welcome.py, fallback.py): a rule with such an id would be
# counted together with them. Keep in step with those handlers.
RESERVED_IDS: Final = frozenset({"help", "welcome", "unmatched"})
_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HOURS_RE: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))")


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
