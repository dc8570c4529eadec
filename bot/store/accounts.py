"""Console accounts: users, their sessions and API tokens, failed log-ins, the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, cast

from bot.store.base import StoreBase, as_mapping, strs, text_hash


def _pairs(fields: Mapping[str, str]) -> list[str]:
    return [part for item in fields.items() for part in item]


class AccountStore(StoreBase):
    """Typed operations for `bot.accounts`; names and hashes come in already validated."""

    # -- users -------------------------------------------------------------------------------------

    def add_user(self, name: str, fields: Mapping[str, str], *, only_if_none: bool = False) -> bool:
        """Create the user atomically; False if the name exists (or, `only_if_none`, if any user does)."""
        keys = [self.key("user", name), self.key("users")]
        args = ["1" if only_if_none else "0", name, *_pairs(fields)]
        return bool(self._scripts["add_user"](keys=keys, args=args))

    def user(self, name: str) -> dict[str, str] | None:
        raw = text_hash(self.redis.hgetall(self.key("user", name)))
        return raw or None

    def user_names(self) -> list[str]:
        return sorted(strs(self.redis.smembers(self.key("users"))))

    def update_user(self, name: str, fields: Mapping[str, str], *, remove: str = "") -> bool:
        """Set (and remove one) field of an existing user; False if there is no such user."""
        args = [remove, *_pairs(fields)]
        return bool(self._scripts["update_user"](keys=[self.key("user", name)], args=args))

    # -- API tokens (only their SHA-256 is stored) --------------------------------------------------

    def set_api_token(self, name: str, token_hash: str, created: str) -> int:
        """Replace the user's token by `token_hash` ('' removes it): -1 no such user, 1 one replaced, else 0."""
        args = [self.key("apitoken", ""), token_hash, name, created]
        return int(self._scripts["set_token"](keys=[self.key("user", name)], args=args))

    def api_token_user(self, token_hash: str) -> str | None:
        raw = cast(bytes | None, self.redis.get(self.key("apitoken", token_hash)))
        return raw.decode() if raw is not None else None

    # -- sessions (keyed by the SHA-256 of their id) -------------------------------------------------

    def add_session(self, session_hash: str, fields: Mapping[str, str], ttl: int, index_ttl: int) -> None:
        name = fields["user"]
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("session", session_hash), mapping=as_mapping(fields))
        pipe.expire(self.key("session", session_hash), ttl)
        pipe.sadd(self.key("user", name, "sessions"), session_hash)
        pipe.expire(self.key("user", name, "sessions"), index_ttl)
        pipe.execute()

    def session(self, session_hash: str) -> dict[str, str] | None:
        return text_hash(self.redis.hgetall(self.key("session", session_hash))) or None

    def touch_session(self, session_hash: str, seen: str, ttl: int) -> bool:
        """Record a use of a live session and extend its lifetime; False if it has ended meanwhile."""
        return bool(self._scripts["touch_session"](keys=[self.key("session", session_hash)], args=[seen, ttl]))

    def end_session(self, session_hash: str) -> bool:
        key = self.key("session", session_hash)
        name = cast(bytes | None, self.redis.hget(key, "user"))
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        if name is not None:
            pipe.srem(self.key("user", name.decode(), "sessions"), session_hash)
        return bool(pipe.execute()[0])

    def end_user_sessions(self, name: str) -> int:
        """End every session of `name`; how many were live."""
        keys = [self.key("user", name, "sessions")]
        return int(self._scripts["end_sessions"](keys=keys, args=[self.key("session", "")]))

    def user_sessions(self, name: str) -> list[str]:
        """Hashes of the user's sessions that are still live."""
        members = strs(self.redis.smembers(self.key("user", name, "sessions")))
        return [m for m in members if self.redis.exists(self.key("session", m))]

    # -- the API's rate limit -------------------------------------------------------------------------

    def api_hit(self, who: str, window: int) -> tuple[int, int]:
        """Count one API request of `who` (``user:NAME`` or ``addr:PSEUDONYM``) in its fixed window of `window`
        seconds, in one round trip: (requests in this window so far, seconds until it ends)."""
        result = cast(list[Any], self._scripts["api_hit"](keys=[self.key("ratelimit", "api", who)], args=[window]))
        return int(result[0]), max(1, int(result[1]))

    # -- failed log-ins ------------------------------------------------------------------------------

    def login_attempt(self, name: str, address: str, *, now: float, window: int, max_account: int,
                      max_address: int, first_lockout: int, longest_lockout: int, attempt: str) -> tuple[int, float]:
        """Admit an attempt (0, 0.0) or say which limit holds it back until when: (1 account | 2 address, until)."""
        keys = [self.key("login", "fail", "user", name), self.key("login", "fail", "addr", address)]
        args: list[str | int] = [repr(now), window, max_account, max_address, first_lockout, longest_lockout,
                                 attempt, window + longest_lockout]
        result = cast(list[Any], self._scripts["login_attempt"](keys=keys, args=args))
        return (0, 0.0) if int(result[0]) == 0 else (int(result[0]), float(result[1]))

    def login_succeeded(self, name: str, address: str, attempt: str) -> None:
        """A successful attempt is no failure; it also clears the account's failures."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key("login", "fail", "user", name))
        pipe.zrem(self.key("login", "fail", "addr", address), attempt)
        pipe.execute()

    # -- the audit log --------------------------------------------------------------------------------

    def add_audit(self, entry: Mapping[str, Any], *, cap: int, cutoff: float, ttl: int) -> int:
        """Add an entry (it must hold ``at``, epoch s), trimming to `cap` and dropping those before `cutoff`."""
        doc = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        return int(self._scripts["audit_record"](keys=[self.key("audit")], args=[doc, cap, repr(cutoff), ttl]))

    def audit_entries(self, chunk: int = 500) -> Iterator[dict[str, Any]]:
        """Audit entries, newest first, read in chunks."""
        start = 0
        while True:
            raw = cast(list[bytes], self.redis.lrange(self.key("audit"), start, start + chunk - 1))
            for item in raw:
                yield json.loads(item)
            if len(raw) < chunk:
                return
            start += chunk
