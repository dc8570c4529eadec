"""The articles-and-survey catalog: one versioned JSON document, polled together with the rules' version."""

from __future__ import annotations

import json
from typing import Any

from bot.store.base import StoreBase


class CatalogStore(StoreBase):
    """The catalog document (``{"articles": [...], "survey": {...}}``) and its version."""

    def load_catalog(self) -> tuple[int, dict[str, Any]] | None:
        """The catalog document and its version, or None before the first seed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.key("catalog"))
        pipe.get(self.key("catalog", "version"))
        raw, version = pipe.execute()
        if raw is None:
            return None
        return int(version or 0), json.loads(raw)

    def save_catalog(self, doc: dict[str, Any], expected_version: int | None = None) -> int:
        """Replace the catalog atomically; returns the new version, or -1 if `expected_version` is stale."""
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        expected = "" if expected_version is None else str(expected_version)
        keys = [self.key("catalog"), self.key("catalog", "version")]
        return int(self._scripts["replace_versioned"](keys=keys, args=[text, expected]))

    def seed_catalog(self, doc: dict[str, Any]) -> bool:
        """Store the initial catalog unless one already exists (first start only)."""
        return self.save_catalog(doc, expected_version=0) > 0

    def versions(self) -> tuple[int, int]:
        """(rules version, catalog version) in one round trip: what every worker polls."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key("rules", "version"))
        pipe.get(self.key("catalog", "version"))
        rules, catalog = pipe.execute()
        return int(rules or 0), int(catalog or 0)
