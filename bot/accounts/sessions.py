"""Server-side console sessions: a fresh random id at each log-in, idle and absolute lifetimes."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import ConsoleConfig
from bot.store import Store


def _hashed(session_id: str) -> str:
    # Only the id's hash is a key name: a copy of the database holds no session anyone could use.
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    created: datetime
    seen: datetime


class Sessions:
    """Create, look up and end sessions; the store's TTL only tidies, the clock here decides."""

    def __init__(self, store: Store, console: ConsoleConfig, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.idle = console.session_idle_minutes * 60
        self.absolute = console.session_max_hours * 3600
        self.clock = clock

    def create(self, user: str, address: str) -> str:
        """A new session for `user`; its id (given to the browser, never stored as is)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock().timestamp()
        self.store.add_session(_hashed(session_id), {"user": user, "created": repr(now), "seen": repr(now),
                                                     "address": address}, ttl=self.idle, index_ttl=self.absolute)
        return session_id

    def lookup(self, session_id: str) -> Session | None:
        """The live session with this id (its use recorded), or None; an expired one is ended."""
        if not session_id or len(session_id) > 128:
            return None
        key = _hashed(session_id)
        fields = self.store.session(key)
        if fields is None:
            return None
        now = self.clock().timestamp()
        created, seen = float(fields["created"]), float(fields["seen"])
        left = min(created + self.absolute - now, self.idle)
        if now - seen >= self.idle or left <= 0:
            self.store.end_session(key)
            return None
        if not self.store.touch_session(key, repr(now), max(1, math.ceil(left))):
            return None
        return Session(user=fields["user"], created=datetime.fromtimestamp(created, UTC),
                       seen=datetime.fromtimestamp(now, UTC))

    def end(self, session_id: str) -> bool:
        """Log-out: True if the session was live."""
        return self.store.end_session(_hashed(session_id))

    def end_all(self, user: str) -> int:
        return self.store.end_user_sessions(user)
