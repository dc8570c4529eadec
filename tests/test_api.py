"""The WeChat API client against the fake WeChat server over real HTTP, with real Redis."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from bot.config import Config
from bot.store import Store
from bot.wechat.api import HTTP_ERROR, TIMEOUT, WeChatAPI, WeChatAPIError, WeChatConfigError
from tests.conftest import APP_SECRET

HOLD_TIMEOUT = 0.3  # for a call the fake holds (a `delay` fault): the client must give up; no other call gets it


def make_api(config: Config, store: Store, fake: Any, *, secret: str = APP_SECRET, timeout: float = 2.0,
             sleeps: list[float] | None = None) -> WeChatAPI:
    return WeChatAPI(config.wechat.app_id, secret, store, fake.url, timeout=timeout, max_retries=3,
                     sleep=(sleeps.append if sleeps is not None else lambda s: None))


def token_calls(fake: Any) -> list[Any]:
    return fake.state.calls("/cgi-bin/stable_token")


def test_token_fetched_once_and_shared_across_processes_via_redis(config: Config, store: Store,
                                                                  fake_wechat: Any) -> None:
    a, b = make_api(config, store, fake_wechat), make_api(config, store, fake_wechat)
    a.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "one"}})
    b.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "two"}})
    assert len(token_calls(fake_wechat)) == 1
    assert [m.body["text"]["content"] for m in fake_wechat.state.custom_messages()] == ["one", "two"]
    assert token_calls(fake_wechat)[0].body["grant_type"] == "client_credential"
    assert token_calls(fake_wechat)[0].body["appid"] == config.wechat.app_id


def test_concurrent_refresh_happens_once(config: Config, store: Store, fake_wechat: Any) -> None:
    apis = [make_api(config, store, fake_wechat) for _ in range(6)]
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda a=a: tokens.append(a.access_token)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and len(token_calls(fake_wechat)) == 1


def test_expired_token_refreshed_and_call_retried(config: Config, store: Store, fake_wechat: Any) -> None:
    api = make_api(config, store, fake_wechat)
    api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "before"}})
    fake_wechat.state.expire_tokens()
    fake_wechat.state.configure(expires_in=7200)
    # stable_token keeps returning the same (now expired) token unless forced; the fake issues a new
    # one after expiry, as WeChat does.
    api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "after"}})
    assert [m.body["text"]["content"] for m in fake_wechat.state.custom_messages()] == ["before", "after"]


def test_token_error_retries_are_bounded(config: Config, store: Store, fake_wechat: Any) -> None:
    api = make_api(config, store, fake_wechat)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=40001, times=-1)
    with pytest.raises(WeChatAPIError) as err:
        api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "x"}})
    assert err.value.code == 40001
    assert len(fake_wechat.state.calls("/cgi-bin/message/custom/send")) == 4  # first try + 3 retries


@pytest.mark.parametrize("code", [40013, 40125, 40164, 40243])
def test_config_errors_stop_at_once_and_are_remembered(config: Config, store: Store, fake_wechat: Any, code: int,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    fake_wechat.state.inject("/cgi-bin/stable_token", errcode=code, times=-1)
    api = make_api(config, store, fake_wechat)
    for _ in range(3):
        with pytest.raises(WeChatConfigError):
            api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "x"}})
    assert len(token_calls(fake_wechat)) == 1  # no loop, and other processes are told through Redis
    with pytest.raises(WeChatConfigError):
        _ = make_api(config, store, fake_wechat).access_token
    assert len(token_calls(fake_wechat)) == 1
    assert sum("configuration error" in r.message for r in caplog.records) == 1


def test_wrong_secret_is_a_config_error(config: Config, store: Store, fake_wechat: Any) -> None:
    with pytest.raises(WeChatConfigError) as err:
        _ = make_api(config, store, fake_wechat, secret="wrong").access_token
    assert err.value.code == 40125


def test_timeouts_and_5xx_are_retried_with_backoff_on_idempotent_calls(config: Config, store: Store,
                                                                       fake_wechat: Any) -> None:
    sleeps: list[float] = []

    def backoff(seconds: float) -> None:
        sleeps.append(seconds)
        # Only the third attempt meets the held request and must give up soon; a short timeout on the others
        # would turn a slow answer on a loaded machine into a timeout, and a fourth failure.
        api.timeout = HOLD_TIMEOUT if len(sleeps) == 2 else 2.0

    api = WeChatAPI(config.wechat.app_id, APP_SECRET, store, fake_wechat.url, timeout=2.0, max_retries=3,
                    sleep=backoff)
    _ = api.access_token
    for fault in ({"http_status": 502}, {"errcode": -1}, {"delay": 5}):
        fake_wechat.state.inject("/cgi-bin/media/uploadimg", **fault)
    try:
        url = api.media.upload_image(("body.png", io.BytesIO(b"\x89PNG fake image"), "image/png"))
    finally:
        fake_wechat.state.release_delays()
    assert sleeps == [0.5, 1.0, 2.0]
    assert url.startswith("http://mmbiz.qpic.cn/") and len(fake_wechat.state.wait_calls(4, "/cgi-bin/media/uploadimg")) == 4


@pytest.mark.parametrize(("fault", "code"), [({"delay": 5}, TIMEOUT), ({"http_status": 502}, HTTP_ERROR),
                                             ({"errcode": -1}, -1)])
def test_sends_are_not_repeated_when_wechat_may_have_acted(config: Config, store: Store, fake_wechat: Any,
                                                           fault: dict[str, Any], code: int) -> None:
    """A customer-service send (or submit, sendall) that timed out may have been delivered: no second copy."""
    sleeps: list[float] = []
    _ = make_api(config, store, fake_wechat).access_token  # shared through Redis: not fetched under a short timeout
    api = make_api(config, store, fake_wechat, timeout=HOLD_TIMEOUT if "delay" in fault else 2.0, sleeps=sleeps)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", **fault)
    try:
        with pytest.raises(WeChatAPIError) as err:
            api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "once"}})
    finally:
        fake_wechat.state.release_delays()
    assert err.value.code == code and err.value.outcome_unknown and not err.value.safe_to_repeat
    assert len(fake_wechat.state.wait_calls(1, "/cgi-bin/message/custom/send")) == 1 and sleeps == []


@pytest.mark.parametrize("errcode", [40001, 45011])
def test_sends_are_repeated_when_wechat_refused_before_acting(config: Config, store: Store, fake_wechat: Any,
                                                              errcode: int) -> None:
    api = make_api(config, store, fake_wechat)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=errcode)
    api.post("message/custom/send", data={"touser": "o_1", "msgtype": "text", "text": {"content": "x"}},
             retry=False)
    assert len(fake_wechat.state.calls("/cgi-bin/message/custom/send")) == 2
    assert [m.body["text"]["content"] for m in fake_wechat.state.custom_messages()] == ["x"]


def test_timeout_every_time_gives_up_with_timeout_code(config: Config, store: Store, fake_wechat: Any) -> None:
    _ = make_api(config, store, fake_wechat).access_token  # shared through Redis: not fetched under a short timeout
    api = make_api(config, store, fake_wechat, timeout=HOLD_TIMEOUT)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", delay=5, times=-1)
    try:
        with pytest.raises(WeChatAPIError) as err:
            api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "x"}})
    finally:
        fake_wechat.state.release_delays()
    assert err.value.code == TIMEOUT and err.value.retryable


def test_non_retryable_error_raised_with_meaning(config: Config, store: Store, fake_wechat: Any) -> None:
    api = make_api(config, store, fake_wechat)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=45015)
    with pytest.raises(WeChatAPIError) as err:
        api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "x"}})
    assert err.value.code == 45015 and "48-hour" in err.value.message and not err.value.retryable
    assert len(fake_wechat.state.calls("/cgi-bin/message/custom/send")) == 1


def test_chinese_sent_as_raw_utf8(config: Config, store: Store, fake_wechat: Any) -> None:
    make_api(config, store, fake_wechat).send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "你好"}})
    assert fake_wechat.state.custom_messages()[0].body["text"]["content"] == "你好"  # the fake refuses \\u escapes


def test_unreachable_wechat_is_safe_to_repeat_and_late_replies_wait(config: Config, store: Store) -> None:
    from bot.web.intake import make_deliver
    from bot.wechat.messages import TextReply

    api = WeChatAPI(config.wechat.app_id, APP_SECRET, store, "http://127.0.0.1:1", timeout=1.0, max_retries=1,
                    sleep=lambda s: None)
    with pytest.raises(WeChatAPIError) as err:
        api.send_custom({"touser": "o_1", "msgtype": "text", "text": {"content": "x"}})
    assert err.value.safe_to_repeat and not err.value.outcome_unknown
    make_deliver(api, store)("o_1", [TextReply("late answer")])
    queued = store.pop_outbox()
    assert queued is not None and queued.pop("at") > 0
    assert queued == {"body": {"touser": "o_1", "msgtype": "text", "text": {"content": "late answer"}}, "attempts": 0}
