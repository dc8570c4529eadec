"""The service layer's refusals in the Chinese that editors and admins read (matched by their English form)."""

from __future__ import annotations

import re

from bot.accounts.model import LoginRefused

_KNOWN: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"wrong user name or password", "用户名或密码错误"),
    (r"this account is disabled", "此账号已停用，请联系管理员"),
    (r"must be at least (\d+) characters", r"密码至少 \1 个字符"),
    (r"must be at most (\d+) characters", r"密码最多 \1 个字符"),
    (r"must not be only spaces", "密码不能只有空格"),
    (r"one of the most common passwords", "这是最常见的密码之一，请换一个"),
    (r"must not be the user name", "密码不能与用户名相同"),
    (r"already exists", "该用户名已存在"),
    (r"use 2 to 32 of", "用户名须为 2–32 个小写字母、数字、“.”、“_”或“-”"),
    (r"changed by someone else meanwhile", "内容已被他人修改，请刷新后重试"),
))


def translate(message: str) -> str:
    """The Chinese for a known service message; others are shown as they are (they name the field)."""
    for pattern, chinese in _KNOWN:
        found = pattern.search(message)
        if found:
            return found.expand(chinese)
    return message


def login_refused(exc: LoginRefused) -> str:
    if exc.retry_at is not None:
        return f"登录失败次数过多，请在 {exc.retry_at:%H:%M:%S}（UTC）之后再试"
    return translate(str(exc))


def account_error(exc: Exception) -> str:
    return translate(str(exc))
