"""The custom menu: the copy edited for the next push, and the last pushes (what WeChat was sent, and when)."""

from __future__ import annotations

import json
from typing import Any, cast

from bot.store.base import StoreBase

MENU_PUSHES_KEPT = 10


class MenuStore(StoreBase):
    """Menus as menu/create JSON bodies; the services above turn them into `bot.wechat.menu.Menu`."""

    def record_menu_push(self, body: str, at: float) -> None:
        """Keep `body` as the newest push; only the last MENU_PUSHES_KEPT are kept."""
        key = self.key("menu", "pushed")
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(key, json.dumps({"at": at, "menu": json.loads(body)}, ensure_ascii=False))
        pipe.ltrim(key, 0, MENU_PUSHES_KEPT - 1)
        pipe.execute()

    def menu_pushes(self, limit: int = MENU_PUSHES_KEPT) -> list[dict[str, Any]]:
        """The last pushes, newest first: ``{"at": epoch seconds, "menu": menu/create body}``."""
        raw = cast(list[bytes], self.redis.lrange(self.key("menu", "pushed"), 0, limit - 1))
        return [json.loads(r) for r in raw]

    def save_menu_edit(self, body: str, expected_version: int | None = None) -> int:
        """Keep `body` (``""``: drop the edit); the new version, or -1 if `expected_version` is stale."""
        expected = "" if expected_version is None else str(expected_version)
        keys = [self.key("menu", "edited"), self.key("menu", "version")]
        return int(self._scripts["save_menu_edit"](keys=keys, args=[body, expected]))

    def menu_edit(self) -> str | None:
        raw = cast(bytes | None, self.redis.get(self.key("menu", "edited")))
        return raw.decode("utf-8") if raw else None

    def menu_version(self) -> int:
        return int(cast(bytes | None, self.redis.get(self.key("menu", "version"))) or 0)

    def drop_menu_edit(self, expected_version: int | None = None) -> int:
        return self.save_menu_edit("", expected_version)
