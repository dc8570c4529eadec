"""The first admin: created at start-up from BOT_ADMIN_PASSWORD when the store has no user yet."""

from __future__ import annotations

import logging

from bot.accounts.passwords import policy_problem
from bot.accounts.users import UserService
from bot.config import Config, ConfigError

log = logging.getLogger(__name__)
FIRST_ADMIN = "admin"


def ensure_first_admin(config: Config, users: UserService) -> bool:
    """Create admin `admin` if no user exists and BOT_ADMIN_PASSWORD is set; True if this call created it.

    Atomic: however many workers start at once, one creates it. A weak password stops production and is a
    warning elsewhere.
    """
    password = config.console.admin_password
    if not password or users.any_user():
        return False
    problem = policy_problem(password, FIRST_ADMIN)
    if problem:
        message = f"environment: BOT_ADMIN_PASSWORD: {problem.removeprefix('password: ')}"
        if config.mode == "production":
            raise ConfigError(message)
        log.warning("%s (accepted outside production)", message)
    created = users.add(FIRST_ADMIN, "admin", password, actor="bootstrap", first=True, check=False)
    if created is None:
        return False
    log.warning("created the first admin %r from BOT_ADMIN_PASSWORD; change its password after logging in",
                FIRST_ADMIN)
    return True
