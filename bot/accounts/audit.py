"""The audit log: who changed what and when, with before and after; never a secret or an openid."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.accounts.tokens import looks_like_token
from bot.config import ConsoleConfig
from bot.store import Store

REDACTED = "[redacted]"
SECRET_WORDS = ("password", "passwd", "hash", "token", "secret", "openid")
_OPENID = re.compile(r"o[A-Za-z0-9_-]{27}")  # WeChat's openids are 28 characters starting with "o"


def _secret_key(key: str) -> bool:
    lowered = key.casefold()
    return any(word in lowered for word in SECRET_WORDS)


def scrub(value: Any) -> Any:
    """`value` with secret-named fields and openid- or token-shaped strings replaced by ``[redacted]``."""
    if isinstance(value, Mapping):
        return {str(k): REDACTED if _secret_key(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, str) and (_OPENID.fullmatch(value) or looks_like_token(value)):
        return REDACTED
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class AuditLog:
    """Records changes (rules, articles, survey, menu, posts, users) for admins to read."""

    def __init__(self, store: Store, console: ConsoleConfig, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.console = console
        self.clock = clock

    def record(self, actor: str, action: str, target: str, before: Mapping[str, Any] | None = None,
               after: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Add one entry (`actor`: a user name or ``cli``; `action` like ``user.disable``); returns it."""
        now = self.clock()
        entry = {"at": now.timestamp(), "t": now.isoformat(timespec="seconds"), "actor": scrub(actor),
                 "action": action, "target": scrub(target), "before": scrub(before or {}),
                 "after": scrub(after or {})}
        keep = self.console.audit_days * 86400
        self.store.add_audit(entry, cap=self.console.audit_max, cutoff=now.timestamp() - keep, ttl=keep)
        return entry

    def recent(self, limit: int = 50, *, actor: str | None = None, action: str | None = None,
               target: str | None = None, since: datetime | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """The newest entries first, the first `offset` matches skipped; `action` matches a prefix (``user.``)."""
        found: list[dict[str, Any]] = []
        for entry in self.store.audit_entries():
            if since is not None and entry["at"] < since.timestamp():
                break  # newest first: the rest are older still
            if ((actor is None or entry["actor"] == actor) and (action is None or entry["action"].startswith(action))
                    and (target is None or entry["target"] == target)):
                if offset > 0:
                    offset -= 1
                    continue
                found.append(entry)
                if len(found) >= limit:
                    break
        return found
