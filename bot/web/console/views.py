"""What every console page shares: the log-in check, the navigation and the Chinese error pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from bot.web.console.auth import Caller, TokenRefused, caller, csrf, needs_csrf
from bot.web.console.blueprints import pages

# (endpoint, label, area): the navigation, in order; an editor sees only what their role may use.
NAV: tuple[tuple[str, str, str | None], ...] = (
    ("console.dashboard", "概览", None),
    ("console.questions", "问题", "questions"),
    ("console.posts", "答疑文章", "posts"),
    ("console.rules", "关键词规则", "rules"),
    ("console.catalog", "文章与问卷", "catalog"),
    ("console.menu", "自定义菜单", "menu"),
    ("console.unanswered", "未回答", "rules"),
    ("console.users", "用户", "users"),
    ("console.audit", "操作记录", "audit"),
)


def safe_next(target: str | None) -> str:
    """Where to go after log-in: only a path on this site (never another host)."""
    if not target:
        return url_for("console.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("console.dashboard")
    return target


def page(area: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page for logged-in users who may use `area` (None: everyone logged in); others are sent to log in."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**params: Any) -> Any:
            try:
                who = caller()
            except TokenRefused:
                who = None
            if who is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if area is not None and not who.user.can(area):
                abort(403)
            g.console_area = area
            return fn(who, **params)

        return view

    return decorate


def render(template: str, **context: Any) -> str:
    """A page with the navigation its caller may see."""
    who: Caller | None = g.get("console_caller")
    nav = [(endpoint, label) for endpoint, label, area in NAV
           if who is not None and (area is None or who.user.can(area)) and endpoint in current_app.view_functions]
    return render_template(template, caller=who, nav=nav, **context)


def redirect_to(endpoint: str, **values: Any) -> BaseResponse:
    return redirect(url_for(endpoint, **values), code=303)


@pages.before_request
def check_form() -> None:
    """Every form posted with the session cookie carries the CSRF token (the log-in form too)."""
    if needs_csrf():
        csrf.protect()


_ERRORS = {400: "请求无效", 403: "没有权限", 404: "页面不存在", 405: "不支持的操作", 413: "内容太大"}


@pages.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> tuple[str, int]:
    return render("console/error.html", title="页面已过期",
                  message="表单已过期或来源不明（CSRF 校验未通过）。请返回、刷新页面后再提交。"), 400


def http_error(exc: HTTPException) -> tuple[str, int]:
    """An HTTP error on a console page, in Chinese with the navigation."""
    status = exc.code or 500
    messages = {403: "您的角色不能使用此页面；如需权限请联系管理员。", 404: "找不到此内容，它可能已被删除。"}
    return render("console/error.html", title=_ERRORS.get(status, "出错了"),
                  message=messages.get(status, exc.description or "")), status
