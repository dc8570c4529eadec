"""The dashboard and /api/stats: figures counted from real pushes (signed, through /wechat) and real clicks,
read back from Redis; the charts are server-made SVG with every number also in a table.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.stats import Stats
from bot.store import Store
from tests.conftest import WeChat
from tests.console import ADMIN, EDITOR
from tests.test_console_rules import login

pytestmark = pytest.mark.usefixtures("frozen_now")  # every count lands on one day


@pytest.fixture
def traffic(wechat: WeChat, client: FlaskClient) -> dict[str, int]:
    """Followers use the bot: keyword hits, a message nothing answers, two questions, one survey click."""
    assert wechat.send("豆浆", openid="o_a").articles  # the soy article's rule
    assert wechat.send("大豆", openid="o_b").articles
    wechat.send("今天天气怎么样呀", openid="o_c")  # nothing answers it
    wechat.send("提问：肾移植后可以喝豆浆吗？每天喝多少合适", openid="o_a")
    wechat.send("提问：术后多久可以开车？", openid="o_b")
    card = wechat.send("问卷", openid="o_c").articles[0]
    assert client.get(urlsplit(card[2]).path).status_code == 302  # the tracked survey link
    return {"hits": 3, "unmatched": 1, "questions": 2}


def stats(app: Flask) -> Stats:
    return app.extensions["wxbot"].ctx.services.stats


def test_counts_come_from_the_bots_own_traffic(app: Flask, traffic: dict[str, int]) -> None:
    board = stats(app).dashboard(weeks=2, days=7)
    today = board.days[-1]
    assert (today.hits, today.unmatched, today.survey_clicks, today.survey_people) == (3, 1, 1, 1)
    assert all(d.hits == d.unmatched == d.survey_clicks == 0 for d in board.days[:-1])
    assert len(board.days) == 7 and len(board.weeks) == 2
    this_week = board.weeks[-1]
    assert this_week.total == 2 and this_week.topics.get("饮食") == 1, this_week  # tagged by the soy article
    assert board.pending_questions == 2
    hits = {r.id: r.week for r in board.rules}
    assert hits["article-soy-foods"] == 2 and hits["survey"] == 1 and "unmatched" not in hits


def test_weeks_and_days_move_with_the_clock(app: Flask, store: Store, traffic: dict[str, int]) -> None:
    bot = app.extensions["wxbot"]
    later = bot.ctx.clock() + timedelta(days=7)
    board = Stats(store, bot.config.account.tz, lambda: later, bot.ctx.services.rules.current).dashboard(
        weeks=3, days=8)
    assert [w.total for w in board.weeks] == [0, 2, 0]  # last week's questions, nothing this week
    assert board.days[0].hits == 3 and board.days[-1].hits == 0


def test_api_stats(admin_client: FlaskClient, traffic: dict[str, int]) -> None:
    body = admin_client.get("/api/stats?weeks=4&days=10").get_json()
    assert len(body["weeks"]) == 4 and len(body["days"]) == 10
    assert body["days"][-1] == {**body["days"][-1], "hits": 3, "unmatched": 1, "survey_clicks": 1}
    assert body["weeks"][-1]["total"] == 2 and body["pending_questions"] == 2
    assert body["rules"][0]["id"] == "article-soy-foods"
    assert admin_client.get("/api/stats?days=0").status_code == 422


def test_editor_sees_the_dashboard_without_rule_figures(client: FlaskClient, console_users: Any,
                                                         traffic: dict[str, int]) -> None:
    login(client, EDITOR)
    page = client.get("/console/")
    assert page.status_code == 200 and 'id="fig-pending">2<' in page.text and "rule-hits" not in page.text
    assert client.get("/api/stats").get_json()["rules"] == []


def test_dashboard_page_draws_charts_and_tables(admin_client: FlaskClient, traffic: dict[str, int]) -> None:
    page = admin_client.get("/console/").text
    assert page.count("<svg") == 3 and "style=" not in page  # the CSP allows no inline style
    assert 'id="fig-questions-week">2<' in page and 'id="fig-unanswered">1<' in page and 'id="fig-clicks">1<' in page
    assert re.search(r"<title>\S+ 规则回答：3</title>", page) and re.search(r"<title>\S+ 未回答：1</title>", page)
    assert "饮食" in page and "rule-hits" in page and "还没有答疑文章" in page


def test_chart_labels_are_html_outside_the_stretched_svg(admin_client: FlaskClient, traffic: dict[str, int]) -> None:
    """The SVG stretches to the width (preserveAspectRatio none): text in it would be stretched too."""
    from bot.web.console.charts import stacked_bars

    page = admin_client.get("/console/").text
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        assert "<text" not in svg
    ticks = re.findall(r'<div class="chart-ticks" aria-hidden="true">(.*?)</div>', page)
    assert len(ticks) == 3 and all(t.startswith("<span>") for t in ticks)
    chart = stacked_bars("x", [(f"d{i}", [i]) for i in range(5)], ["n"], every=2)
    assert chart.ticks == ("d0", "", "d2", "", "d4")  # one cell per column, under its bar


def test_published_posts_in_the_history(admin_client: FlaskClient, store: Store, traffic: dict[str, int]) -> None:
    pid = store.begin_batch(now=1.0, cutoff=4e9, slot="test:1")  # a post taking the pending questions
    assert pid
    store.redis.hset(store.key("post", pid), mapping={"title": "第一期答疑", "status": "published",
                                                      "published_at": "1700000000", "url": "https://mp.weixin.qq.com/s/x"})
    page = admin_client.get("/console/").text
    assert "第一期答疑" in page and "已发表" in page and "2023-11-15" in page
    post = admin_client.get("/api/stats").get_json()["posts"][0]
    assert post["title"] == "第一期答疑" and post["at"].startswith("2023-11-15")


@pytest.fixture
def admin_client(client: FlaskClient, console_users: Any) -> FlaskClient:
    login(client, ADMIN)
    return client
