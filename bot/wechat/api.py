"""The one WeChat API client: wechatpy's API modules over our own request path.

What we change from wechatpy's default: the base URL is configurable (our fake server in tests), the
access token comes from `stable_token`, is shared by every process through Redis and refreshed by
one process at a time, token errors are retried a bounded number of times, configuration errors stop
at once with one log line, and every call has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError
from wechatpy import WeChatClient

import bot.metrics as metrics
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
CONFIG_ERRORS = frozenset({40013, 40125, 40164, 40243, 89503})
RETRYABLE_ERRORS = frozenset({-1, 45011})  # system busy, per-minute frequency limit
TIMEOUT = -1001  # our codes for failures WeChat did not answer
HTTP_ERROR = -1002
UNREACHABLE = -1003  # no connection was made: nothing was sent
# WeChat refused these before acting (or never got the call): repeating it cannot do its work twice.
REFUSED_BEFORE_ACTING = TOKEN_ERRORS | {45011, UNREACHABLE}

MEANINGS: dict[int, str] = {
    TIMEOUT: "WeChat did not answer in time",
    UNREACHABLE: "could not connect to WeChat",
    HTTP_ERROR: "WeChat answered with an HTTP error",
    -1: "WeChat system busy",
    40001: "access token invalid (or AppSecret wrong)",
    40003: "invalid OpenID",
    40007: "invalid media_id",
    40013: "invalid AppID",
    40014: "invalid access token",
    # Menu errors (menu/create, menu/get): WeChat's global return codes page; the protocol notes are silent.
    40016: "invalid number of menu buttons (1 to 3)",
    40017: "invalid menu button type",
    40018: "menu button name too long (at most 16 bytes)",
    40019: "menu button key too long (at most 128 bytes)",
    40020: "menu button URL too long (at most 1024 bytes)",
    40021: "invalid menu version",
    40022: "invalid sub-menu level (sub-buttons cannot have sub-buttons)",
    40023: "invalid number of sub-buttons (1 to 5)",
    40024: "invalid sub-button type",
    40025: "sub-button name too long (at most 60 bytes)",
    40026: "sub-button key too long (at most 128 bytes)",
    40027: "sub-button URL too long (at most 1024 bytes)",
    40033: "request contained \\uXXXX escapes",
    40054: "sub-button URL domain not allowed",
    40055: "menu button URL domain not allowed",
    40125: "invalid AppSecret",
    40164: "server IP not in the account's API whitelist",
    40243: "AppSecret frozen",
    41001: "access token missing",
    42001: "access token expired",
    43004: "recipient does not follow the account",
    44002: "empty request body",
    44003: "empty news message",
    44004: "empty text message",
    45002: "content too long",
    45003: "title too long",
    45004: "description too long",
    45008: "too many articles in one message",
    45009: "daily API quota reached",
    45011: "API called too often (per-minute limit)",
    45015: "outside the 48-hour reply window, or the follower unsubscribed",
    45047: "customer-service message quota for this follower used up",
    45065: "mass send with this clientmsgid already done",
    45066: "mass send retried too fast",
    45166: "article content not allowed",
    46003: "no custom menu exists",
    47001: "request data format error",
    48001: "this account is not authorised for this API",
    48004: "API banned for this account",
    50002: "account restricted",
    53500: "publishing banned",
    53501: "publishing too frequently",
    53502: "invalid publish_id",
    53503: "draft failed the publish check",
    53504: "draft must be used on the WeChat admin site",
    53505: "draft must be saved manually before publishing",
    65316: "the menu links to too many domains (at most 3)",
    65317: "invalid menu URL",
    65318: "the request must be UTF-8",
    89503: "risky IP: an admin must confirm this call",
}


def meaning(code: int) -> str:
    return MEANINGS.get(code, "unknown WeChat error")


class WeChatAPIError(Exception):
    """WeChat refused a call, or could not be reached; `code` is WeChat's errcode (or ours, < -1000)."""

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        self.message = message or meaning(code)
        super().__init__(f"WeChat error {code}: {self.message}")

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_ERRORS or self.code in (TIMEOUT, HTTP_ERROR, UNREACHABLE)

    @property
    def outcome_unknown(self) -> bool:
        """WeChat may have acted before failing (timeout, 5xx, -1): repeating a send may send twice."""
        return self.code in (TIMEOUT, HTTP_ERROR, -1)

    @property
    def safe_to_repeat(self) -> bool:
        """WeChat certainly did not act (token errors, per-minute limit): a non-idempotent call may be repeated."""
        return self.code in REFUSED_BEFORE_ACTING


class WeChatConfigError(WeChatAPIError):
    """The account's credentials or whitelist are wrong: retrying cannot help."""


