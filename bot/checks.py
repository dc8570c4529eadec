"""Start-up checks beyond the config file: what the bot's surroundings must promise before it accepts pushes."""

from __future__ import annotations

import logging

from bot.config import Config, ConfigError
from bot.store import Store, StoreError

log = logging.getLogger(__name__)


def check_store(config: Config, store: Store) -> None:
    """Warn, and refuse in production, when the Redis server could lose or evict accepted questions."""
    try:
        problems = store.durability_problems()
    except StoreError as exc:  # down at start-up: the webhook copes; the check is repeated on the next start
        log.warning("REDIS_URL: could not check that the server persists (%s)", type(exc).__name__)
        return
    if problems and config.mode == "production":
        raise ConfigError("refusing to start in production:\n" + "\n".join(f"REDIS_URL: {p}" for p in problems))
    for problem in problems:
        log.warning("REDIS_URL: %s", problem)
