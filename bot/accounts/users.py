"""The accounts service: users, passwords, log-ins, sessions and API tokens (the CLI and the console use it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.accounts.audit import AuditLog
from bot.accounts.model import AccountError, LoginRefused, UnknownUser, User, check_role, normalize_name
from bot.accounts.passwords import MAX_LENGTH, Hasher, check_policy
from bot.accounts.sessions import Session, Sessions
from bot.accounts.throttle import LoginThrottle, address_pseudonym
from bot.accounts.tokens import looks_like_token, new_token, token_hash
from bot.config import ConsoleConfig
from bot.store import Store

log = logging.getLogger(__name__)

# One answer for an unknown name and a wrong password, so nobody can find out which names exist.
WRONG = "wrong user name or password"
INVALID_NAME_BUCKET = "~invalid"  # throttles guesses with names no user can have


def _time(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


class UserService:
    """Every change to a user is recorded in the audit log with its `actor` (a user name, or ``cli``)."""

    def __init__(self, store: Store, console: ConsoleConfig, clock: Callable[[], datetime], audit: AuditLog,
                 secret_key: str) -> None:
        self.store = store
        self.clock = clock
        self.audit = audit
        self.hasher = Hasher(console.argon2_time_cost, console.argon2_memory_kib, console.argon2_parallelism)
        self.sessions = Sessions(store, console, clock)
        self.throttle = LoginThrottle(store, console, clock)
        self._secret_key = secret_key

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat(timespec="seconds")

    def _user(self, name: str, fields: dict[str, str]) -> User:
        return User(name=name, role=check_role(fields.get("role", "")), enabled=fields.get("enabled") == "1",
                    created=_time(fields.get("created")) or datetime.fromtimestamp(0, UTC),
                    last_login=_time(fields.get("last_login")), has_token=bool(fields.get("token")))

    # -- reading -------------------------------------------------------------------------------------

    def get(self, name: str) -> User | None:
        try:
            name = normalize_name(name)
        except AccountError:
            return None
        fields = self.store.user(name)
        return self._user(name, fields) if fields else None

    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise UnknownUser(f"no user named {name.strip().casefold()!r}")
        return user

    def list_users(self) -> list[User]:
        return [u for u in map(self.get, self.store.user_names()) if u is not None]

    def any_user(self) -> bool:
        return bool(self.store.user_names())

    # -- changes ---------------------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str, *, actor: str, first: bool = False,
            check: bool = True) -> User | None:
        """Create a user; a taken name is an AccountError. `first`: only if no user exists (None otherwise)."""
        name, checked_role = normalize_name(name), check_role(role)
        if check:
            check_policy(password, name)
        now = self._now()
        fields = {"role": checked_role, "enabled": "1", "created": now, "password_changed": now,
                  "hash": self.hasher.hash(password)}
        if not self.store.add_user(name, fields, only_if_none=first):
            if first:
                return None
            raise AccountError(f"user {name!r} already exists")
        user = self.require(name)
        self.audit.record(actor, "user.add", f"user:{name}", after=user.summary())
        log.info("user %s (%s) added by %s", name, checked_role, actor)
        return user

    def _keeps_an_admin(self, before: User, actor: str, change: str) -> None:
        """Refuse `change` (disable, demote) of `before` if it is the actor's own or leaves no enabled admin."""
        if before.name == actor:
            raise AccountError(f"you cannot {change} yourself; ask another admin")
        if before.is_admin and before.enabled and not any(
                u.is_admin and u.enabled and u.name != before.name for u in self.list_users()):
            raise AccountError(f"cannot {change} {before.name!r}: they are the last enabled admin")

    def _set_enabled(self, name: str, enabled: bool, actor: str) -> User:
        before = self.require(name)
        if before.enabled == enabled:
            return before
        if not enabled:
            self._keeps_an_admin(before, actor, "disable")
        self.store.update_user(before.name, {"enabled": "1" if enabled else "0"})
        if not enabled:
            self.sessions.end_all(before.name)
        after = self.require(name)
        self.audit.record(actor, "user.enable" if enabled else "user.disable", f"user:{before.name}",
                          before=before.summary(), after=after.summary())
        log.info("user %s %s by %s", before.name, "enabled" if enabled else "disabled", actor)
        return after

    def disable(self, name: str, *, actor: str) -> User:
        """Nobody can log in as the user or use their token any more; their sessions end now."""
        return self._set_enabled(name, False, actor)

    def enable(self, name: str, *, actor: str) -> User:
        return self._set_enabled(name, True, actor)

    def set_role(self, name: str, role: str, *, actor: str) -> User:
        before = self.require(name)
        if before.is_admin and check_role(role) != "admin":
            self._keeps_an_admin(before, actor, "demote")
        self.store.update_user(before.name, {"role": check_role(role)})
        after = self.require(name)
        if after.role != before.role:
            self.audit.record(actor, "user.role", f"user:{before.name}", before=before.summary(),
                              after=after.summary())
        return after

    def _store_password(self, user: User, password: str, actor: str, action: str) -> int:
        check_policy(password, user.name)
        self.store.update_user(user.name, {"hash": self.hasher.hash(password), "password_changed": self._now()})
        ended = self.sessions.end_all(user.name)  # whoever knew the old one is logged out
        self.audit.record(actor, action, f"user:{user.name}", after={"sessions_ended": ended})
        log.info("password of %s %s by %s; %d sessions ended", user.name,
                 "reset" if action == "user.password_reset" else "changed", actor, ended)
        return ended

    def change_password(self, name: str, current: str, new: str, *, address: str) -> None:
        """The user's own change: needs the current password (throttled like a log-in)."""
        check_policy(new, name.strip().casefold())  # before the current one is tried: a refusal changes nothing
        user = self.authenticate(name, current, address)
        self._store_password(user, new, user.name, "user.password_change")

    def reset_password(self, name: str, new: str, *, actor: str) -> int:
        """An operator's or admin's reset, without the current password; ends the user's sessions (how many)."""
        return self._store_password(self.require(name), new, actor, "user.password_reset")

    # -- log-in, sessions ---------------------------------------------------------------------------------

    def authenticate(self, name: str, password: str, address: str) -> User:
        """The user if `password` is theirs and they are enabled; else LoginRefused (throttled, logged)."""
        where = address_pseudonym(self._secret_key, address)
        try:
            name = normalize_name(name)
        except AccountError:
            name = INVALID_NAME_BUCKET
        attempt = self.throttle.admit(name, where)
        fields = None if name == INVALID_NAME_BUCKET else self.store.user(name)
        if fields is None or len(password) > MAX_LENGTH:
            self.hasher.verify_nobody(password[:MAX_LENGTH])
            self.throttle.failed(name, where)
            raise LoginRefused(WRONG)
        stored = fields.get("hash", "")
        if not self.hasher.verify(stored, password):
            self.throttle.failed(name, where)
            raise LoginRefused(WRONG)
        if fields.get("enabled") != "1":
            log.warning("log-in for disabled user %s from %s refused", name, where)
            raise LoginRefused("this account is disabled; ask an admin")
        self.throttle.succeeded(name, where, attempt)
        changes = {"last_login": self._now()}
        if self.hasher.needs_rehash(stored):  # parameters changed since: upgrade while we hold the password
            changes["hash"] = self.hasher.hash(password)
            log.info("password hash of %s redone with the current parameters", name)
        self.store.update_user(name, changes)
        return self.require(name)

    def log_in(self, name: str, password: str, address: str) -> tuple[User, str]:
        """Authenticate and open a session with a fresh id: (user, session id for the browser)."""
        user = self.authenticate(name, password, address)
        session_id = self.sessions.create(user.name, address_pseudonym(self._secret_key, address))
        log.info("user %s logged in from %s", user.name, address_pseudonym(self._secret_key, address))
        return user, session_id

    def log_out(self, session_id: str) -> bool:
        return self.sessions.end(session_id)

    def session_user(self, session_id: str) -> tuple[User, Session] | None:
        """The enabled user of a live session, or None."""
        session = self.sessions.lookup(session_id)
        if session is None:
            return None
        user = self.get(session.user)
        if user is None or not user.enabled:
            self.sessions.end(session_id)
            return None
        return user, session

    # -- API tokens ----------------------------------------------------------------------------------

    def issue_token(self, name: str, *, actor: str) -> str:
        """A new personal API token, returned once; it replaces the user's previous one (one per user)."""
        user = self.require(name)
        token = new_token()
        replaced = self.store.set_api_token(user.name, token_hash(token), self._now()) == 1
        if not user.enabled:
            log.info("token issued for disabled user %s: it works once they are enabled", user.name)
        self.audit.record(actor, "user.token", f"user:{user.name}", before={"had_token": user.has_token},
                          after={"has_token": True, "replaced": replaced})
        log.info("API token of %s %s by %s", user.name, "replaced" if replaced else "issued", actor)
        return token

    def revoke_token(self, name: str, *, actor: str) -> bool:
        """Remove the user's token; False if they had none."""
        user = self.require(name)
        removed = self.store.set_api_token(user.name, "", self._now()) == 1
        if removed:
            self.audit.record(actor, "user.token_revoke", f"user:{user.name}", before={"had_token": True},
                              after={"has_token": False})
            log.info("API token of %s revoked by %s", user.name, actor)
        return removed

    def verify_token(self, token: str) -> User:
        """The enabled user whose token this is, else LoginRefused."""
        if not looks_like_token(token):
            raise LoginRefused("not an API token")
        name = self.store.api_token_user(token_hash(token))
        user = self.get(name) if name else None
        if user is None:
            raise LoginRefused("unknown or revoked API token")
        if not user.enabled:
            raise LoginRefused("this account is disabled; ask an admin")
        return user
