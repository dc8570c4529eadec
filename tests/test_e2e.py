"""End to end over real HTTP: gunicorn serving the app, WeChat's side played by signed requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import requests

from bot.config import Config
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import ROOT


def account(config: Config) -> Account:
    return Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                   config.account.original_id)


def post(url: str, acct: Account, xml: str, aes: bool = False) -> requests.Response:
    query, body = signed_request(acct, xml, aes=aes)
    return requests.post(url + "/wechat", params=query, data=body, timeout=10)


def test_gunicorn_serves_plain_and_aes_and_replays_retries(live_server: str, base_config: Config) -> None:
    acct = account(base_config)
    plain = post(live_server, acct, message_xml(acct, "o_e2e", text="你好"))
    assert plain.status_code == 200 and read_reply(acct, plain.text).text == base_config.webhook.default_reply

    xml = message_xml(acct, "o_e2e", text="你好", msg_id=777)
    first, retry = post(live_server, acct, xml, aes=True), post(live_server, acct, xml, aes=True)
    assert read_reply(acct, first.text).xml == read_reply(acct, retry.text).xml  # same reply, whichever worker

    assert requests.post(live_server + "/wechat", data=b"<xml/>", timeout=10).status_code == 403
    query, _ = signed_request(acct, "")
    assert requests.post(live_server + "/wechat", params=query, data=b"<xml>", timeout=10).status_code == 400
    assert requests.get(live_server + "/healthz", timeout=10).json() == {"status": "ok", "redis": True}


def test_simulate_command_prints_reply(live_server: str, base_config: Config, fake_wechat: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    env["BOT_CONFIG"] = str(ROOT / "config.yaml")
    for extra in ([], ["--aes"]):
        out = subprocess.run([sys.executable, "-m", "bot", "simulate", "随便问问", "--url", live_server + "/wechat", *extra],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.strip() == base_config.webhook.default_reply
    refused = subprocess.run([sys.executable, "-m", "bot", "simulate", "x", "--url", "http://127.0.0.1:1/wechat"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "cannot reach" in refused.stderr


def test_fake_wechat_command_masks_credentials_in_its_log() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    # Port 0: the command binds a free port itself and names it (a port found free here could be taken
    # by another process before the command binds it).
    proc = subprocess.Popen([sys.executable, "-m", "bot", "fake-wechat", "--port", "0", "--secret", "s3cret-value"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        listening = re.search(r"http://127\.0\.0\.1:([0-9]+) ", proc.stdout.readline())  # it is listening
        assert listening, "the fake did not say where it listens"
        base = f"http://127.0.0.1:{listening[1]}/cgi-bin"
        token = requests.get(f"{base}/token", timeout=10, params={
            "grant_type": "client_credential", "appid": "wxdev0000000000001", "secret": "s3cret-value"}).json()
        requests.post(f"{base}/message/custom/send", params={"access_token": token["access_token"]},
                      json={"touser": "o_1", "msgtype": "text", "text": {"content": "x"}}, timeout=10)
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=30)
    assert "/cgi-bin/token?" in log and "/cgi-bin/message/custom/send?" in log
    assert "s3cret-value" not in log and token["access_token"] not in log
    assert "access_token=***" in log and "secret=***" in log
