"""The console's landing page, the dashboard: questions per week by topic, rule hits and messages nothing
answered, survey clicks, pending questions and the publishing history; `/api/stats` gives the same figures.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, Field

from bot.stats import Dashboard, Stats
from bot.web.console.apispec import operation
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.charts import Chart, stacked_bars
from bot.web.console.posts import STATUS_WORDS
from bot.web.console.views import page, render

TOPIC_SERIES = 5  # topics drawn apart in the weekly chart; the rest are summed as 其他


def _stats() -> Stats:
    return services().stats


def _weeks_chart(board: Dashboard) -> Chart:
    topics = board.topics
    shown = list(topics[:TOPIC_SERIES])
    names = shown + (["其他话题"] if len(topics) > TOPIC_SERIES else [])
    columns = []
    for week in board.weeks:
        values = [week.topics.get(t, 0) for t in shown]
        if len(topics) > TOPIC_SERIES:
            values.append(week.total - sum(values))
        columns.append((week.start[5:], values))
    return stacked_bars("每周收到的问题（按话题）", columns, names or ["问题"], every=2)


def _days_chart(board: Dashboard) -> Chart:
    return stacked_bars("每日消息：规则回答的与未回答的", [(d.day[5:], [d.hits, d.unmatched]) for d in board.days],
                        ["规则回答", "未回答"], every=7)


def _clicks_chart(board: Dashboard) -> Chart:
    return stacked_bars("问卷每日点击", [(d.day[5:], [d.survey_clicks]) for d in board.days], ["点击"], every=7)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, config().account.tz).strftime("%Y-%m-%d %H:%M") if ts else ""


@pages.get("/")
@page(None)
def dashboard(who: Caller) -> str:
    board = _stats().dashboard()
    week = board.days[-7:]
    return render("console/dashboard.html", board=board, weeks_chart=_weeks_chart(board),
                  days_chart=_days_chart(board), clicks_chart=_clicks_chart(board),
                  unanswered_today=board.days[-1].unmatched if board.days else 0,
                  unanswered_week=sum(d.unmatched for d in week), clicks_week=sum(d.survey_clicks for d in week),
                  questions_week=board.weeks[-1].total if board.weeks else 0,
                  status_words=STATUS_WORDS, when=_when, show_rules=who.user.can("rules"))


# -- the API ------------------------------------------------------------------------------------------

class StatsQuery(BaseModel):
    weeks: int = Field(12, ge=1, le=53, description="weeks of questions, this one included")
    days: int = Field(30, ge=1, le=366, description="days of rule hits and survey clicks, today included")


class WeekOut(BaseModel):
    start: str = Field(description="the week's Monday, YYYY-MM-DD, in the account's timezone")
    total: int
    topics: dict[str, int] = Field(description="questions stored that week, by their topic when received")


class DayOut(BaseModel):
    day: str
    hits: int = Field(description="messages a keyword rule answered")
    unmatched: int = Field(description="messages nothing answered")
    survey_clicks: int
    survey_people: int = Field(description="distinct followers who clicked (approximate)")


class RuleHitsOut(BaseModel):
    id: str
    name: str
    today: int
    week: int = Field(description="hits in the last 7 days, today included")


class PostOut(BaseModel):
    id: str
    title: str
    status: str
    at: str = Field(description="published (or created, before that), account-local YYYY-MM-DD HH:MM")
    url: str


class StatsOut(BaseModel):
    pending_questions: int
    weeks: list[WeekOut]
    days: list[DayOut]
    rules: list[RuleHitsOut]
    posts: list[PostOut]


@operation("/stats", "GET", summary="The dashboard's figures: questions by week and topic, daily rule hits, "
           "unanswered messages and survey clicks, rule hits, recent posts", tag="stats", area=None,
           query=StatsQuery, response=StatsOut)
def stats(caller: Caller, query: StatsQuery) -> StatsOut:
    board = _stats().dashboard(weeks=query.weeks, days=query.days)
    return StatsOut(
        pending_questions=board.pending_questions,
        weeks=[WeekOut(start=w.start, total=w.total, topics=w.topics) for w in board.weeks],
        days=[DayOut(**asdict(d)) for d in board.days],
        rules=[RuleHitsOut(**asdict(r)) for r in board.rules] if caller.user.can("rules") else [],
        posts=[PostOut(id=p.id, title=p.title, status=p.status, at=_when(p.at), url=p.url) for p in board.posts])
