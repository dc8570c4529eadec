"""Daily counters read back for the dashboard: many days in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from bot.store.base import StoreBase


class StatsStore(StoreBase):
    """Reads of the per-day counters other parts of the store write (questions, rule hits, survey clicks)."""

    def daily_counts(self, name: str, days: Sequence[str]) -> list[dict[str, int]]:
        """`stats:{name}:{day}` for each of `days` (field -> count), pipelined."""
        pipe = self.redis.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.key("stats", name, day))
        raw = cast(list[dict[bytes, bytes]], pipe.execute())
        return [{k.decode(): int(v) for k, v in h.items()} for h in raw]

    def daily_clickers(self, days: Sequence[str]) -> list[int]:
        """Distinct followers who clicked the survey link on each of `days` (approximate: HyperLogLog)."""
        pipe = self.redis.pipeline(transaction=False)
        for day in days:
            pipe.pfcount(self.key("survey", "clickers", day))
        return [int(n) for n in pipe.execute()]
