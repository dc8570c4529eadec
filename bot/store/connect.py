"""Which Redis this process uses: REDIS_URL, else the embedded server under data/ (BOT_DATA_DIR)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.store import DEFAULT_PREFIX, EmbeddedRedis, Store


def connect_store(env: Mapping[str, str]) -> Store:
    """The store every entry point uses (web, scheduler, CLI), from the process's environment."""
    prefix = env.get("BOT_REDIS_PREFIX", DEFAULT_PREFIX)
    url = env.get("REDIS_URL", "").strip()
    if not url:
        url = EmbeddedRedis(env.get("BOT_DATA_DIR", "data")).url
    return Store.from_url(url, prefix=prefix)
