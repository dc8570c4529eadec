"""The /wechat endpoint: verification, all three modes, bad input, retries, the deadline."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from flask import Flask

from bot import create_app
from bot.config import Config
from bot.store import Store
from bot.web import intake as intake_module
from bot.web.intake import BUSY_REPLY
from bot.wechat import messages as m
from bot.wechat.crypto import sign
from bot.wechat.simulator import message_xml, read_reply, signed_request
from handlers.base import Context, Outcome, Router
from tests.conftest import WeChat, wait_for

OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


def dedup_keys(store: Store) -> list[bytes]:
    return list(store.redis.scan_iter(match=store.prefix + "dedup:*"))


# -- GET verification ------------------------------------------------------------------------


def test_get_echoes_echostr_when_signed(client: Any, config: Config) -> None:
    ts, nonce = "1714036504", "1514711492"
    args = {"signature": sign(config.wechat.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "4375120948"}
    res = client.get("/wechat", query_string=args)
    assert res.status_code == 200 and res.data == b"4375120948"
    assert client.get("/wechat", query_string={**args, "signature": "0" * 40}).status_code == 403
    assert client.get("/wechat").status_code == 403


# -- the three modes ---------------------------------------------------------------------------


def test_plaintext_message_gets_plain_reply(wechat: WeChat, config: Config) -> None:
    reply = wechat.send("随便说点什么")
    assert reply.kind == "text" and reply.text == config.webhook.default_reply
    assert "<Encrypt>" not in reply.xml


def test_safe_mode_message_gets_encrypted_reply(wechat: WeChat, config: Config) -> None:
    query, body = signed_request(wechat.account, message_xml(wechat.account, "o_1", text="hi"), aes=True)
    assert b"<Content>" not in body  # safe mode: ciphertext only
    res = wechat.client.post("/wechat", query_string=query, data=body)
    assert res.status_code == 200 and b"<Encrypt>" in res.data and b"<MsgSignature>" in res.data
    assert read_reply(wechat.account, res.data.decode()).text == config.webhook.default_reply


def test_compatible_mode_body_with_both_parts_uses_the_ciphertext(wechat: WeChat) -> None:
    inner = message_xml(wechat.account, "o_1", text="hi")
    query, body = signed_request(wechat.account, inner, aes=True)
    compatible = body.replace(b"</xml>", b"<FromUserName><![CDATA[o_1]]></FromUserName><MsgType>text</MsgType></xml>")
    res = wechat.client.post("/wechat", query_string=query, data=compatible)
    assert res.status_code == 200 and read_reply(wechat.account, res.data.decode()).kind == "text"


def test_previous_aes_key_still_opens_and_reply_uses_it(config: Config, store: Store) -> None:
    rotated = replace(config, wechat=replace(config.wechat, encoding_aes_key=OTHER_KEY,
                                             encoding_aes_key_previous=config.wechat.encoding_aes_key))
    wx = WeChat(create_app(config=rotated, store=store).test_client(), config)  # sender still has the old key
    reply = wx.send("hi", aes=True)  # read_reply decrypts with the old key: proves the reply used it
    assert reply.kind == "text"


# -- bad input changes nothing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda q, b: ({**q, "signature": "0" * 40}, b), 403),
        (lambda q, b: ({k: v for k, v in q.items() if k != "signature"}, b), 403),
        (lambda q, b: ({**q, "timestamp": "1000000000", "signature": "x"}, b), 403),
        (lambda q, b: (q, b"<xml><broken></xml>"), 400),
        (lambda q, b: (q, b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml>&e;</xml>'), 400),
        (lambda q, b: (q, b"<xml>" + b"a" * 70000 + b"</xml>"), 413),
    ],
)
def test_bad_pushes_get_clear_errors_and_change_nothing(wechat: WeChat, store: Store, mutate: Any, status: int) -> None:
    query, body = signed_request(wechat.account, message_xml(wechat.account, "o_1", text="hi"))
    query, body = mutate(query, body)
    res = wechat.client.post("/wechat", query_string=query, data=body)
    assert res.status_code == status and res.data  # a reason, never a traceback
    assert b"Traceback" not in res.data
    assert dedup_keys(store) == []


def test_stale_timestamp_refused(wechat: WeChat, store: Store) -> None:
    query, body = signed_request(wechat.account, message_xml(wechat.account, "o_1", text="hi"), timestamp=1000000000)
    assert wechat.client.post("/wechat", query_string=query, data=body).status_code == 403
    assert dedup_keys(store) == []


def test_encrypted_push_with_bad_msg_signature_or_foreign_appid(wechat: WeChat, store: Store, config: Config) -> None:
    query, body = signed_request(wechat.account, message_xml(wechat.account, "o_1", text="hi"), aes=True)
    assert wechat.client.post("/wechat", query_string={**query, "msg_signature": "0" * 40}, data=body).status_code == 403
    foreign = replace(wechat.account, app_id="wx1111111111111111")
    query, body = signed_request(foreign, message_xml(foreign, "o_1", text="hi"), aes=True)
    assert wechat.client.post("/wechat", query_string=query, data=body).status_code == 403
    assert dedup_keys(store) == []


def test_unknown_message_type_gets_polite_reply(wechat: WeChat, config: Config) -> None:
    xml = message_xml(wechat.account, "o_1", text="x").replace("[text]", "[miniprogrampage]")
    res = wechat.post(xml)
    assert res.status_code == 200
    assert read_reply(wechat.account, res.data.decode()).text == config.webhook.default_reply


def test_media_message_gets_text_only_notice(wechat: WeChat) -> None:
    xml = message_xml(wechat.account, "o_1", text="x").replace("[text]", "[image]")
    reply = read_reply(wechat.account, wechat.post(xml).data.decode())
    assert reply.kind == "text" and "文字" in reply.text


def test_silent_events_answer_success(wechat: WeChat) -> None:
    assert wechat.event("unsubscribe").kind == "none"
    assert wechat.event("VIEW", "http://x").kind == "none"


# -- retries ----------------------------------------------------------------------------------


class Counting(Router):
    """A test router that counts how often it handles, optionally blocking until released."""

    name = "counting"
    calls: ClassVar[list[str]] = []
    release: ClassVar[threading.Event] = threading.Event()
    block: ClassVar[bool] = False
    fail: ClassVar[bool] = False
    text: ClassVar[str] = "counted"

    def check(self, msg: m.Inbound, ctx: Context) -> object | None:
        return True

    def handle(self, msg: m.Inbound, found: Any, ctx: Context) -> Outcome:
        type(self).calls.append(msg.dedup_key)
        if self.block:
            self.release.wait(10)
        if self.fail:
            raise RuntimeError("handler bug")
        return Outcome(m.TextReply(self.text), (ctx.store.hit_effect("test", "counting", "day"),))


class SlowCounting(Counting):
    pure = False


@pytest.fixture
def counting() -> Any:
    Counting.calls = []
    Counting.release = threading.Event()
    Counting.block = Counting.fail = False
    Counting.text = "counted"
    yield Counting
    Counting.release.set()


def app_with(router: Router, config: Config, store: Store) -> Flask:
    return create_app({"TESTING": True}, config=config, store=store, routers=(router,))


def hits(store: Store) -> int:
    return int(store.redis.hget(store.key("stats", "test", "day"), "counting") or 0)


def test_retry_replays_identical_reply_and_slow_handler_runs_once(config: Config, store: Store,
                                                                   counting: Any) -> None:
    wx = WeChat(app_with(SlowCounting(), config, store).test_client(), config)
    query, body = signed_request(wx.account, message_xml(wx.account, "o_1", text="hi", msg_id=42))
    first = wx.client.post("/wechat", query_string=query, data=body)
    counting.text = "something else"  # a second run would now answer differently
    again = [wx.client.post("/wechat", query_string=query, data=body) for _ in range(3)]
    assert all(r.data == first.data for r in again) and b"counted" in first.data
    assert counting.calls == ["m:42"]


def test_retry_of_pure_reply_replays_first_reply_and_effects_apply_once(config: Config, store: Store,
                                                                         counting: Any) -> None:
    # A pure router's reply is computed before the one-round-trip claim; the claim decides which
    # computation counts, so a retry replays the first reply and its effects are applied once.
    wx = WeChat(app_with(Counting(), config, store).test_client(), config)
    query, body = signed_request(wx.account, message_xml(wx.account, "o_1", text="hi", msg_id=42))
    first = wx.client.post("/wechat", query_string=query, data=body)
    counting.text = "something else"
    again = [wx.client.post("/wechat", query_string=query, data=body) for _ in range(3)]
    assert all(r.data == first.data for r in again) and b"counted" in first.data
    assert hits(store) == 1


def test_retry_in_aes_mode_replays_same_content(config: Config, store: Store, counting: Any) -> None:
    wx = WeChat(app_with(Counting(), config, store).test_client(), config)
    xml = message_xml(wx.account, "o_1", text="hi", msg_id=43)
    texts = [read_reply(wx.account, wx.post(xml, aes=True).data.decode()).xml for _ in range(2)]
    assert texts[0] == texts[1] and hits(store) == 1


def test_events_deduplicated_on_sender_time_event(config: Config, store: Store, counting: Any) -> None:
    wx = WeChat(app_with(Counting(), config, store).test_client(), config)
    xml = message_xml(wx.account, "o_1", event="subscribe", create_time=1_800_000_000)
    wx.post(xml)
    wx.post(xml)
    wx.post(message_xml(wx.account, "o_2", event="subscribe", create_time=1_800_000_000))
    assert hits(store) == 2


def test_retry_while_first_still_running_waits_for_its_reply(config: Config, store: Store, counting: Any) -> None:
    counting.block = True
    slow_config = replace(config, webhook=replace(config.webhook, reply_deadline_seconds=4.0))
    wx = WeChat(app_with(SlowCounting(), slow_config, store).test_client(), config)
    query, body = signed_request(wx.account, message_xml(wx.account, "o_1", text="hi", msg_id=44))
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(wx.client.post("/wechat", query_string=query, data=body)))
    first.start()
    wait_for(lambda: counting.calls)  # the first delivery is inside the handler
    waiting: list[str] = []
    real_wait = store.wait_outcome

    def spy(key: str, *args: Any, **kwargs: Any) -> bytes | None:
        waiting.append(key)
        return real_wait(key, *args, **kwargs)

    store.wait_outcome = spy  # type: ignore[method-assign]
    retry = threading.Thread(target=lambda: results.append(wx.client.post("/wechat", query_string=query, data=body)))
    retry.start()
    wait_for(lambda: waiting == ["m:44"])  # the retry is waiting for the first delivery's reply
    counting.release.set()
    first.join()
    retry.join()
    assert [read_reply(wx.account, r.data.decode()).text for r in results] == ["counted", "counted"]
    assert counting.calls == ["m:44"]


def test_handler_exception_answers_success_once(config: Config, store: Store, counting: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    counting.fail = True
    wx = WeChat(app_with(SlowCounting(), config, store).test_client(), config)
    query, body = signed_request(wx.account, message_xml(wx.account, "o_1", text="私密的问题内容", msg_id=45))
    for _ in range(2):
        res = wx.client.post("/wechat", query_string=query, data=body)
        assert res.status_code == 200 and res.data == b"success"
    assert counting.calls == ["m:45"]
    assert "m:45" in caplog.text and "私密" not in caplog.text and "o_1" not in caplog.text


def test_missed_deadline_answers_success_and_sends_reply_by_api(config: Config, store: Store, counting: Any,
                                                                fake_wechat: Any) -> None:
    counting.block = True  # until the reply is in: the deadline is missed however fast the machine
    short = replace(config, webhook=replace(config.webhook, reply_deadline_seconds=0.5))
    wx = WeChat(app_with(SlowCounting(), short, store).test_client(), config)
    query, body = signed_request(wx.account, message_xml(wx.account, "o_late", text="hi", msg_id=46))
    res = wx.client.post("/wechat", query_string=query, data=body)
    assert res.data == b"success"
    counting.release.set()
    sent = wait_for(lambda: fake_wechat.state.custom_messages())
    assert sent[0].touser == "o_late" and sent[0].body["text"]["content"] == "counted"
    wait_for(lambda: store.outcome("m:46") == b"S")
    assert wx.client.post("/wechat", query_string=query, data=body).data == b"success"  # retries don't resend
    assert counting.calls == ["m:46"]


@pytest.mark.parametrize(("queued", "budget"), [(0, 3.75), (2, 2.5), (3.4, 1.1), (60, 0.1), (-30, 3.75)])
def test_reply_deadline_counts_from_wechats_send(config: Config, store: Store, counting: Any,
                                                 monkeypatch: pytest.MonkeyPatch, queued: float, budget: float) -> None:
    """A push that queued behind busy workers gets only what is left of WeChat's 5 s (its timestamp says when
    it was sent, to the second); a clock behind WeChat's never lengthens the wait beyond the deadline, and the
    time the request itself took (0.25 s here) counts unless the queueing already covers it."""
    slow_config = replace(config, webhook=replace(config.webhook, reply_deadline_seconds=4.0))
    app = app_with(SlowCounting(), slow_config, store)
    sent_at = 1_800_000_000
    app.extensions["wxbot"].edge.clock = lambda: sent_at + queued
    ticks = iter([1000.0])  # the request starts at 1000.0; every later reading is 0.25 s on
    monkeypatch.setattr(intake_module, "time", SimpleNamespace(monotonic=lambda: next(ticks, 1000.25)))
    waits: list[float] = []

    class Spied(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return super().wait(10)  # the budget is what is tested: however slow the machine, never miss it

    @dataclass
    class SpiedTask(intake_module._Task):
        done: threading.Event = field(default_factory=Spied)

    monkeypatch.setattr(intake_module, "_Task", SpiedTask)
    wx = WeChat(app.test_client(), config)
    query, body = signed_request(wx.account, message_xml(wx.account, "o_1", text="hi", msg_id=47), timestamp=sent_at)
    assert wx.client.post("/wechat", query_string=query, data=body).status_code == 200
    app.extensions["wxbot"].close()  # the worker records the outcome after the reply: not after this test's clean-up
    assert waits == [pytest.approx(budget, abs=1e-6)]


def test_long_reply_is_split_passive_first_rest_by_api(config: Config, store: Store, counting: Any,
                                                       fake_wechat: Any) -> None:
    counting.text = "很长的回答。" * 300  # about 5400 bytes
    wx = WeChat(app_with(Counting(), config, store).test_client(), config)
    reply = wx.send("hi")
    assert len(reply.text.encode()) <= 2047 and "余下部分" in reply.text
    sent = wait_for(lambda: len(fake_wechat.state.custom_messages()) >= 2 and fake_wechat.state.custom_messages())
    assert all(len(s.body["text"]["content"].encode()) <= 2047 for s in sent)


def test_store_down_pure_reply_still_answers(config: Config, counting: Any) -> None:
    dead = Store.from_url("redis://127.0.0.1:1/0", prefix="x:", timeout=0.2)
    wx = WeChat(app_with(Counting(), config, dead).test_client(), config)
    assert wx.send("hi").text == "counted"
    counting.calls.clear()
    slow = WeChat(app_with(SlowCounting(), config, dead).test_client(), config)
    assert slow.send("hi").text == BUSY_REPLY
    assert counting.calls == []  # a handler with side effects never runs without the store


def test_healthz_reports_redis(client: Any, config: Config, counting: Any) -> None:
    assert client.get("/healthz").json == {"status": "ok", "redis": True}
    dead = Store.from_url("redis://127.0.0.1:1/0", prefix="x:", timeout=0.2)
    res = create_app(config=config, store=dead).test_client().get("/healthz")
    assert res.status_code == 200 and res.json == {"status": "degraded", "redis": False}


# -- answer links WeChat refused earlier reach the follower with their next message --------------


def test_waiting_links_sent_after_any_reply(wechat: WeChat, store: Store, app: Flask, fake_wechat: Any) -> None:
    asker = app.extensions["wxbot"].ctx.pseudonym("o_waiting")
    store.add_pending_link(asker, {"title": "肾移植答疑 · 第1期", "url": "https://mp.weixin.qq.com/s/qa1"})
    assert wechat.send("干细胞", openid="o_waiting").kind == "news"  # the reply itself is unchanged
    [sent] = wait_for(lambda: fake_wechat.state.custom_messages())
    assert sent.touser == "o_waiting" and "https://mp.weixin.qq.com/s/qa1" in sent.body["text"]["content"]
    assert store.take_pending_links(asker) == []
    wechat.send("干细胞", openid="o_waiting")
    assert len(fake_wechat.state.custom_messages()) == 1  # delivered once


def test_waiting_links_kept_when_wechat_still_refuses(wechat: WeChat, store: Store, app: Flask,
                                                      fake_wechat: Any) -> None:
    asker = app.extensions["wxbot"].ctx.pseudonym("o_waiting")
    link = {"title": "肾移植答疑 · 第1期", "url": "https://mp.weixin.qq.com/s/qa1"}
    store.add_pending_link(asker, link)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=45047)
    wechat.send("干细胞", openid="o_waiting")
    wait_for(lambda: fake_wechat.state.calls("/cgi-bin/message/custom/send"))
    assert wait_for(lambda: store.redis.exists(store.key("links", asker)))
    assert store.take_pending_links(asker) == [link]


# -- crafted input from the review: never a 500, never reflected ----------------------------------


@pytest.mark.parametrize("query", [
    {"signature": "é" * 40, "timestamp": "1714036504", "nonce": "1"},
    {"signature": "0" * 40, "timestamp": "²", "nonce": "1"},
    {"signature": "0" * 40, "timestamp": "9" * 5000, "nonce": "1"},
    {"signature": "0" * 40, "timestamp": "1714036504", "nonce": "1", "encrypt_type": "aes", "msg_signature": "é"},
])
def test_crafted_query_parameters_get_403_not_500(client: Any, query: dict[str, str]) -> None:
    assert client.post("/wechat", query_string=query, data=b"<xml/>").status_code == 403
    assert client.get("/wechat", query_string=query).status_code == 403


def test_unknown_xml_encoding_is_400(wechat: WeChat) -> None:
    query, _ = signed_request(wechat.account, "")
    body = b'<?xml version="1.0" encoding="no-such-encoding"?><xml><a>1</a></xml>'
    assert wechat.client.post("/wechat", query_string=query, data=body).status_code == 400


def test_echostr_is_only_echoed_as_a_plain_token(client: Any, config: Config) -> None:
    ts, nonce = "1714036504", "1514711492"
    args = {"signature": sign(config.wechat.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    res = client.get("/wechat", query_string={**args, "echostr": "4375120948345356249"})
    assert res.data == b"4375120948345356249" and res.mimetype == "text/plain"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    script = '<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'
    res = client.get("/wechat", query_string={**args, "echostr": script})
    assert res.status_code == 400 and b"script" not in res.data


def test_plaintext_refused_when_encryption_required(config: Config, store: Store) -> None:
    strict = replace(config, wechat=replace(config.wechat, require_encryption=True))
    wx = WeChat(create_app(config=strict, store=store).test_client(), config)
    assert wx.post(message_xml(wx.account, "o_1", text="hi")).status_code == 403
    assert wx.send("hi", aes=True).kind == "text"


def test_a_claim_redis_may_have_run_is_never_sent_again(config: Config, store: Store, counting: Any) -> None:
    """If the claim's reply is lost, resending it would read back our own pending mark: the push
    would look like a retry of itself and never be handled. Not resending gives a clear busy answer."""
    app = app_with(SlowCounting(), config, store)
    held = store._held
    sent: list[object] = []
    real_read = None

    def lose_reply_once() -> object:
        sent.append(1)
        if len(sent) == 1:
            real_read()  # Redis ran the claim; only its answer is lost
            raise redis_timeout()
        return real_read()

    wx = WeChat(app.test_client(), config)
    wx.send("warm up", msg_id=1)  # opens the held connection
    real_read = held._conn.read_response
    held._conn.read_response = lose_reply_once
    reply = wx.send("hi", msg_id=2)
    assert reply.text == BUSY_REPLY and sent == [1]  # one claim sent; the push gets a clear answer


def redis_timeout() -> Exception:
    import redis

    return redis.TimeoutError("read timed out")
