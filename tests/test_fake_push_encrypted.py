"""The fake WeChat pushes PUBLISHJOBFINISH in the account's mode: safe mode (encrypted) given the EncodingAESKey."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from bot import create_app
from bot import fake_wechat as fw
from bot.cli import fake_wechat as cli_fake
from bot.cli import run as cli_run
from bot.config import Config
from bot.fake_wechat import MPHELPER_OPENID, FakeAccount, FakeWeChatServer, publish_event_xml
from bot.store import Store
from bot.wechat.crypto import MessageCrypto
from bot.wechat.edge import WeChatEdge
from bot.wechat.messages import PublishJobFinishEvent
from tests.conftest import ROOT, Served, WeChat, wait_for
from tests.test_fake_wechat import Receiver

TOKEN = "hooktoken123"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # wechatpy's test vector key (protocol doc 2.1)
APPID = "wx49f0ab532d5d035a"
ORIGINAL_ID = "gh_fakepush0001"
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook that records every push (query, body) and answers `success`."""
    rec = Receiver()
    yield rec
    rec.stop()


def finished_job(server: FakeWeChatServer) -> str:
    """A publish job submitted over HTTP and finished by the test (which makes the fake push)."""
    base = server.url + "/cgi-bin/"
    token = requests.get(base + "token", timeout=5, params={
        "grant_type": "client_credential", "appid": APPID, "secret": "s"}).json()["access_token"]
    thumb = requests.post(base + "material/add_material", params={"access_token": token, "type": "thumb"},
                          files={"media": ("c.jpg", JPEG, "image/jpeg")}, timeout=5).json()["media_id"]
    article = {"title": "标题", "author": "bot", "content": "<p>正文</p>", "thumb_media_id": thumb}
    body = json.dumps({"articles": [article]}, ensure_ascii=False).encode()  # raw UTF-8, as WeChat wants
    media_id = requests.post(base + "draft/add", params={"access_token": token}, timeout=5, data=body).json()["media_id"]
    publish_id: str = requests.post(base + "freepublish/submit", params={"access_token": token}, timeout=5,
                                    json={"media_id": media_id}).json()["publish_id"]
    server.state.finish_publish(publish_id)
    return publish_id


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


# ---- the wire format ---------------------------------------------------------------------------------


def test_with_the_aes_key_the_push_is_sent_in_safe_mode(receiver: Receiver) -> None:
    account = FakeAccount(appid=APPID, secret="s", original_id=ORIGINAL_ID)
    with FakeWeChatServer(account, webhook_url=receiver.url, webhook_token=TOKEN,
                          webhook_aes_key=AES_KEY) as server:
        publish_id = finished_job(server)
        args, body = receiver.next()
        [push] = server.state.wait_pushes(1)
        assert server.state.snapshot()["config"]["webhook_encrypted"] is True
    assert (push.publish_id, push.http_status, push.encrypted) == (publish_id, 200, True)
    assert set(args) == {"signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature"}
    assert args["encrypt_type"] == "aes" and args["openid"] == MPHELPER_OPENID
    root = ET.fromstring(body)
    assert [child.tag for child in root] == ["ToUserName", "Encrypt"]  # safe mode: nothing else in the clear
    assert root.findtext("ToUserName") == ORIGINAL_ID
    encrypted = root.findtext("Encrypt") or ""
    # Signed as WeChat signs: msg_signature over token/timestamp/nonce/Encrypt, signature still present.
    assert args["msg_signature"] == sha1_sorted(TOKEN, args["timestamp"], args["nonce"], encrypted)
    assert args["signature"] == sha1_sorted(TOKEN, args["timestamp"], args["nonce"])
    plain, key_index = MessageCrypto(TOKEN, APPID, (AES_KEY,)).decrypt(encrypted)  # encrypted for the appid
    assert key_index == 0
    event = ET.fromstring(plain)
    assert event.findtext("Event") == "PUBLISHJOBFINISH" and event.findtext("PublishEventInfo/publish_id") == publish_id
    # The bot's edge in safe mode opens it.
    opened = WeChatEdge(TOKEN, APPID, (AES_KEY,), require_encryption=True).open(args, body).message
    assert isinstance(opened, PublishJobFinishEvent) and opened.publish_id == publish_id


