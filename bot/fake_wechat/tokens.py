"""Accounts and access tokens: /cgi-bin/token, /cgi-bin/stable_token and the token check of every other call.

Callers hold `FakeWeChatState`'s lock.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

from bot.fake_wechat.model import ApiRequest, FakeAccount, JsonDict, _Token, _WeChatError
from bot.fake_wechat.protocol import _parse_json

DEFAULT_EXPIRES_IN = 7200
# WeChat keeps an old token usable 300 s out of a 7200 s lifetime; the fake scales that ratio so that
# tests with short lifetimes keep the same semantics.
OVERLAP_RATIO = 300 / 7200


class Tokens:
    """The registered accounts and every token issued to them, with WeChat's expiry and supersession rules."""

    def __init__(self, clock: Callable[[], float], expires_in: int, token_overlap: float | None) -> None:
        """`clock` drives expiry; `token_overlap` None = expires_in * 300/7200."""
        self._clock = clock
        self.accounts: dict[str, FakeAccount] = {}
        self._tokens: dict[str, _Token] = {}
        self._stable: dict[str, str] = {}  # appid -> current stable token
        self.expires_in = expires_in
        self._token_overlap = token_overlap

    def add_account(self, account: FakeAccount) -> None:
        """Register a copy of `account`; ValueError if its appid is taken."""
        if account.appid in self.accounts:
            raise ValueError(f"account {account.appid} already exists")
        self.accounts[account.appid] = dataclasses.replace(account)

    def default_account(self) -> FakeAccount:
        """The first account registered."""
        return next(iter(self.accounts.values()))

    def account_for(self, appid: str) -> FakeAccount:
        """The account `appid`, or the default one for an unknown appid."""
        return self.accounts.get(appid) or self.default_account()

    @staticmethod
    def check_settings(expires_in: int | None, token_overlap: float | None) -> None:
        """ValueError for a lifetime or overlap `configure` would refuse."""
        if expires_in is not None and expires_in <= 0:
            raise ValueError("expires_in must be positive")
        if token_overlap is not None and token_overlap < 0:
            raise ValueError("token_overlap must be >= 0")

    def configure(self, expires_in: int | None, token_overlap: float | None) -> None:
        """Change the lifetime of tokens issued from now on, or the overlap; None keeps a setting."""
        if expires_in is not None:
            self.expires_in = expires_in
        if token_overlap is not None:
            self._token_overlap = token_overlap

    def overlap(self) -> float:
        """How long a superseded token stays valid."""
        return self._token_overlap if self._token_overlap is not None else self.expires_in * OVERLAP_RATIO

    def issued(self) -> int:
        """How many tokens were ever issued."""
        return len(self._tokens)

    def expire_all(self) -> None:
        """Make every issued token expired (next use answers 42001)."""
        now = self._clock()
        for tok in self._tokens.values():
            tok.expires_at = min(tok.expires_at, now)

    def check_token(self, token: str | None) -> str:
        """The appid `token` was issued to; _WeChatError if it is missing, unknown, revoked or expired."""
        if not token:
            raise _WeChatError(41001)
        record = self._tokens.get(token)
        if record is None or record.revoked:
            raise _WeChatError(40001)
        if self._clock() >= record.expires_at:
            raise _WeChatError(40001 if record.superseded else 42001)
        return record.appid

    def api_token(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        """GET /cgi-bin/token."""
        q = req.query
        appid = self._check_credentials(q.get("grant_type"), q.get("appid"), q.get("secret"))
        # A new /token token supersedes the older ones; they stay valid for the overlap window only.
        limit = self._clock() + self.overlap()
        for tok in self._tokens.values():
            if tok.appid == appid and not tok.stable and not tok.superseded:
                tok.superseded = True
                tok.expires_at = min(tok.expires_at, limit)
        return {"access_token": self._issue(appid, stable=False), "expires_in": self.expires_in}

    def api_stable_token(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        """POST /cgi-bin/stable_token."""
        body = _parse_json(req)
        appid = self._check_credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        force = body.get("force_refresh") in (True, "true", 1)
        now = self._clock()
        current = self._stable.get(appid)
        record = self._tokens.get(current) if current else None
        if current and record and not force and not record.revoked:
            remaining = record.expires_at - now
            # WeChat renews the stable token shortly before expiry; until then everyone gets the same one.
            if remaining > self.overlap():
                return {"access_token": current, "expires_in": int(remaining)}
        if record is not None:
            if force:
                record.revoked = True  # force_refresh invalidates the previous stable token at once
            else:
                record.superseded = True
        token = self._issue(appid, stable=True)
        self._stable[appid] = token
        return {"access_token": token, "expires_in": self.expires_in}

    def _check_credentials(self, grant_type: Any, appid: Any, secret: Any) -> str:
        if grant_type != "client_credential":
            raise _WeChatError(40002)
        if not appid:
            raise _WeChatError(41002)
        if not secret:
            raise _WeChatError(41004)
        account = self.accounts.get(str(appid))
        if account is None:
            raise _WeChatError(40013)
        if secret != account.secret:
            raise _WeChatError(40125)
        return account.appid

    def _issue(self, appid: str, stable: bool) -> str:
        token = secrets.token_urlsafe(102)  # 136 chars of [A-Za-z0-9_-], like real tokens (reserve 512)
        self._tokens[token] = _Token(appid, self._clock() + self.expires_in, stable)
        return token

