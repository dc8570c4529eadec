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
        (("questions", "publishing", "lease_seconds"), 0, "questions.publishing.lease_seconds: must be between 1"),
        (("questions", "publishing", "notify_lease_seconds"), "5m",
         "questions.publishing.notify_lease_seconds: must be a whole number"),
        (("questions", "tick_seconds"), 3601, "questions.tick_seconds: must be between 1 and 3600"),
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


# -- development, staging and production -----------------------------------------------------------

OWN = {"WECHAT_TOKEN": "Hospital2026Token", "WECHAT_APP_ID": "wx1a2b3c4d5e6f7a8b",
       "WECHAT_APP_SECRET": "0123456789abcdef0123456789abcdef",
       "WECHAT_ENCODING_AES_KEY": "Qm9vdHN0cmFwMjAyNkhvc3BpdGFsS2lkbmV5VHJhbnM",
       "BOT_SECRET_KEY": "v8Jc3rQx9LmT2pZw7NbH4sKd6FgY1aUe"}


def production_sample() -> dict[str, Any]:
    """The sample with what an operator must set in the file itself for production."""
    data = sample()
    data["account"]["public_base_url"] = "https://wx.hospital.example.cn"
    data["account"]["original_id"] = "gh_4d00ed8d6399"
    data["wechat"]["require_encryption"] = True
    return data


def test_the_sample_with_only_an_app_secret_is_refused_one_line_per_field() -> None:
    """The reproduction: AppSecret, AppID and REDIS_URL set, WeChat's real API, everything else from the sample."""
    env = {"WECHAT_APP_SECRET": "s3cret", "WECHAT_APP_ID": "wx1a2b3c4d5e6f7a8b", "REDIS_URL": "redis://r:6379/0"}
    with pytest.raises(ConfigError) as err:
        parse_config(sample(), env)
    lines = str(err.value).splitlines()
    assert lines[0] == "refusing to start in production:"
    fields = [line.split(": ")[1] for line in lines[1:]]
    assert fields == ["wechat.token", "wechat.encoding_aes_key", "secret_key", "account.original_id",
                      "account.public_base_url", "wechat.require_encryption"]
    assert "WECHAT_TOKEN" in lines[1] and "does not cover its body" in lines[-1]


def test_production_with_the_accounts_own_settings_starts() -> None:
    config = parse_config(production_sample(), OWN)
    assert config.mode == "production" and config.warnings == ()
    assert config.wechat.require_encryption