def test_with_only_the_token_the_push_stays_plaintext(receiver: Receiver) -> None:
    """Backward compatible: callers that pass no key get the plaintext push signed with `signature`."""
    account = FakeAccount(appid=APPID, secret="s", original_id=ORIGINAL_ID)
    with FakeWeChatServer(account, webhook_url=receiver.url, webhook_token=TOKEN) as server:
        publish_id = finished_job(server)
        args, body = receiver.next()
        [push] = server.state.wait_pushes(1)
    assert push.encrypted is False and push.http_status == 200
    assert set(args) == {"signature", "timestamp", "nonce", "openid"}
    assert args["signature"] == sha1_sorted(TOKEN, args["timestamp"], args["nonce"])
    root = ET.fromstring(body)
    assert root.findtext("Event") == "PUBLISHJOBFINISH" and root.findtext("PublishEventInfo/publish_id") == publish_id
    assert body == publish_event_xml(ORIGINAL_ID, publish_id, 0, root.findtext("PublishEventInfo/article_id"),
                                     [root.findtext("PublishEventInfo/article_detail/item/article_url") or ""], [],
                                     int(root.findtext("CreateTime") or 0)).encode()


def test_the_aes_key_is_checked_and_can_be_set_over_http() -> None:
    with pytest.raises(ValueError, match="EncodingAESKey"):
        fw.FakeWeChatState(webhook_url="http://127.0.0.1:1/wechat", webhook_token=TOKEN, webhook_aes_key="short")
    with pytest.raises(ValueError, match="webhook_token"):
        fw.FakeWeChatState(webhook_aes_key=AES_KEY)
    with FakeWeChatServer() as server:
        bad = requests.post(server.url + "/_fake/config", timeout=5, json={
            "webhook_url": "http://127.0.0.1:1/wechat", "webhook_token": TOKEN, "webhook_aes_key": "x" * 42})
        assert bad.status_code == 400
        ok = requests.post(server.url + "/_fake/config", timeout=5, json={
            "webhook_url": "http://127.0.0.1:1/wechat", "webhook_token": TOKEN, "webhook_aes_key": AES_KEY})
        assert ok.json()["config"]["webhook_encrypted"] is True
        plain = requests.post(server.url + "/_fake/config", timeout=5, json={
            "webhook_url": "http://127.0.0.1:1/wechat", "webhook_token": TOKEN})
        assert plain.json()["config"]["webhook_encrypted"] is False


# ---- a bot in safe mode ----------------------------------------------------------------------------


@pytest.fixture
def safe_config(config: Config) -> Config:
    """The test config with wechat.require_encryption on: the webhook refuses plaintext pushes."""
    assert config.wechat.encoding_aes_key
    return replace(config, wechat=replace(config.wechat, require_encryption=True))


@pytest.fixture
def safe_app(safe_config: Config, store: Store) -> Iterator[Flask]:
    application = create_app({"TESTING": True}, config=safe_config, store=store)
    yield application
    application.extensions["wxbot"].close()


@pytest.fixture
def safe_webhook(safe_app: Flask) -> Iterator[str]:
    """The safe-mode bot served over HTTP on loopback, so the fake can push to it; yields the webhook URL."""
    served = Served(safe_app)
    yield served.url + "/wechat"
    served.stop()


def test_safe_mode_bot_finishes_the_post_from_the_encrypted_push(
        safe_app: Flask, safe_webhook: str, safe_config: Config, store: Store, fake_wechat: Any) -> None:
    wx = safe_config.wechat
    fake_wechat.state.set_webhook(safe_webhook, wx.token, wx.encoding_aes_key)  # as `python -m bot run` does
    fake_wechat.state.configure(publish_polls=-1)  # polling never ends the job: only the event can
    wechat = WeChat(safe_app.test_client(), safe_config)
    service = safe_app.extensions["wxbot"].ctx.services.posts
    for openid in ("o_safe_1", "o_safe_2"):
        assert "已收到您的问题" in wechat.send("提问：移植后能喝咖啡吗", openid=openid, aes=True).text
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "少量可以。")
    service.confirm(pid, ["g1"])  # an editor read the question text
    service.schedule(pid, service.clock())
    service.tick()
    post = store.post(pid)
    assert post and post["status"] == "publishing"
    polls = len(fake_wechat.state.calls("/cgi-bin/freepublish/get"))

    job = fake_wechat.state.finish_publish(post["publish_id"])  # WeChat ends the job and pushes the event
    [push] = fake_wechat.state.wait_pushes(1)
    assert (push.publish_id, push.http_status, push.encrypted) == (post["publish_id"], 200, True)
    wait_for(lambda: len(fake_wechat.state.custom_messages()) == 2)
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"] == job["article_detail"]["item"][0]["article_url"]
    assert {m.touser for m in fake_wechat.state.custom_messages()} == {"o_safe_1", "o_safe_2"}
    assert len(fake_wechat.state.calls("/cgi-bin/freepublish/get")) == polls + 1  # the push confirmed; no poll

    # The same push in plaintext (a fake given only the token) is refused by this bot: hence the key.
    fake_wechat.state.set_webhook(safe_webhook, wx.token)
    fake_wechat.state.push_publish_event(post["publish_id"])
    second = fake_wechat.state.wait_pushes(2)[1]
    assert (second.http_status, second.encrypted) == (403, False)


