"""Who is asking: the console's session cookie or a personal API token, resolved once per request.

Pages and API calls declare the area they change (`User.can`); ``None`` means any logged-in user may see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flask import current_app, g, request
from flask_wtf.csrf import CSRFProtect

from bot.accounts.model import LoginRefused, User
from bot.config import Config
from handlers.base import Services

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
csrf = CSRFProtect()  # checked by `check_csrf` for cookie-authenticated requests only (a token needs none)


@dataclass(frozen=True, slots=True)
class Caller:
    """The user behind this request and how they proved it."""

    user: User
    via: Literal["session", "token"]
    session_id: str = ""


def services() -> Services:
    return current_app.extensions["wxbot"].ctx.services


def config() -> Config:
    return current_app.extensions["wxbot"].config


def cookie_name(cfg: Config) -> str:
    # `__Host-` makes the browser refuse the cookie unless it is Secure, host-only and for path /.
    return "__Host-wxbot-session" if secure_cookies(cfg) else "wxbot-session"


def secure_cookies(cfg: Config) -> bool:
    return cfg.account.public_base_url.startswith("https://")


def client_address() -> str:
    """The client's address for the log-in throttle: behind `console.trusted_proxies` proxies, the one the
    outermost of them saw (X-Forwarded-For, counted from the right, so a client cannot choose it)."""
    hops = config().console.trusted_proxies
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(forwarded) >= hops and forwarded[-hops]:
            return forwarded[-hops][:64]
    return request.remote_addr or "unknown"


class TokenRefused(Exception):
    """A bearer token was sent and it lets nobody in (the API answers 401 with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def caller() -> Caller | None:
    """The authenticated caller of this request (cached on `g`); TokenRefused for a bad bearer token."""
    if "console_caller" in g:
        return g.console_caller
    found: Caller | None = None
    header = request.headers.get("Authorization", "")
    users = services().users
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.casefold() != "bearer" or not token.strip():
            raise TokenRefused("Authorization must be 'Bearer <personal API token>'")
        try:
            found = Caller(users.verify_token(token.strip()), "token")
        except LoginRefused as exc:
            raise TokenRefused(str(exc)) from None
    else:
        session_id = request.cookies.get(cookie_name(config()), "")
        live = users.session_user(session_id) if session_id else None
        if live is not None:
            found = Caller(live[0], "session", session_id)
    g.console_caller = found
    return found


def needs_csrf() -> bool:
    """State-changing requests made with the browser's cookie carry the CSRF token; token calls do not."""
    # An empty Authorization header is no token: caller() then uses the cookie, so the CSRF check applies.
    return request.method not in SAFE_METHODS and not request.headers.get("Authorization", "").strip()
