"""Config: one validated object; every error names its field; the environment wins for secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    return data


def test_sample_config_loads() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert config.account.timezone == "Asia/Shanghai"
    assert [a.id for a in config.articles] == ["msc-immune-tolerance", "soy-foods"]
    assert config.wechat.app_secret == ""  # no real credentials in the sample
    assert config.aes_keys == ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",)


def test_environment_overrides_secrets() -> None:
    env = {"WECHAT_TOKEN": "prodtoken", "WECHAT_APP_ID": "wx1234567890abcdef", "WECHAT_APP_SECRET": "s3cret",
           "WECHAT_ENCODING_AES_KEY": "Z" * 43, "WECHAT_ENCODING_AES_KEY_PREVIOUS": "Y" * 43,
           "BOT_SECRET_KEY": "k" * 32, "WECHAT_API_BASE_URL": "http://127.0.0.1:9/"}
    config = parse_config(sample(), env)
    assert (config.wechat.token, config.wechat.app_id, config.wechat.app_secret) == ("prodtoken", "wx1234567890abcdef", "s3cret")
    assert config.aes_keys == ("Z" * 43, "Y" * 43)
    assert config.secret_key == "k" * 32 and config.wechat.api_base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("wechat", "encoding_aes_key"), "short", "wechat.encoding_aes_key: must be 43"),
        (("wechat", "token"), "", "wechat.token: must not be empty"),
        (("wechat", "app_id"), "nope", "wechat.app_id: must look like wx"),
        (("wechat", "api_base_url"), "ftp://x", "wechat.api_base_url: must be an http(s) URL"),
        (("wechat", "api_timeout_seconds"), "fast", "wechat.api_timeout_seconds: must be a number"),
        (("account", "timezone"), "Mars/Olympus", "account.timezone: unknown time zone"),
        (("account", "name"), None, "account.name: is required"),
        (("webhook", "reply_deadline_seconds"), 6, "webhook.reply_deadline_seconds: must be between"),
        (("webhook", "dedup_ttl_seconds"), 10, "webhook.dedup_ttl_seconds: must be between 60"),
        (("survey", "url"), "not a url", "survey.url: must be an http(s) URL"),
        (("secret_key",), "short", "secret_key: must be at least 16"),
    ],
)
def test_errors_name_the_field(path: tuple[str, ...], value: Any, message: str) -> None:
    data = sample()
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(ConfigError) as err:
        parse_config(data, {})
    assert message in str(err.value)
    assert str(err.value).count("\n") == 0  # one clear line


def test_article_errors_name_the_item() -> None:
    data = sample()
    data["articles"][1]["id"] = data["articles"][0]["id"]
    with pytest.raises(ConfigError, match=r"articles\[1\]\.id: duplicate"):
        parse_config(data, {})
    data = sample()
    data["articles"][0]["keywords"] = ["ok", ""]
    with pytest.raises(ConfigError, match=r"articles\[0\]\.keywords: must be a list of non-empty strings"):
        parse_config(data, {})


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("account: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config(["a list"], {})


def test_missing_token_mentions_env_var() -> None:
    data = sample()
    del data["wechat"]["token"]
    with pytest.raises(ConfigError, match="WECHAT_TOKEN"):
        parse_config(data, {})
