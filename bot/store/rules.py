"""Keyword rules, their per-day hit counts and unmatched messages, survey link clicks."""

from __future__ import annotations

import json
from typing import Any, cast

from bot.store.base import STATS_TTL, StoreBase


class RulesStore(StoreBase):
    """The rules document (versioned), rule hits, unmatched messages and survey clicks."""

    def rules_version(self) -> int:
        return int(cast(bytes | None, self.redis.get(self.key("rules", "version"))) or 0)

    def load_rules(self) -> tuple[int, list[dict[str, Any]]] | None:
        """The rules document and its version, or None before the first seed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.key("rules"))
        pipe.get(self.key("rules", "version"))
        raw, version = pipe.execute()
        if raw is None:
            return None
        return int(version or 0), json.loads(raw)

    def save_rules(self, rules: list[dict[str, Any]], expected_version: int | None = None) -> int:
        """Replace all rules atomically; returns the new version, or -1 if `expected_version` is stale."""
        doc = json.dumps(rules, ensure_ascii=False, separators=(",", ":"))
        expected = "" if expected_version is None else str(expected_version)
        keys = [self.key("rules"), self.key("rules", "version")]
        return int(self._scripts["replace_versioned"](keys=keys, args=[doc, expected]))

    def seed_rules(self, rules: list[dict[str, Any]]) -> bool:
        """Store the initial rules unless rules already exist (first start only)."""
        return self.save_rules(rules, expected_version=0) > 0

    def rule_hits(self, day: str) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key("stats", "rules", day)))
        return {k.decode(): int(v) for k, v in raw.items()}

    def unmatched(self, day: str, limit: int = 100) -> list[dict[str, str]]:
        raw = cast(list[bytes], self.redis.lrange(self.key("unmatched", day), 0, limit - 1))
        return [json.loads(r) for r in raw]

    def count_survey_click(self, who: str, day: str, ttl: int = STATS_TTL) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key("stats", "survey", day), "clicks", 1)
        pipe.expire(self.key("stats", "survey", day), ttl)
        pipe.pfadd(self.key("survey", "clickers", day), who)
        pipe.expire(self.key("survey", "clickers", day), ttl)
        pipe.execute()

    def survey_clicks(self, day: str) -> tuple[int, int]:
        """(clicks, distinct followers) on `day`."""
        clicks = cast(bytes | None, self.redis.hget(self.key("stats", "survey", day), "clicks"))
        return int(clicks or 0), self.redis.pfcount(self.key("survey", "clickers", day))
