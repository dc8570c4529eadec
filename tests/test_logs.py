"""Logs: one JSON object a line with LOG_FORMAT=json, a line per push with its id, kind, pseudonymous sender,
outcome and duration; never a follower's text or openid, in either format."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.config import ConfigError, load_config
from bot.logs import JsonFormatter, setup_logging
from bot.store import Store
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import ROOT, gunicorn, service_env, wait_for

SECRET_TEXT = "提问：我叫王秀英，电话13912345678，移植后能喝绿茶吗"
OPENIDS = ("o_log_follower_1", "o_log_follower_2")


def push(url: str, account: Account, openid: str, **content: Any) -> requests.Response:
    query, body = signed_request(account, message_xml(account, openid, **content))
    return requests.post(url + "/wechat", params={**query, "openid": openid}, data=body, timeout=10)


@pytest.mark.parametrize("kind", ["json", "text"])
def test_a_runs_logs_hold_ids_and_pseudonyms_never_texts_or_openids(kind: str, redis_url: str, store: Store,
                                                                   fake_wechat: Any, tmp_path: Path) -> None:
    config = load_config(ROOT / "config.yaml", env={})
    account = Account(config.wechat.token, config.wechat.app_id, original_id=config.account.original_id)
    logs = tmp_path / "service.log"
    env = service_env(redis_url, store, fake_wechat, LOG_FORMAT=kind, LOG_LEVEL="DEBUG")
    with logs.open("w") as out, gunicorn(env, workers=1, stderr=out) as url:
        assert read_reply(account, push(url, account, OPENIDS[0], text="问卷").text).kind == "news"
        asked = push(url, account, OPENIDS[1], text=SECRET_TEXT)
        assert asked.status_code == 200
        query, body = signed_request(account, message_xml(account, OPENIDS[1], text="干细胞", msg_id=424242))
        for _ in range(2):  # WeChat's retry of the same message: replayed
            assert requests.post(url + "/wechat", params=query, data=body, timeout=10).status_code == 200
        push(url, account, OPENIDS[0], event="subscribe")
        wait_for(lambda: logs.read_text(encoding="utf-8").count("push ") >= 5, timeout=20)
    text = logs.read_text(encoding="utf-8")
    for secret in (*OPENIDS, "王秀英", "13912345678", "绿茶", "移植后能喝"):
        assert secret not in text, secret
    if kind == "text":
        assert "push text m:424242 from u_" in text and ": replayed by keywords in " in text
        return
    lines = [line for line in text.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    pushes = [r for r in records if r.get("logger") == "bot.web.intake" and "outcome" in r]
    assert len(pushes) == 5, pushes
    assert {r["kind"] for r in pushes} == {"text", "event:subscribe"}
    assert [r["outcome"] for r in pushes if r["msg_id"] == "m:424242"] == ["replied", "replayed"]
    for r in pushes:
        assert r["follower"].startswith("u_") and r["duration_ms"] >= 0 and r["router"]
        assert {"time", "level", "process", "message"} <= r.keys()
    # gunicorn's worker lines and the bot's own all parse; only the master's start-up lines may be text
    assert all(json.loads(line) for line in lines)


def test_the_scheduler_logs_json_too(redis_url: str, store: Store, fake_wechat: Any, tmp_path: Path) -> None:
    env = service_env(redis_url, store, fake_wechat, LOG_FORMAT="json")
    logs = tmp_path / "scheduler.log"
    with logs.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=ROOT, env=env, stderr=out)
        try:
            wait_for(lambda: logs.read_text(encoding="utf-8").strip(), timeout=30)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    records = [json.loads(line) for line in logs.read_text(encoding="utf-8").splitlines()]
    assert records and all(r["level"] in ("INFO", "WARNING") and r["logger"] for r in records)


def test_bad_log_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT: must be text or json, got 'xml'"):
        setup_logging({"LOG_FORMAT": "xml"}, "%(message)s")
    with pytest.raises(ConfigError, match="LOG_LEVEL: must be one of DEBUG, INFO"):
        setup_logging({"LOG_LEVEL": "chatty"}, "%(message)s")
    done = subprocess.run([sys.executable, "-m", "scheduler"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "xml"})
    assert done.returncode == 2 and "LOG_FORMAT" in done.stderr and "Traceback" not in done.stderr


def test_the_json_form_of_an_error_keeps_its_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("bot.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed here" and "ValueError: boom" in entry["error"]
