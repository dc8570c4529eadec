"""The accounts' vocabulary: roles, a user as services see it, names, and the refusals they raise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Role = Literal["admin", "editor"]
ROLES: tuple[Role, ...] = ("admin", "editor")  # admin: everything; editor: questions and reply posts only
EDITOR_AREAS = frozenset({"questions", "posts"})  # what an editor may change; the console asks `User.can`
NAME_PATTERN = re.compile(r"[a-z0-9._-]{2,32}")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why (shown to the person as is)."""


class UnknownUser(AccountError):
    """No user of that name (raised to operators and admins only, never at log-in)."""


class LoginRefused(AccountError):
    """A log-in or token that does not let anyone in; `retry_at` is set when attempts are throttled."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


@dataclass(frozen=True, slots=True)
class User:
    """A console user, without any secret."""

    name: str
    role: Role
    enabled: bool
    created: datetime
    last_login: datetime | None
    has_token: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, area: str) -> bool:
        """May this user change `area` (``questions``, ``posts``, ``rules``, ``users`` ...)?"""
        return self.enabled and (self.is_admin or area in EDITOR_AREAS)

    def summary(self) -> dict[str, object]:
        """What the audit log keeps of a user."""
        return {"name": self.name, "role": self.role, "enabled": self.enabled, "has_token": self.has_token}


def normalize_name(name: str) -> str:
    """The user name as stored (case-folded, trimmed), or an AccountError saying what a name may be."""
    folded = name.strip().casefold()
    if not NAME_PATTERN.fullmatch(folded):
        raise AccountError(f"user name {name!r}: use 2 to 32 of a-z, 0-9, '.', '_' and '-'")
    return folded


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise AccountError(f"role {role!r}: must be admin or editor")
