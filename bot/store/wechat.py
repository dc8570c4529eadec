"""What talking to WeChat's API needs kept: the shared access token, locks, late replies."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from bot.store.base import StoreBase

OUTBOX_TTL = 48 * 3600  # WeChat refuses customer-service messages 48 h after the follower's last message


class WeChatStore(StoreBase):
    """Late replies (outbox), the shared access token, configuration errors and short locks."""

    def push_outbox(self, item: dict[str, Any], keep: int = 10000, now: float | None = None) -> None:
        """Queue a late reply (its ``at`` set now if absent); only the newest `keep` wait, none past OUTBOX_TTL."""
        key = self.key("outbox")
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps({"at": time.time() if now is None else now, **item}, ensure_ascii=False))
        pipe.ltrim(key, -keep, -1)
        pipe.expire(key, OUTBOX_TTL)
        pipe.execute()

    def pop_outbox(self, now: float | None = None) -> dict[str, Any] | None:
        """The oldest late reply still within WeChat's reply window; older ones are dropped."""
        now = time.time() if now is None else now
        while (raw := cast(bytes | None, self.redis.lpop(self.key("outbox")))) is not None:
            item: dict[str, Any] = json.loads(raw)
            if now - float(item.get("at", now)) < OUTBOX_TTL:
                return item
            logging.getLogger(__name__).warning("late reply dropped: older than WeChat's 48 h reply window")
        return None

    def outbox_size(self) -> int:
        return self.redis.llen(self.key("outbox"))

    def get_token(self, appid: str) -> tuple[str, float] | None:
        raw = cast(bytes | None, self.redis.get(self.key("token", appid)))
        if not raw:
            return None
        data = json.loads(raw)
        return str(data["token"]), float(data["expires_at"])

    def set_token(self, appid: str, token: str, expires_at: float, now: float) -> None:
        ttl = max(1, int(expires_at - now))
        self.redis.set(self.key("token", appid), json.dumps({"token": token, "expires_at": expires_at}), ex=ttl)

    def drop_token(self, appid: str, token: str) -> None:
        """Forget the shared token if it is still the one WeChat just refused."""
        current = self.get_token(appid)
        if current and current[0] == token:
            self.redis.delete(self.key("token", appid))

    def set_api_config_error(self, appid: str, message: str, ttl: int = 300) -> None:
        self.redis.set(self.key("apierr", appid), message, ex=ttl)

    def api_config_error(self, appid: str) -> str | None:
        raw = cast(bytes | None, self.redis.get(self.key("apierr", appid)))
        return raw.decode("utf-8") if raw else None

    @contextmanager
    def lock(self, name: str, ttl: float, wait: float) -> Iterator[bool]:
        """A short Redis lock; yields whether it was acquired within `wait` seconds."""
        key = self.key("lock", name)
        holder = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        acquired = False
        delay = 0.01
        while True:
            if self.redis.set(key, holder, nx=True, px=int(ttl * 1000)):
                acquired = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        try:
            yield acquired
        finally:
            if acquired:
                self._scripts["unlock"](keys=[key], args=[holder])
