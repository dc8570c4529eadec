"""Start-up checks beyond the config file: what the bot's surroundings must promise before it accepts pushes.

`check_store` guards every start; `run_checks` is `python -m bot check`: each line a finding with its fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.config import Config, ConfigError, is_local_host, load_config
from bot.store import Store, StoreError
from bot.wechat.api import meaning

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = 60.0  # seconds: push timestamps and token lifetimes are judged against WeChat's clock
HTTP_TIMEOUT = 5.0
_FIXES = {
    40013: "set WECHAT_APP_ID to the AppID on the WeChat admin page (设置与开发 → 基本配置)",
    40125: "set WECHAT_APP_SECRET to the AppSecret on the WeChat admin page (reset it there if it was lost)",
    40164: "add this server's public IP to the IP whitelist (IP白名单) on the WeChat admin page",
    61004: "add this server's public IP to the IP whitelist (IP白名单) on the WeChat admin page",
}


def check_store(config: Config, store: Store) -> None:
    """Warn, and refuse in production, when the Redis server could lose or evict accepted questions."""
    try:
        problems = store.durability_problems()
    except StoreError as exc:  # down at start-up: the webhook copes; the check is repeated on the next start
        log.warning("REDIS_URL: could not check that the server persists (%s)", type(exc).__name__)
        return
    if problems and config.mode == "production":
        raise ConfigError("refusing to start in production:\n" + "\n".join(f"REDIS_URL: {p}" for p in problems))
    for problem in problems:
        log.warning("REDIS_URL: %s", problem)


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: passed, failed (with the fix), or skipped (with why)."""

    name: str
    state: str  # "ok", "fail" or "skip"
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "✔", "fail": "✘", "skip": "-"}[self.state]
        return f"{mark} {self.name}: {self.detail}" + (f"\n    fix: {self.fix}" if self.fix else "")


def _config(env: Mapping[str, str]) -> tuple[Finding, Config | None]:
    try:
        config = load_config(env=env)
    except ConfigError as exc:
        return Finding("config", "fail", str(exc).replace("\n", "; "), "correct the named fields"), None
    detail = f"{config.source} is valid; {config.mode} mode"
    if config.warnings:
        detail += f", {len(config.warnings)} setting(s) production would refuse: " + "; ".join(config.warnings)
    return Finding("config", "ok", detail), config


def _redis(config: Config, connect: Callable[[], Store]) -> Finding:
    try:
        store = connect()
        try:
            store.redis.ping()
            problems = store.durability_problems()
        finally:
            store.close()
    except Exception as exc:  # unreachable, refused, bad URL: all say the same to an operator
        return Finding("redis", "fail", f"cannot reach Redis ({type(exc).__name__}: {exc})",
                       "start Redis, or correct REDIS_URL (redis://[:password@]host:port/db)")
    if problems:
        return Finding("redis", "fail", "; ".join(problems),
                       "appendonly yes (or save points) and maxmemory-policy noeviction in redis.conf")
    return Finding("redis", "ok", "reachable, persists to disk, never evicts keys")


def _aes(config: Config) -> Finding:
    # The config refuses a malformed key (length, base64, 32 bytes) naming the field: here only what it means.
    if not config.wechat.encoding_aes_key:
        return Finding("aes key", "skip", "no EncodingAESKey: plaintext pushes only (not for production)")
    previous = "; previous key too (rotation)" if config.wechat.encoding_aes_key_previous else ""
    required = "encrypted pushes required" if config.wechat.require_encryption else "plaintext pushes still accepted"
    return Finding("aes key", "ok", f"well-formed 43-character EncodingAESKey; {required}{previous}")


def _wechat(config: Config, post: Callable[..., Any], now: Callable[[], datetime]) -> list[Finding]:
    """The credentials (a stable_token call) and, from the same answer's Date header, the clock."""
    wx = config.wechat
    if not wx.app_secret:
        why = "no WECHAT_APP_SECRET (development: `make run` starts our fake WeChat API)"
        return [Finding("wechat api", "skip", why), Finding("clock", "skip", "nothing to compare with: " + why)]
    url = f"{wx.api_base_url}/cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": wx.app_id, "secret": wx.app_secret, "force_refresh": False}
    try:
        response = post(url, json=body, timeout=HTTP_TIMEOUT)
        answer = response.json()
    except (requests.RequestException, ValueError) as exc:
        return [Finding("wechat api", "fail", f"no answer from {wx.api_base_url} ({type(exc).__name__})",
                        "allow outbound HTTPS to the WeChat API (api.weixin.qq.com) from this server"),
                Finding("clock", "skip", "the WeChat API did not answer")]
    code = int(answer.get("errcode") or 0) if isinstance(answer, dict) else -1
    if code or not isinstance(answer, dict) or not answer.get("access_token"):
        credentials = Finding("wechat api", "fail", f"stable_token refused: errcode {code} ({meaning(code)})",
                              _FIXES.get(code, "check WECHAT_APP_ID and WECHAT_APP_SECRET"))
    else:
        credentials = Finding("wechat api", "ok", f"AppID {wx.app_id} and its AppSecret accepted (stable_token)")
    return [credentials, _clock(response.headers.get("Date", ""), now())]


def _clock(date: str, now: datetime) -> Finding:
    try:
        theirs = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return Finding("clock", "skip", "the WeChat API's answer carried no Date header")
    skew = (now - theirs).total_seconds()
    if abs(skew) > MAX_CLOCK_SKEW:
        return Finding("clock", "fail", f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the WeChat "
                       f"API's clock (at most {MAX_CLOCK_SKEW:.0f} s): pushes would be refused as stale",
                       "synchronise the clock (timedatectl set-ntp true, or chrony)")
    return Finding("clock", "ok", f"within {abs(skew):.0f} s of the WeChat API's clock")


def _public_url(config: Config, get: Callable[..., Any]) -> Finding:
    base = config.account.public_base_url.rstrip("/")
    url = urlsplit(base)
    if config.mode == "development" and is_local_host(url.hostname or ""):
        return Finding("public url", "skip", f"development: {base} is this machine's own address")
    if url.scheme != "https":
        return Finding("public url", "fail", f"{base} is not https: followers' phones open survey links there",
                       "serve the bot behind TLS (deploy/nginx) and set account.public_base_url to its https URL")
    try:
        response = get(f"{base}/healthz", timeout=HTTP_TIMEOUT, allow_redirects=False)
    except requests.exceptions.SSLError:
        return Finding("public url", "fail", f"{base}: its TLS certificate is not trusted",
                       "install a certificate from a public CA (e.g. Let's Encrypt) on the reverse proxy")
    except requests.RequestException as exc:
        return Finding("public url", "fail", f"{base} did not answer ({type(exc).__name__})",
                       "point the domain's DNS at the reverse proxy and open port 443")
    if response.status_code != 200:
        return Finding("public url", "fail", f"{base}/healthz answered HTTP {response.status_code}",
                       "the reverse proxy must pass /healthz, /wechat and /s/ to the bot")
    return Finding("public url", "ok", f"{base}/healthz answers over https")


def run_checks(env: Mapping[str, str], connect: Callable[[], Store], *, http: Any = requests,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Finding]:
    """Every check in order; those that need a valid config are left out when it is not."""
    found, config = _config(env)
    if config is None:
        return [found]
    return [found, _redis(config, connect), _aes(config), *_wechat(config, http.post, now),
            _public_url(config, http.get)]
