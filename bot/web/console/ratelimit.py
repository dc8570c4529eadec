"""The JSON API's rate limit: so many calls a minute per caller (user or token, else client address), then 429.

A fixed one-minute window counted in the app's Redis (`Store.api_hit`, one round trip per call); the log-in
form has its own, stricter throttle (bot.accounts.throttle).
"""

from __future__ import annotations

from flask import Response, current_app

from bot.accounts.throttle import address_pseudonym
from bot.web.console.apispec import ApiError
from bot.web.console.auth import TokenRefused, caller, client_address, config
from bot.web.console.blueprints import api

WINDOW_SECONDS = 60


def caller_key() -> str:
    """Whom a call counts against: the user (cookie or token alike), else the client's address (keyed)."""
    try:
        who = caller()
    except TokenRefused:  # a bad token is answered 401 by the operation; it still counts, per address
        who = None
    if who is not None:
        return f"user:{who.user.name}"
    return "addr:" + address_pseudonym(config().secret_key, client_address())


@api.before_request
def limit() -> Response | None:
    """Count the call; past the limit, 429 in the API's error shape with Retry-After (seconds)."""
    allowed = config().console.api_requests_per_minute
    count, retry_after = current_app.extensions["wxbot"].store.api_hit(caller_key(), WINDOW_SECONDS)
    if count <= allowed:
        return None
    resp = ApiError(429, "rate_limited", f"more than {allowed} API calls a minute; retry after {retry_after} s "
                    f"(请求过于频繁，请 {retry_after} 秒后再试)").response()
    resp.headers["Retry-After"] = str(retry_after)
    return resp