@pytest.mark.parametrize(("change", "field"), [
    ({"BOT_SECRET_KEY": "short-but-over-sixteen"}, "secret_key: is 22 characters, production needs at least 32"),
    ({"WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}, "wechat.encoding_aes_key: is the sample"),
    ({"WECHAT_APP_ID": "wxdev0000000000001"}, "wechat.app_id: is the sample"),
    ({"WECHAT_TOKEN": "devtoken123"}, "wechat.token: is the sample"),
])
def test_production_refuses_each_unsafe_secret(change: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(production_sample(), {**OWN, **change})
    assert field in str(err.value) and len(str(err.value).splitlines()) == 2


@pytest.mark.parametrize(("url", "why"), [
    ("http://wx.hospital.example.cn", "must be https"),
    ("https://127.0.0.1:8443", "loopback or private"),
    ("https://192.168.1.20", "loopback or private"),
    ("https://localhost", "loopback or private"),
    ("https://[::1]:8443", "loopback or private"),
])
def test_production_refuses_a_public_base_url_phones_cannot_reach(url: str, why: str) -> None:
    data = production_sample()
    data["account"]["public_base_url"] = url
    with pytest.raises(ConfigError, match=rf"account\.public_base_url: .*{why}"):
        parse_config(data, OWN)


def test_production_refuses_plaintext_pushes_when_a_key_is_set_and_says_why() -> None:
    data = production_sample()
    data["wechat"]["require_encryption"] = False
    with pytest.raises(ConfigError, match=r"wechat\.require_encryption: .*signature does not cover its body"):
        parse_config(data, OWN)


def test_require_encryption_defaults_on_whenever_an_aes_key_is_configured() -> None:
    data = production_sample()
    del data["wechat"]["require_encryption"]
    assert parse_config(data, OWN).wechat.require_encryption
    del data["wechat"]["encoding_aes_key"]
    assert not parse_config(data, {k: v for k, v in OWN.items() if k != "WECHAT_ENCODING_AES_KEY"}
                            ).wechat.require_encryption


def test_declared_production_without_an_app_secret_is_an_error_not_a_silent_fake() -> None:
    env = {k: v for k, v in OWN.items() if k != "WECHAT_APP_SECRET"}
    with pytest.raises(ConfigError, match=r"wechat\.app_secret: is required in production"):
        parse_config(production_sample(), {**env, "BOT_ENV": "production"})


def test_an_app_secret_with_wechats_real_api_is_production_whatever_is_declared() -> None:
    with pytest.raises(ConfigError, match="refusing to start in production"):
        parse_config(sample(), {"WECHAT_APP_SECRET": "s3cret", "BOT_ENV": "development"})


def test_declared_production_is_production_also_against_a_loopback_api() -> None:
    with pytest.raises(ConfigError, match="refusing to start in production"):
        parse_config(sample(), {"WECHAT_APP_SECRET": "s3cret", "BOT_ENV": "production",
                                "WECHAT_API_BASE_URL": "http://127.0.0.1:8001"})


def test_staging_warns_with_the_same_lines_production_refuses() -> None:
    """An AppSecret against a WeChat API on loopback (our fake): each finding is a warning line."""
    config = parse_config(sample(), {"WECHAT_APP_SECRET": "s3cret", "WECHAT_API_BASE_URL": "http://127.0.0.1:8001"})
    assert config.mode == "staging"
    assert [w.split(": ")[1] for w in config.warnings] == [
        "wechat.token", "wechat.app_id", "wechat.encoding_aes_key", "secret_key", "account.original_id",
        "account.public_base_url", "wechat.require_encryption"]


def test_development_runs_the_sample_as_it_is() -> None:
    config = parse_config(sample(), {})
    assert config.mode == "development" and config.warnings == ()
    assert parse_config(sample(), {"WECHAT_APP_SECRET": "fake", "WECHAT_API_BASE_URL": "http://127.0.0.1:9",
                                   "BOT_ENV": "development"}).mode == "development"


def test_an_unknown_bot_env_is_named() -> None:
    with pytest.raises(ConfigError, match="BOT_ENV: must be production or development, got 'prod'"):
        parse_config(sample(), {"BOT_ENV": "prod"})


def test_every_secret_in_the_shipped_sample_is_known_as_a_sample_value() -> None:
    """If config.yaml's development values change, production must still refuse them."""
    from bot.config import SAMPLE_ORIGINAL_ID, SAMPLE_VALUES

    data = sample()
    assert data["wechat"]["token"] == SAMPLE_VALUES["wechat.token"]
    assert data["wechat"]["app_id"] == SAMPLE_VALUES["wechat.app_id"]
    assert data["wechat"]["encoding_aes_key"] == SAMPLE_VALUES["wechat.encoding_aes_key"]
    assert data["secret_key"] == SAMPLE_VALUES["secret_key"]
    assert data["account"]["original_id"] == SAMPLE_ORIGINAL_ID


# -- console: accounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "message"), [
    ("session_idle_minutes", 0, "console.session_idle_minutes: must be between 1 and 1440, got 0"),
    ("session_max_hours", "12", "console.session_max_hours: must be a whole number"),
    ("login_max_failures", 0, "console.login_max_failures: must be between 1 and 100"),
    ("audit_max", 10, "console.audit_max: must be between 100"),
    ("argon2_memory_kib", 8, "console.argon2_memory_kib: must be between 1024"),
    ("argon2_parallelism", True, "console.argon2_parallelism: must be a whole number"),
    ("api_requests_per_minute", 0, "console.api_requests_per_minute: must be between 1 and 100000, got 0"),
    ("api_requests_per_minute", "300/minute", "console.api_requests_per_minute: must be a whole number"),
])
def test_console_errors_name_the_field(key: str, value: Any, message: str) -> None:
    data = sample()
    data["console"][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_config(data, {})


def test_console_limits_must_agree() -> None:
    data = sample()
    data["console"].update(session_idle_minutes=120, session_max_hours=1)
    with pytest.raises(ConfigError, match=r"console\.session_max_hours: must not be shorter than session_idle_minutes"):
        parse_config(data, {})


def test_console_defaults_and_the_admin_password_from_the_environment_only() -> None:
    data = sample()
    del data["console"]
    data["admin_password"] = "from-the-file-never"
    config = parse_config(data, {"BOT_ADMIN_PASSWORD": "Transplant-Admin-2026"})
    assert (config.console.session_idle_minutes, config.console.session_max_hours) == (30, 12)
    assert (config.console.audit_days, config.console.audit_max, config.console.argon2_time_cost) == (365, 100000, 3)
    assert config.console.api_requests_per_minute == 300
    assert config.console.admin_password == "Transplant-Admin-2026"
    assert "Transplant-Admin-2026" not in repr(config)
    assert parse_config(sample(), {}).console.admin_password == ""


def test_leases_and_the_tick_keep_their_production_defaults_when_absent() -> None:
    data = sample()
    del data["questions"]["publishing"]["lease_seconds"], data["questions"]["publishing"]["notify_lease_seconds"]
    del data["questions"]["tick_seconds"]
    config = parse_config(data, {})
    assert (config.questions.publishing.lease_seconds, config.questions.publishing.notify_lease_seconds,
            config.questions.tick_seconds) == (600, 300, 30)
