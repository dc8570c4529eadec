"""The admins' and editors' console: server-rendered pages under /console and the JSON API under /api.

Both run on the same services the CLI uses; `auth` says who is asking, `apispec` declares API operations,
`views` holds what every page shares. One module per feature adds its pages and operations.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from bot.web.console.auth import csrf, secure_cookies

# A strict policy: every script and style comes from this app (vendored, no CDN), nothing inline.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def init_app(app: Flask) -> None:
    """Register the console's blueprints, CSRF protection and security headers."""
    # Each feature module adds its pages and operations to the blueprints when imported.
    from bot.web.console import account, audit, catalog, dashboard, menu, posts, questions, rules, users, views  # noqa: F401
    from bot.web.console.blueprints import api, pages
    from bot.web.console.ratelimit import limit  # noqa: F401  (counts every /api/ call before it runs)

    cfg = app.extensions["wxbot"].config
    if not app.config.get("SECRET_KEY"):  # its own key, derived: the CSRF cookie never signs with the root secret
        app.config["SECRET_KEY"] = hashlib.sha256(b"wxbot-console\x00" + cfg.secret_key.encode()).hexdigest()
    # Flask's signed cookie holds only the CSRF token; who is logged in lives in Redis (bot.accounts.sessions).
    secure = secure_cookies(cfg)
    app.config.update(SESSION_COOKIE_NAME="__Host-wxbot-csrf" if secure else "wxbot-csrf",
                      SESSION_COOKIE_SECURE=secure, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=cfg.console.session_max_hours * 3600,
                      WTF_CSRF_SSL_STRICT=secure)
    csrf.init_app(app)
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.after_request(_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.context_processor(lambda: {"config_account_name": cfg.account.name})


def _headers(resp: Response) -> Response:
    if request.path.startswith(("/console", "/api")):
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if not request.path.startswith("/console/static"):
            resp.headers.setdefault("Cache-Control", "no-store")  # pages show patients' questions
    return resp


def _http_error(exc: HTTPException) -> Any:
    """JSON under /api, a Chinese page under /console, and what Flask would have sent elsewhere."""
    from bot.web.console import apispec, views

    if request.path == "/api" or request.path.startswith("/api/"):
        return apispec.http_error(exc)
    if request.path.startswith("/console"):
        return views.http_error(exc)
    return exc
