"""Failed log-ins slowed down per account and per client address, with a lockout that grows."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bot.accounts.model import LoginRefused
from bot.config import ConsoleConfig
from bot.store import Store

log = logging.getLogger(__name__)


def address_pseudonym(secret_key: str, address: str) -> str:
    """A client address as it appears in keys and logs: keyed, so it cannot be looked up from a list."""
    key = hashlib.sha256(b"wxbot-address\x00" + secret_key.encode("utf-8")).digest()
    return "a_" + hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class LoginThrottle:
    """After too many failures in the window, attempts are refused for a while that doubles each time."""

    def __init__(self, store: Store, console: ConsoleConfig, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.console = console
        self.clock = clock

    def admit(self, name: str, address: str) -> str:
        """Let one attempt through (its id, counted as a failure until `succeeded`), or LoginRefused."""
        c = self.console
        attempt = uuid.uuid4().hex
        which, until = self.store.login_attempt(
            name, address, now=self.clock().timestamp(), window=c.login_window_minutes * 60,
            max_account=c.login_max_failures, max_address=c.login_max_failures_per_address,
            first_lockout=c.login_lockout_seconds, longest_lockout=c.login_lockout_max_minutes * 60,
            attempt=attempt)
        if which:
            retry_at = datetime.fromtimestamp(until, UTC)
            log.warning("log-in for %s from %s refused: too many failed log-ins for this %s until %s", name,
                        address, "account" if which == 1 else "address", retry_at.isoformat(timespec="seconds"))
            raise LoginRefused(f"too many failed log-ins; try again after {retry_at:%Y-%m-%d %H:%M:%S} UTC",
                               retry_at)
        return attempt

    def failed(self, name: str, address: str) -> None:
        log.warning("failed log-in for %s from %s", name, address)

    def succeeded(self, name: str, address: str, attempt: str) -> None:
        self.store.login_succeeded(name, address, attempt)
