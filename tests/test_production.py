"""Production mode through real processes: the sample's public secrets are refused at start-up, field by field;
the account's own settings start and serve."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
import yaml

from bot.store import Store
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import ROOT, gunicorn, service_env, volatile_redis
from tests.test_config import OWN

SAMPLE_WITH_A_SECRET = {"WECHAT_APP_SECRET": "s3cret", "WECHAT_APP_ID": "wx1a2b3c4d5e6f7a8b"}
FIELDS = ("wechat.token", "wechat.encoding_aes_key", "secret_key", "account.original_id", "account.public_base_url",
          "wechat.require_encryption")


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def production_config(tmp_path: Path) -> Path:
    """The sample config with the account's own public settings (its secrets come from OWN)."""
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["account"]["public_base_url"] = "https://wx.hospital.example.cn"
    data["account"]["original_id"] = "gh_4d00ed8d6399"
    del data["wechat"]["require_encryption"]  # on by default with a key
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return cfg


def test_every_entry_point_refuses_the_samples_secrets(redis_url: str, store: Store, fake_wechat: Any) -> None:
    env = service_env(redis_url, store, fake_wechat, **SAMPLE_WITH_A_SECRET)
    del env["WECHAT_API_BASE_URL"]  # WeChat's real API: production
    for args, code in ((["-m", "bot", "run"], 1), (["-m", "scheduler"], 2), (["-m", "bot", "rules", "export"], 1)):
        done = run(args, env)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        out = done.stdout + done.stderr
        assert "refusing to start in production" in out and "Traceback" not in out, args
        assert all(f"config.yaml: {field}: " in out for field in FIELDS), (args, out)
    web = run(["-m", "gunicorn", "bot.wsgi:app", "--bind", "127.0.0.1:0", "--workers", "1"], env)
    assert web.returncode != 0 and "wechat.token: is the sample" in web.stderr


def test_declared_production_without_a_secret_does_not_start_a_fake(redis_url: str, store: Store,
                                                                    fake_wechat: Any) -> None:
    env = service_env(redis_url, store, fake_wechat, BOT_ENV="production")
    for name in ("WECHAT_APP_SECRET", "WECHAT_API_BASE_URL"):
        del env[name]
    done = run(["-m", "bot", "run"], env)
    assert done.returncode == 1 and "wechat.app_secret: is required in production" in done.stderr
    assert "fake" not in done.stdout.lower()


def test_production_with_the_accounts_own_secrets_serves_encrypted_pushes_only(
        redis_url: str, store: Store, fake_wechat: Any, tmp_path: Any) -> None:
    cfg = production_config(tmp_path)
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    # The embedded Redis: it persists (the machine's test Redis keeps nothing on disk, refused below).
    data_dir = tmp_path / "data"
    env = service_env("", store, fake_wechat, **OWN, BOT_ENV="production", BOT_CONFIG=str(cfg),
                      BOT_DATA_DIR=str(data_dir))
    account = Account(OWN["WECHAT_TOKEN"], OWN["WECHAT_APP_ID"], OWN["WECHAT_ENCODING_AES_KEY"],
                      data["account"]["original_id"])
    with gunicorn(env) as url:
        query, body = signed_request(account, message_xml(account, "o_prod_1", text="问卷"), aes=True)
        reply = read_reply(account, requests.post(url + "/wechat", params=query, data=body, timeout=10).text)
        assert reply.kind == "news" and reply.articles[0][2].startswith("https://wx.hospital.example.cn/s/")
        query, body = signed_request(account, message_xml(account, "o_prod_1", text="问卷"))
        assert requests.post(url + "/wechat", params=query, data=body, timeout=10).status_code == 403
    assert data_dir.stat().st_mode & 0o777 == 0o700  # questions and openids: the bot's user only
    files = [f for f in data_dir.iterdir() if f.is_file()]
    assert files and all(f.stat().st_mode & 0o777 == 0o600 for f in files), [oct(f.stat().st_mode) for f in files]


def test_production_refuses_a_redis_that_keeps_nothing_on_disk(store: Store, fake_wechat: Any, tmp_path: Any) -> None:
    with volatile_redis(tmp_path / "volatile") as url:
        cfg = production_config(tmp_path)
        env = service_env(url, store, fake_wechat, **OWN, BOT_ENV="production", BOT_CONFIG=str(cfg))
        for args, code in ((["-m", "bot", "run"], 1), (["-m", "scheduler"], 2)):
            done = run(args, env)
            out = done.stdout + done.stderr
            assert done.returncode == code and "Traceback" not in out, (args, out)
            assert "REDIS_URL: the server keeps nothing on disk" in out and "REDIS_URL: maxmemory-policy is allkeys-lru" in out
