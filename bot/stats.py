"""The dashboard's figures, drawn from the bot's own counters: questions by topic, rule hits, survey clicks,
messages nothing answered and the reply posts' publishing history. Read-only; nothing personal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.rules.ruleset import RuleBook
from bot.store import Store

UNMATCHED = "unmatched"  # the rule-hits field counting messages no rule answered


@dataclass(frozen=True, slots=True)
class Week:
    start: str  # its Monday, YYYY-MM-DD
    topics: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.topics.values())


@dataclass(frozen=True, slots=True)
class Day:
    day: str  # YYYY-MM-DD
    hits: int  # messages a rule answered
    unmatched: int  # messages nothing answered
    survey_clicks: int
    survey_people: int  # distinct followers (approximate)


@dataclass(frozen=True, slots=True)
class RuleHits:
    id: str
    name: str
    today: int
    week: int


@dataclass(frozen=True, slots=True)
class Published:
    id: str
    title: str
    status: str
    at: float  # published (or created, before that), epoch seconds
    url: str


@dataclass(frozen=True, slots=True)
class Dashboard:
    weeks: tuple[Week, ...]  # oldest first
    days: tuple[Day, ...]  # oldest first; the last is today
    rules: tuple[RuleHits, ...]  # most hits in 7 days first
    pending_questions: int
    posts: tuple[Published, ...]  # newest first

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic in the weeks shown, the most asked first."""
        totals: dict[str, int] = {}
        for week in self.weeks:
            for topic, n in week.topics.items():
                totals[topic] = totals.get(topic, 0) + n
        return tuple(sorted(totals, key=lambda t: (-totals[t], t)))


class Stats:
    """Builds the dashboard from the store's daily counters (a few pipelined round trips)."""

    def __init__(self, store: Store, tz: ZoneInfo, clock: Callable[[], datetime],
                 rules: Callable[[], RuleBook]) -> None:
        self.store = store
        self.tz = tz
        self.clock = clock
        self.rules = rules

    def dashboard(self, weeks: int = 12, days: int = 30, posts: int = 10) -> Dashboard:
        today = self.clock().astimezone(self.tz).date()
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
        q_days = [monday + timedelta(days=i) for i in range((today - monday).days + 1)]
        asked = self.store.daily_counts("questions", [d.strftime("%Y%m%d") for d in q_days])
        by_week: dict[str, dict[str, int]] = {}
        for d, counts in zip(q_days, asked, strict=True):
            week = by_week.setdefault((d - timedelta(days=d.weekday())).isoformat(), {})
            for topic, n in counts.items():
                week[topic] = week.get(topic, 0) + n

        span = [today - timedelta(days=i) for i in range(max(days, 7) - 1, -1, -1)]
        keys = [d.strftime("%Y%m%d") for d in span]
        hits = self.store.daily_counts("rules", keys)
        survey = self.store.daily_counts("survey", keys)
        people = self.store.daily_clickers(keys)
        day_rows = tuple(Day(d.isoformat(), sum(n for k, n in h.items() if k != UNMATCHED), h.get(UNMATCHED, 0),
                             s.get("clicks", 0), p)
                         for d, h, s, p in zip(span, hits, survey, people, strict=True))[-days:]
        return Dashboard(tuple(Week(start, topics) for start, topics in by_week.items()), day_rows,
                         self._rule_hits(hits[-7:]), self.store.pending_count(), self._posts(posts))

    def _rule_hits(self, last7: list[dict[str, int]]) -> tuple[RuleHits, ...]:
        names = {r.id: r.name for r in self.rules().rules}
        week: dict[str, int] = {}
        for h in last7:
            for rid, n in h.items():
                if rid != UNMATCHED:
                    week[rid] = week.get(rid, 0) + n
        today = last7[-1] if last7 else {}
        rows = [RuleHits(rid, names.get(rid, ""), today.get(rid, 0), week.get(rid, 0))
                for rid in names.keys() | week.keys()]
        return tuple(sorted(rows, key=lambda r: (-r.week, -r.today, r.id)))

    def _posts(self, limit: int) -> tuple[Published, ...]:
        out = []
        for pid in self.store.post_ids(limit):
            p = self.store.post(pid)
            if p:
                at = float(p.get("published_at") or p.get("created") or 0)
                out.append(Published(pid, p.get("title", ""), p.get("status", ""), at, p.get("url", "")))
        return tuple(out)