class WeChatAPI(WeChatClient):
    """wechatpy's client (`.message`, `.material`, `.media` ...) on our shared-token request path."""

    def __init__(self, appid: str, secret: str, store: Store, base_url: str, timeout: float = 5.0,
                 max_retries: int = 3, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = base_url.rstrip("/") + "/cgi-bin/"
        self.store = store
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock

    def close(self) -> None:
        self._http.close()

    # -- access token -------------------------------------------------------------------------

    @property
    def access_token(self) -> str:
        cached = self.store.get_token(self.appid)
        if cached and cached[1] - self.clock() > 60:
            return cached[0]
        return self.refresh_token(stale=cached[0] if cached else None)

    def refresh_token(self, stale: str | None = None) -> str:
        """Fetch a token with stable_token, under a Redis lock so one process refreshes at a time."""
        known = self.store.api_config_error(self.appid)
        if known:
            raise WeChatConfigError(0, known)
        with self.store.lock("token:" + self.appid, ttl=self.timeout * 2 + 5, wait=self.timeout + 5) as held:
            cached = self.store.get_token(self.appid)
            if cached and cached[0] != stale and cached[1] - self.clock() > 60:
                return cached[0]  # another process refreshed while we waited
            if not held:  # nothing was sent to WeChat: safe to try again later
                raise WeChatAPIError(UNREACHABLE, "another process is still refreshing the access token")
            body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                    "force_refresh": False}
            result = self._call_once("post", self.API_BASE_URL + "stable_token", {}, json.dumps(body).encode(), None)
            code = int(result.get("errcode", 0) or 0)
            if code:
                self._raise(code, str(result.get("errmsg", "")))
            token = str(result["access_token"])
            metrics.TOKEN_REFRESHES.inc()
            now = self.clock()
            self.store.set_token(self.appid, token, now + int(result.get("expires_in", 7200)), now)
            return token

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy's hook; kept working for code that calls it directly."""
        return {"access_token": self.refresh_token()}

    # -- requests -----------------------------------------------------------------------------

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        """One API call; `retry=False` (for calls that are not idempotent) repeats it only when WeChat
        certainly did not act (token errors, 45011), never after a timeout, 5xx or -1."""
        retry = bool(kwargs.pop("retry", True))
        if url_or_endpoint.startswith(("http://", "https://")):
            url = url_or_endpoint
        else:
            url = kwargs.pop("api_base_url", self.API_BASE_URL) + url_or_endpoint
        params = dict(kwargs.get("params") or {})
        data = kwargs.get("data")
        if isinstance(data, dict | list):
            # Raw UTF-8: WeChat rejects \\uXXXX escapes (40033).
            data = json.dumps(data, ensure_ascii=False).encode("utf-8")
        files = kwargs.get("files")
        processor = kwargs.get("result_processor")
        attempt = 0
        while True:
            token = self.access_token
            params["access_token"] = token
            try:
                result = self._call_once(method, url, params, data, files)
                code = int(result.get("errcode", 0) or 0)
                if code:
                    self._raise(code, str(result.get("errmsg", "")))
                return processor(result) if processor else result
            except WeChatAPIError as exc:
                if attempt >= self.max_retries or isinstance(exc, WeChatConfigError):
                    raise
                if exc.code in TOKEN_ERRORS:
                    self.store.drop_token(self.appid, token)
                elif exc.retryable and (retry or exc.safe_to_repeat):
                    self.sleep(min(8.0, 0.5 * 2**attempt))
                else:
                    raise
                if files:
                    for f in files.values():
                        seek = getattr(f[1] if isinstance(f, tuple) else f, "seek", None)
                        if seek:
                            seek(0)
                attempt += 1
                log.info("retrying %s after WeChat error %s (attempt %d)", url.rsplit("/cgi-bin/", 1)[-1],
                         exc.code, attempt)

    def _call_once(self, method: str, url: str, params: dict[str, Any], data: Any, files: Any) -> dict[str, Any]:
        try:
            res = self._http.request(method, url, params=params, data=data, files=files, timeout=self.timeout)
        except requests.ConnectTimeout:
            raise WeChatAPIError(UNREACHABLE, "could not connect to WeChat in time") from None
        except requests.Timeout:
            raise WeChatAPIError(TIMEOUT) from None
        except requests.ConnectionError as exc:
            # Refused or unresolvable before anything was sent, versus a connection lost mid-call.
            if isinstance(getattr(exc.args[0] if exc.args else None, "reason", None), NewConnectionError):
                raise WeChatAPIError(UNREACHABLE, "could not connect to WeChat") from None
            raise WeChatAPIError(HTTP_ERROR, f"connection to WeChat lost: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise WeChatAPIError(HTTP_ERROR, f"cannot reach WeChat: {type(exc).__name__}") from None
        if res.status_code >= 400:
            raise WeChatAPIError(HTTP_ERROR, f"HTTP {res.status_code}")
        try:
            result = res.json()
        except ValueError:
            raise WeChatAPIError(HTTP_ERROR, "WeChat answered something that is not JSON") from None
        if not isinstance(result, dict):
            raise WeChatAPIError(HTTP_ERROR, "WeChat answered something that is not a JSON object")
        return result

    def _raise(self, code: int, errmsg: str) -> None:
        metrics.API_ERRORS.labels(str(code)).inc()
        if code in CONFIG_ERRORS:
            message = f"{meaning(code)} (errcode {code}); fix the account settings, then restart"
            with contextlib.suppress(StoreError):  # the log line below still tells the operator
                self.store.set_api_config_error(self.appid, message)
            log.error("WeChat API configuration error: %s", message)
            raise WeChatConfigError(code, meaning(code))
        raise WeChatAPIError(code, f"{meaning(code)} ({errmsg})" if errmsg else meaning(code))

    # -- what the bot sends -------------------------------------------------------------------

    def send_custom(self, body: dict[str, Any]) -> None:
        """Send one customer-service message (the body from `bot.wechat.custom_message`).

        Not repeated after a timeout or 5xx: the follower may already have it (callers decide what next)."""
        self.post("message/custom/send", data=body, retry=False)
