"""Issue 4, intake: questions through the webhook are stored once, scrubbed, limited and acknowledged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import yaml

from bot import create_app
from bot.config import Config
from bot.questions.desk import format_due, next_due, question_body
from bot.questions.privacy import Pseudonymizer
from bot.store import Store
from bot.web.intake import CONTINUED, PENDING
from bot.wechat.outbound import fits_passive
from bot.wechat.simulator import message_xml, read_reply
from tests.conftest import WeChat, wait_for


def asker(config: Config, openid: str = "o_follower_1") -> str:
    return Pseudonymizer(config.secret_key)(openid)


def pending(store: Store) -> list[dict[str, str]]:
    return [q for q in (store.question(i) for i in store.pending_question_ids()) if q]


@pytest.mark.usefixtures("frozen_now")  # the app's clock: the reply names the slot due at that instant
def test_marked_question_is_stored_pseudonymously_and_acknowledged_with_the_due_time(
        frozen_now: datetime, wechat: WeChat, store: Store, config: Config) -> None:
    reply = wechat.send("提问：肾移植后可以吃豆腐吗？")
    due = next_due(config.questions.schedules, frozen_now)
    assert due is not None
    assert reply.kind == "text" and "已收到您的问题" in reply.text
    assert format_due(due, config.account.tz) in reply.text  # e.g. 12月4日（周五）18:00
    [q] = pending(store)
    assert q["status"] == "new" and q["public"] == "肾移植后可以吃豆腐吗？" and q["text"] == "提问：肾移植后可以吃豆腐吗？"
    assert q["asker"] == asker(config) and q["topic"] == "饮食" and "饮食" in q["tags"]
    assert "o_follower_1" not in str(q)  # the openid is kept apart, only to tell the asker later
    assert store.follower(asker(config)) == {"openid": "o_follower_1", "last_seen": q["received"]}
    assert store.open_questions(asker(config)) == {q["id"]} and q["notify"] == "1"


def test_topic_tags_follow_the_live_rules(app: Any, wechat: WeChat, store: Store) -> None:
    wechat.send("提问：毛豆能吃吗")
    [before] = pending(store)
    assert before["topic"] != "饮食"  # no article or rule mentions 毛豆 yet
    rules = app.extensions["wxbot"].ctx.services.rules
    doc = yaml.safe_load(rules.export_yaml())
    soy = next(r for r in doc["rules"] if r["answer"].get("article_id") == "soy-foods")
    soy["keywords"].append("毛豆")  # an admin adds a keyword to the soy article's rule
    rules.import_yaml(yaml.safe_dump(doc, allow_unicode=True))
    wechat.send("提问：毛豆每天吃多少合适", openid="o_follower_2")
    after = next(q for q in pending(store) if q["id"] != before["id"])
    assert after["topic"] == "饮食" and "营养" in after["tags"]


@pytest.mark.parametrize("text", ["Q: 术后多久可以运动", "q:术后多久可以运动", "？术后多久可以运动", "?术后多久可以运动",
                                  "问：术后多久可以运动", "问:术后多久可以运动", "Ｑ：术后多久可以运动", "提问 术后多久可以运动"])
def test_every_marker_starts_a_question(wechat: WeChat, store: Store, text: str) -> None:
    assert "已收到您的问题" in wechat.send(text).text
    assert [q["public"] for q in pending(store)] == ["术后多久可以运动"]


@pytest.mark.parametrize("text", ["?", "？", "提问", "提问：", "Q:"])
def test_a_bare_marker_is_not_a_question(wechat: WeChat, store: Store, text: str) -> None:
    wechat.send(text)
    assert store.pending_count() == 0
    assert question_body(text, ("?", "提问", "Q:")) is None


def test_help_question_mark_still_lists_topics(wechat: WeChat) -> None:
    assert "发送“干细胞”" in wechat.send("?").text


def test_voice_recognition_text_is_a_question(wechat: WeChat, store: Store) -> None:
    res = wechat.post(message_xml(wechat.account, "o_voice", recognition="提问移植后能喝咖啡吗"))
    assert "已收到您的问题" in read_reply(wechat.account, res.data.decode()).text
    assert [q["public"] for q in pending(store)] == ["移植后能喝咖啡吗"]


def test_unmatched_long_text_is_a_question_only_when_switched_on(config: Config, store: Store, wechat: WeChat) -> None:
    long_text = "我移植三年了最近复查指标有点波动想问问需要调整用药吗"
    assert wechat.send(long_text).text == config.webhook.default_reply  # off in the sample config
    assert store.pending_count() == 0

    on = replace(config, questions=replace(config.questions, unmatched_enabled=True, unmatched_min_chars=15))
    wx = WeChat(create_app(config=on, store=store).test_client(), on)
    assert "已收到您的问题" in wx.send(long_text).text
    assert wx.send("谢谢医生").text == config.webhook.default_reply  # too short: the polite default
    assert wx.send("我想了解一下干细胞治疗能不能帮助我减少用药").kind == "news"  # a rule answers it first
    assert [q["public"] for q in pending(store)] == [long_text]


@pytest.mark.usefixtures("frozen_now")  # all in one day, even a run across midnight
def test_daily_limit_gets_a_polite_reply(wechat: WeChat, store: Store, config: Config) -> None:
    limit = config.questions.daily_limit
    for i in range(limit):
        assert "已收到您的问题" in wechat.send(f"提问：第{i}个问题是关于复查的").text
    over = wechat.send("提问：再问一个关于饮食的问题")
    assert f"您今天已提交 {limit} 个问题" in over.text and "明天" in over.text
    assert store.pending_count() == limit
    assert "已收到您的问题" in wechat.send("提问：我是另一位读者", openid="o_other").text


def test_the_same_question_twice_is_one_question(wechat: WeChat, store: Store) -> None:
    first = wechat.send("提问：移植后能吃柚子吗？")
    again = wechat.send("提问  移植后能吃柚子吗")  # another MsgId, same words after normalisation
    assert "已收到您的问题" in first.text and "已经收到" in again.text
    assert store.pending_count() == 1
    assert "已收到您的问题" in wechat.send("提问：移植后能吃柚子吗？", openid="o_other").text  # another asker
    assert store.pending_count() == 2


def test_a_retried_push_stores_nothing_twice(wechat: WeChat, store: Store) -> None:
    xml = message_xml(wechat.account, "o_follower_1", text="提问：移植后能养猫吗", msg_id=4242)
    replies = [read_reply(wechat.account, wechat.post(xml).data.decode()).text for _ in range(3)]
    assert len(set(replies)) == 1 and "已收到您的问题" in replies[0]
    assert store.pending_count() == 1


def test_personal_data_is_scrubbed_from_the_publishable_copy(wechat: WeChat, store: Store) -> None:
    text = ("提问：我是张先生，电话 138-1234-5678，座机 021-64041990，身份证 11010119900307123X，"
            "邮箱 zhang.san@example.com，想问复查间隔")
    wechat.send(text)
    [q] = pending(store)
    for secret in ("138-1234-5678", "021-64041990", "11010119900307123X", "zhang.san@example.com"):
        assert secret not in q["public"] and secret in q["text"]
    assert q["public"].endswith("想问复查间隔")
    assert not any(ch.isdigit() for ch in q["norm"])  # compared and hashed without the personal data
    assert "已经收到" in wechat.send(text.replace("138-1234-5678", "13900001111")).text  # only the number differs
    assert store.pending_count() == 1


def test_unsubscribe_deletes_the_stored_openid(wechat: WeChat, store: Store, config: Config) -> None:
    wechat.send("提问：移植后能坐飞机吗")
    assert store.follower(asker(config)) is not None
    assert wechat.event("unsubscribe").kind == "none"
    assert store.follower(asker(config)) is None
    assert store.pending_count() == 1  # the question stays, pseudonymous
    keys = [k.decode() for k in store.redis.scan_iter(match=store.prefix + "*")]
    assert not any("o_follower_1" in k for k in keys)
    assert all(b"o_follower_1" not in (store.redis.dump(k) or b"") for k in keys if ":dedup:" not in k)


def test_a_link_wechat_refused_is_added_to_the_next_reply_once(wechat: WeChat, store: Store, config: Config) -> None:
    store.add_pending_link(asker(config), {"title": "肾移植答疑 · 12月4日", "url": "https://mp.weixin.qq.com/s/abc"})
    reply = wechat.send("提问：术后第二年还要每月复查吗")
    assert "已收到您的问题" in reply.text and "《肾移植答疑 · 12月4日》https://mp.weixin.qq.com/s/abc" in reply.text
    assert "mp.weixin.qq.com/s/abc" not in wechat.send("提问：术后第三年呢").text


def test_latest_post_keyword(wechat: WeChat, store: Store) -> None:
    assert "还在整理中" in wechat.send("答疑").text
    store.set_latest_post({"post": "1", "title": "肾移植答疑 · 12月4日", "url": "https://mp.weixin.qq.com/s/x",
                           "cover": "", "published_at": "1"})
    reply = wechat.send("最新答疑")
    assert reply.kind == "news" and reply.articles[0][0] == "肾移植答疑 · 12月4日"
    assert reply.articles[0][2] == "https://mp.weixin.qq.com/s/x"


def test_questions_never_reach_the_logs(wechat: WeChat, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    wechat.send("提问：我的电话13912345678，移植后能喝茶吗")
    assert "13912345678" not in caplog.text and "喝茶" not in caplog.text and "o_follower_1" not in caplog.text


@pytest.mark.usefixtures("frozen_now")  # the hits and the count read back fall in one day
def test_a_question_that_mentions_a_symptom_is_stored_and_the_guidance_comes_first(
        frozen_now: datetime, wechat: WeChat, store: Store, config: Config) -> None:
    text = "提问：打流感疫苗后会发热吗？术后多久可以打"
    [fever] = [r for r in config.seed_rules if r.id == "urgent-fever"]
    reply = wechat.send(text, msg_id=81)
    assert reply.kind == "text"
    assert reply.text.startswith(f"⚠️ {fever.answer.texts[0]}\n{config.account.contact}")
    assert "已收到您的问题" in reply.text
    assert reply.text.index(config.account.contact) < reply.text.index("已收到您的问题")
    [q] = pending(store)
    assert q["public"] == "打流感疫苗后会发热吗？术后多久可以打" and q["text"] == text
    again = wechat.send(text, msg_id=82)  # another MsgId, the same question: still the guidance, still stored once
    assert again.text.startswith("⚠️ ") and "已经收到" in again.text
    assert store.pending_count() == 1
    # A slow handler's effects are written when its worker settles the push, which may be after the reply.
    wait_for(lambda: all(store.outcome(key) not in (None, PENDING) for key in ("m:81", "m:82")))
    hits = store.redis.hgetall(store.key("stats", "rules", frozen_now.astimezone(config.account.tz).strftime("%Y%m%d")))
    assert hits.get(b"urgent-fever") == b"2"  # the urgent rule's hits are counted on this path too


def test_symptom_guidance_and_acknowledgement_too_long_for_one_reply_are_split(
        app: Any, wechat: WeChat, store: Store, fake_wechat: Any) -> None:
    long_guidance = "请尽快就医并联系随访医生。" * 45  # 1755 bytes (urgent texts leave room for the contact): with the acknowledgement, beyond one passive reply
    rules = app.extensions["wxbot"].ctx.services.rules
    rules.import_yaml(yaml.safe_dump({"rules": [{"id": "urgent-long", "name": "长", "urgent": True, "keywords": ["心慌"],
                                                 "answer": {"kind": "text", "texts": [long_guidance]}}]},
                                     allow_unicode=True))
    reply = wechat.send("提问：最近心慌怎么办")
    assert fits_passive(reply.text) and reply.text.startswith("⚠️ 请尽快就医") and reply.text.endswith(CONTINUED)
    app.extensions["wxbot"].intake.executor.shutdown(wait=True)  # the rest goes out by the API on a worker thread
    rest = "".join(msg.body["text"]["content"] for msg in fake_wechat.state.custom_messages())
    assert "已收到您的问题" in reply.text.removesuffix(CONTINUED) + rest and store.pending_count() == 1


def test_a_symptom_question_gets_the_guidance_even_if_storing_fails(app: Any, wechat: WeChat, store: Store,
                                                                  config: Config,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.store import StoreError
    from handlers.questions import NOT_SAVED

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("Redis went away")

    monkeypatch.setattr(store, "claim_with", down)
    [fever] = [r for r in config.seed_rules if r.id == "urgent-fever"]
    reply = wechat.send("提问：肾移植后发烧39度怎么办")
    assert reply.text.startswith(f"⚠️ {fever.answer.texts[0]}") and reply.text.endswith(NOT_SAVED)
    assert store.pending_count() == 0
