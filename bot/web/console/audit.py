"""The audit log (操作记录) for admins: newest first, filtered by actor and action, paged by offset.

AuditLog scrubs every entry when it is recorded (no password, token or openid); this only reads and shows it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import request
from pydantic import BaseModel, ConfigDict, Field

from bot.web.console.apispec import operation
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.views import page, render

PAGE_SIZE = 50
MAX_OFFSET = 100_000  # the log keeps at most console.audit_max entries anyway
ACTION_LABELS = {"user.": "用户", "rule.": "关键词规则", "menu.": "自定义菜单", "post.": "答疑文章",
                 "question.": "问题", "article.": "文章", "survey.": "问卷"}


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    """Nested dicts and lists as ``a.b[0].c`` → leaf value."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list) and value:
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{path}[{i}]").items()}
    return {path: value} if path else {}


def _shown(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def compact_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per changed leaf: ``~ key: old → new``, ``+ key: new``, ``- key: old``."""
    old, new = _flat(before), _flat(after)
    lines = []
    for key in [*old, *(k for k in new if k not in old)]:
        if key not in new:
            lines.append(f"- {key}: {_shown(old[key])}")
        elif key not in old:
            lines.append(f"+ {key}: {_shown(new[key])}")
        elif old[key] != new[key]:
            lines.append(f"~ {key}: {_shown(old[key])} → {_shown(new[key])}")
    return lines


def _offset(value: str | None) -> int:
    try:
        return max(0, min(int(value or 0), MAX_OFFSET))
    except ValueError:
        return 0


def entries(actor: str | None, action: str | None, offset: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The page of entries and whether more follow."""
    found = services().audit.recent(limit + 1, actor=actor or None, action=action or None, offset=offset)
    return found[:limit], len(found) > limit


def _local(entry: dict[str, Any]) -> str:
    return datetime.fromtimestamp(entry["at"], config().account.tz).strftime("%Y-%m-%d %H:%M:%S")


@pages.get("/audit")
@page("audit")
def audit(who: Caller) -> str:
    actor = request.args.get("actor", "").strip()[:64]
    action = request.args.get("action", "").strip()[:64]
    offset = _offset(request.args.get("offset"))
    found, more = entries(actor, action, offset, PAGE_SIZE)
    rows = [{**e, "when": _local(e), "changes": compact_diff(e.get("before") or {}, e.get("after") or {})}
            for e in found]
    return render("console/audit.html", title="操作记录", rows=rows, actor=actor, action=action, offset=offset,
                  more=more, page_size=PAGE_SIZE, labels=ACTION_LABELS, tz=config().account.timezone)


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str | None = Field(None, max_length=64, description="a user name, or cli")
    action: str | None = Field(None, max_length=64, description="a prefix: user. for every user change")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    limit: int = Field(PAGE_SIZE, ge=1, le=200)


class AuditEntry(BaseModel):
    at: datetime = Field(description="in the account's time zone")
    actor: str
    action: str
    target: str
    before: dict[str, Any]
    after: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_offset: int | None = Field(description="pass it as offset for the next page; null at the end")


@operation("/audit", "GET", summary="The audit log, newest first (no passwords, tokens or openids)", tag="audit",
           area="audit", query=AuditQuery, response=AuditPage)
def audit_list(caller: Caller, query: AuditQuery) -> AuditPage:
    found, more = entries(query.actor, query.action, query.offset, query.limit)
    tz = config().account.tz
    return AuditPage(entries=[AuditEntry(at=datetime.fromtimestamp(e["at"], tz), actor=e["actor"],
                                         action=e["action"], target=e["target"], before=e.get("before") or {},
                                         after=e.get("after") or {}) for e in found],
                     next_offset=query.offset + len(found) if more else None)