# ---- the command line --------------------------------------------------------------------------------


@pytest.fixture
def served_args(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Run `fake-wechat` without serving: record what it would serve with."""
    for name in ("WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "FAKE_WECHAT_TOKEN", "FAKE_WECHAT_AES_KEY",
                 "WECHAT_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_CONFIG", str(ROOT / "config.yaml"))
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(fw, "serve", lambda *args: calls.append(args))
    return calls


def test_fake_wechat_command_options(served_args: list[tuple[Any, ...]], base_config: Config) -> None:
    runner = CliRunner()
    hook = ["--webhook-url", "http://127.0.0.1:9/wechat"]
    assert runner.invoke(cli_fake.fake_wechat_command, hook).exit_code == 0  # nothing new: plaintext, config token
    assert runner.invoke(cli_fake.fake_wechat_command, [*hook, "--token", TOKEN, "--aes-key", AES_KEY]).exit_code == 0
    assert runner.invoke(cli_fake.fake_wechat_command, [*hook, "--webhook-token", TOKEN],
                         env={"FAKE_WECHAT_AES_KEY": AES_KEY}).exit_code == 0
    assert runner.invoke(cli_fake.fake_wechat_command, ["--aes-key", AES_KEY]).exit_code == 0  # no webhook: no pushes
    assert [args[3:] for args in served_args] == [
        ("http://127.0.0.1:9/wechat", base_config.wechat.token, None),
        ("http://127.0.0.1:9/wechat", TOKEN, AES_KEY),
        ("http://127.0.0.1:9/wechat", TOKEN, AES_KEY),
        (None, None, None),
    ]
    bad = runner.invoke(cli_fake.fake_wechat_command, [*hook, "--aes-key", "!" * 43])
    assert bad.exit_code == 2 and "--aes-key" in bad.output
    assert "--aes-key" in runner.invoke(cli_fake.fake_wechat_command, ["--help"]).output


def test_run_starts_the_fake_with_the_accounts_token_and_key(monkeypatch: pytest.MonkeyPatch,
                                                            base_config: Config) -> None:
    started: list[tuple[list[str], dict[str, str]]] = []

    class Child:
        pid = -1

        def __init__(self, args: list[str], env: dict[str, str]) -> None:
            started.append((args, env))

        def poll(self) -> int:
            return 0

        def wait(self, timeout: float | None = None) -> int:
            return 0

    def no_children() -> tuple[int, int]:
        raise ChildProcessError

    for name in ("WECHAT_API_BASE_URL", "WECHAT_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # not contacted: only handed to the children
    monkeypatch.setattr(cli_run, "config_or_exit", lambda: base_config)
    monkeypatch.setattr(cli_run.subprocess, "Popen", Child)
    monkeypatch.setattr(cli_run.os, "wait", no_children)
    monkeypatch.setattr(cli_run, "signal", SimpleNamespace(signal=lambda *a: None, SIGINT=2, SIGTERM=15, SIG_IGN=1))
    result = CliRunner().invoke(cli_run.run_command, ["--port", "8123", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("Development mode (not for production")  # said first
    # Then what `python -m bot check` would say, before anything starts (this Redis answers nobody).
    assert "  ✘ redis: cannot reach Redis" in result.output and "  - wechat api: no WECHAT_APP_SECRET" in result.output
    [(args, env)] = [(a, e) for a, e in started if "fake-wechat" in a]
    assert args[args.index("--appid") + 1] == base_config.wechat.app_id
    assert args[args.index("--webhook-url") + 1] == "http://127.0.0.1:8123/wechat"
    wx = base_config.wechat
    assert env["FAKE_WECHAT_TOKEN"] == wx.token and env["FAKE_WECHAT_AES_KEY"] == wx.encoding_aes_key
    assert wx.encoding_aes_key not in args  # secrets go through the environment, not the visible argv
    assert all("FAKE_WECHAT_AES_KEY" not in e for a, e in started if "fake-wechat" not in a)
