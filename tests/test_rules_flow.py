"""Issue 3 through the webhook: article cards, survey link, urgent first, help, welcome, rules in Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from bot import create_app
from bot.config import Config
from bot.store import Store
from bot.web.intake import CONTINUED
from bot.wechat.simulator import message_xml, read_reply
from handlers import dispatch_order
from tests.conftest import WeChat


def test_dispatch_order_is_declared_once_in_this_order() -> None:
    names = [r.name for r in dispatch_order()]
    assert names[0] == "platform" and names[-1] == "fallback"
    assert names.index("urgent") < names.index("help") < names.index("keywords") < names.index("welcome")


@pytest.mark.parametrize(("text", "title"), [
    ("干细胞", "间充质干细胞为肾移植免疫耐受带来新希望"),
    ("免疫耐受是什么意思", "间充质干细胞为肾移植免疫耐受带来新希望"),
    ("豆制品", "大豆及其制品，肾病患者真的会吃吗？"),
    ("ＭＳＣ", "间充质干细胞为肾移植免疫耐受带来新希望"),  # full-width, case-folded
])
def test_topic_keywords_answer_article_card(wechat: WeChat, text: str, title: str) -> None:
    reply = wechat.send(text)
    assert reply.kind == "news" and len(reply.articles) == 1
    assert reply.articles[0][0] == title and reply.articles[0][2].startswith("https://")


@pytest.mark.parametrize("text", ["问卷", "問卷", "问卷！！", " 调查 "])
def test_survey_words_answer_tracked_link(wechat: WeChat, config: Config, text: str) -> None:
    reply = wechat.send(text)
    assert reply.kind == "news" and reply.articles[0][0] == config.survey.title
    assert reply.articles[0][2].startswith(config.account.public_base_url + "/s/")
    assert "o_follower_1" not in reply.articles[0][2]


@pytest.mark.usefixtures("frozen_now")  # the clicks and the count read back fall in one day
def test_survey_redirect_counts_pseudonymously(wechat: WeChat, client: Any, config: Config, store: Store,
                                               app: Flask) -> None:
    link = wechat.send("问卷").articles[0][2]
    path = link.removeprefix(config.account.public_base_url)
    for _ in range(2):
        res = client.get(path)
        assert res.status_code == 302 and res.headers["Location"] == config.survey.url
    other = wechat.send("问卷", openid="o_follower_2").articles[0][2].removeprefix(config.account.public_base_url)
    client.get(other)
    day = app.extensions["wxbot"].ctx.today()
    assert store.survey_clicks(day) == (3, 2)
    assert client.get(path[:-3] + "abc").status_code == 404  # forged signature: not counted
    assert store.survey_clicks(day) == (3, 2)
    assert all(b"o_follower" not in k for k in store.redis.scan_iter(match=store.prefix + "*"))


@pytest.mark.usefixtures("frozen_now")  # the clicks and the count read back fall in one day
def test_a_head_request_is_redirected_but_not_counted(wechat: WeChat, client: Any, config: Config, store: Store,
                                                      app: Flask) -> None:
    path = wechat.send("问卷").articles[0][2].removeprefix(config.account.public_base_url)
    day = app.extensions["wxbot"].ctx.today()
    res = client.head(path)  # a link preview
    assert res.status_code == 302 and res.headers["Location"] == config.survey.url
    assert store.survey_clicks(day) == (0, 0)
    assert client.get(path).status_code == 302
    assert store.survey_clicks(day) == (1, 1)


def test_urgent_outranks_everything(wechat: WeChat, config: Config) -> None:
    reply = wechat.send("我发烧了想问干细胞")
    assert reply.kind == "text" and "就医" in reply.text and config.account.contact in reply.text
    assert "请勿等待答疑推送" in reply.text
    assert "漏服" not in reply.text
    assert "漏服或停用免疫抑制剂" in wechat.send("昨天漏服了一次他克莫司").text


def test_voice_recognition_and_menu_click(wechat: WeChat, config: Config) -> None:
    res = wechat.post(message_xml(wechat.account, "o_1", recognition="我想了解豆浆"))
    assert read_reply(wechat.account, res.data.decode()).articles[0][0].startswith("大豆")
    survey = wechat.event("CLICK", "MENU_SURVEY")
    assert survey.kind == "news" and survey.articles[0][0] == config.survey.title
    menu = wechat.event("CLICK", "MENU_HELP")
    assert menu.kind == "text" and "发送“干细胞”" in menu.text
    # A click key typed as text is not a click. (Not MENU_SURVEY: it contains the survey keyword "survey".)
    typed = wechat.send("MENU_HELP")
    assert typed.kind == "text" and typed.articles == () and typed.text == config.webhook.default_reply


@pytest.mark.parametrize("text", ["帮助", "菜单", "?", "？", "HELP", "menu",
                                  "帮助？", "幫助", "菜單", "目錄", "help?", "帮助~", "【帮助】"])
def test_help_lists_topics_generated_from_rules(wechat: WeChat, text: str) -> None:
    reply = wechat.send(text)
    assert "发送“干细胞”" in reply.text and "发送“问卷”" in reply.text and "提问" in reply.text
    assert "发烧" not in reply.text  # urgent rules are not topics


def test_subscribe_welcome(wechat: WeChat, config: Config) -> None:
    reply = wechat.event("subscribe")
    assert config.account.name in reply.text and "发送“豆制品”" in reply.text
    assert config.account.public_base_url + "/s/" in reply.text and "提问" in reply.text


FEVER_RULE = {"id": "fever", "name": "发热", "urgent": True, "keywords": ["发烧"],
              "answer": {"kind": "text", "texts": ["请立即就医。"]}}  # a rule set keeps an urgent rule


def test_help_and_welcome_list_only_topics_whose_window_is_open(monkeypatch: pytest.MonkeyPatch, config: Config,
                                                                 store: Store) -> None:
    import bot

    t0 = datetime(2025, 6, 3, 2, 0, tzinfo=UTC)
    now = [t0]
    monkeypatch.setattr(bot, "_utcnow", lambda: now[0])
    app = create_app(config=config, store=store)
    try:
        app.extensions["wxbot"].ctx.services.rules.import_yaml(yaml.safe_dump({"rules": [
            {"id": "ended", "name": "已结束的义诊", "keywords": ["义诊"],
             "window": {"end": (t0 - timedelta(hours=1)).isoformat()}, "answer": {"kind": "text", "texts": ["已结束"]}},
            {"id": "later", "name": "即将开始的讲座", "keywords": ["讲座"],
             "window": {"start": (t0 + timedelta(hours=1)).isoformat()}, "answer": {"kind": "text", "texts": ["讲座"]}},
            {"id": "always", "name": "门诊时间", "keywords": ["门诊时间"], "answer": {"kind": "text", "texts": ["门诊"]}},
            FEVER_RULE,
        ]}, allow_unicode=True))
        wx = WeChat(app.test_client(), config)
        for reply in (wx.send("帮助"), wx.event("subscribe")):
            assert "发送“门诊时间”" in reply.text
            assert "义诊" not in reply.text and "讲座" not in reply.text
        now[0] = t0 + timedelta(hours=2)  # the lecture's window opens: the cached list follows
        later = wx.event("subscribe", openid="o_follower_2")  # another follower: not a retry of the first event
        assert "发送“讲座”" in wx.send("帮助").text and "发送“讲座”" in later.text
        assert "义诊" not in wx.send("帮助").text
    finally:
        app.extensions["wxbot"].close()


def test_welcome_with_many_topics_fits_one_passive_reply(app: Flask, wechat: WeChat, config: Config) -> None:
    many = [{"id": f"topic-{i:03d}", "name": f"肾移植术后第{i}个常见问题的详细解答", "keywords": [f"话题{i}"],
             "answer": {"kind": "text", "texts": ["示例"]}} for i in range(200)]
    app.extensions["wxbot"].ctx.services.rules.import_yaml(yaml.safe_dump({"rules": [*many, FEVER_RULE]},
                                                                             allow_unicode=True))
    reply = wechat.event("subscribe")
    assert len(reply.text.encode("utf-8")) <= 2047 and not reply.text.endswith(CONTINUED)
    assert "发送“话题0”" in reply.text and "……" in reply.text and "提问" in reply.text
    assert reply.text.endswith(config.survey.invitation + "\n参与问卷：" + config.account.public_base_url
                               + "/s/" + reply.text.rsplit("/s/", 1)[1])
    assert len(wechat.send("帮助").text.encode("utf-8")) <= 2047


@pytest.mark.usefixtures("frozen_now")  # the hits and the count read back fall in one day
def test_stats_and_unmatched_are_counted_once_and_scrubbed(wechat: WeChat, store: Store, app: Flask) -> None:
    xml = message_xml(wechat.account, "o_1", text="问卷", msg_id=9001)
    wechat.post(xml)
    wechat.post(xml)  # a retry does not count twice
    wechat.send("我的手机13812345678，想问一下医保报销")
    day = app.extensions["wxbot"].ctx.today()
    assert store.rule_hits(day) == {"survey": 1, "unmatched": 1}
    [item] = store.unmatched(day)
    assert "13812345678" not in item["t"] and "医保报销" in item["t"] and item["who"].startswith("u_")


@pytest.mark.usefixtures("frozen_now")
def test_unmatched_text_is_scrubbed_before_it_is_cut(wechat: WeChat, store: Store, app: Flask) -> None:
    """A number across the 500th character is hidden whole, and the cut never splits its placeholder."""
    wechat.send("嗯" * 495 + "13812345678，想问一下")
    [item] = store.unmatched(app.extensions["wxbot"].ctx.today())
    assert item["t"] == "嗯" * 495  # "[电话已隐去]" would end past 500: dropped whole, not cut to "[电话已"


def rules_yaml(**override: Any) -> str:
    rule = {"id": "fever-new", "name": "发热", "urgent": True, "keywords": ["烧到"],
            "answer": {"kind": "text", "texts": ["请立即就医。"]}}
    rule.update(override)
    extra = {"id": "diet", "name": "饮食", "keywords": ["能吃"], "answer": {"kind": "article", "article_id": "soy-foods"}}
    return yaml.safe_dump({"rules": [rule, extra]}, allow_unicode=True)


def test_import_export_round_trip_and_all_or_nothing(runner: Any, app: Flask, tmp_path: Path, store: Store) -> None:
    good = tmp_path / "rules.yaml"
    good.write_text(rules_yaml(), encoding="utf-8")
    result = runner.invoke(args=["rules", "import", str(good)])
    assert result.exit_code == 0, result.output
    exported = runner.invoke(args=["rules", "export"]).output
    assert [r["id"] for r in yaml.safe_load(exported)["rules"]] == ["fever-new", "diet"]
    again = tmp_path / "again.yaml"
    again.write_text(exported, encoding="utf-8")
    assert runner.invoke(args=["rules", "import", str(again)]).exit_code == 0
    assert yaml.safe_load(runner.invoke(args=["rules", "export"]).output) == yaml.safe_load(exported)

    version = store.rules_version()
    bad = tmp_path / "bad.yaml"
    bad.write_text(rules_yaml(answer={"kind": "article", "article_id": "no-such"}), encoding="utf-8")
    result = runner.invoke(args=["rules", "import", str(bad)])
    assert result.exit_code == 1 and "rules[0].answer.article_id" in result.output
    assert store.rules_version() == version  # nothing changed


@pytest.mark.parametrize(("override", "field"), [
    ({"keywords": []}, "rules[0].keywords"),
    ({"match": "regex", "keywords": ["(a+)+$"]}, "rules[0].keywords[0]"),
    ({"match": "regex", "keywords": ["(unclosed"]}, "rules[0].keywords[0]"),
    ({"answer": {"kind": "text", "texts": ["长" * 700]}}, "rules[0].answer.texts[0]"),
])
def test_rules_that_cannot_work_are_refused_naming_the_field(runner: Any, tmp_path: Path, override: dict[str, Any],
                                                             field: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(rules_yaml(**override), encoding="utf-8")
    result = runner.invoke(args=["rules", "import", str(bad)])
    assert result.exit_code == 1 and field in result.output


def test_rules_test_command(runner: Any) -> None:
    out = runner.invoke(args=["rules", "test", "我发烧了想问干细胞"]).output
    assert "fires: urgent-fever" in out and "also matches: article-msc-immune-tolerance" in out
    assert "handled by: urgent" in out and "就医" in out
    click = runner.invoke(args=["rules", "test", "MENU_SURVEY", "--as", "click"]).output
    assert "fires: menu-survey" in click and "/s/" in click


def test_a_change_reaches_another_app_instance(config: Config, store: Store, tmp_path: Path) -> None:
    """Two workers sharing one Redis: the second sees the first's edit on its next version check."""
    now = [0.0]
    first, second = create_app(config=config, store=store), create_app(config=config, store=store)
    for a in (first, second):
        a.extensions["wxbot"].ctx.services.rules.clock = lambda: now[0]
    wx = WeChat(second.test_client(), config)
    assert wx.send("烧到39度").kind == "text" and "请立即就医" not in wx.send("烧到39度").text
    first.extensions["wxbot"].ctx.services.rules.import_yaml(rules_yaml())
    assert "请立即就医" not in wx.send("烧到39度").text  # within its check interval: still the old rules
    now[0] += 0.5
    assert "请立即就医" in wx.send("烧到39度").text


def test_rule_text_with_lone_surrogate_is_refused_naming_the_field(runner: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(rules_yaml(answer={"kind": "text", "texts": ["ok"]}).replace("ok", '"\\ud800"', 1), encoding="utf-8")
    result = runner.invoke(args=["rules", "import", str(bad)])
    assert result.exit_code == 1 and "rules[0].answer.texts[0]" in result.output and "Traceback" not in result.output
