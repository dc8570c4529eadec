"""The webhook's one round trip: claim a push (dedup, replay binding), apply its handler's effects."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from bot.store.base import StoreBase

FORGED = -1  # what `claim` answers for a plaintext push whose signature came with another body


@dataclass(frozen=True, slots=True)
class Effect:
    """A write a pure handler asks for, applied atomically with the dedup claim (so never twice)."""

    # "hincr" (field += 1, key TTL arg), "push" (LPUSH value, keep arg newest), "flag" (report EXISTS),
    # "touch" (set the hash's last_seen to value, if the hash exists), "expire" (key TTL arg)
    op: str
    key: str
    value: str
    arg: int


@dataclass(frozen=True, slots=True)
class Write:
    """A script call a non-pure handler needs, carried by the dedup claim (`claim_with`): run at most once."""

    script: str  # lua/{script}.lua; lua/claim_{script}.lua runs it after the claim
    keys: tuple[str, ...]
    args: tuple[Any, ...]


class WebhookStore(StoreBase):
    """Dedup claims, outcomes for retries, and the writes a pure handler asks for."""

    def claim(self, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect] = (),
              binding: tuple[str, str] | None = None, binding_ttl: int = 0) -> bytes | int | None:
        """Store `value` for a new push and apply `effects`; for a retry return what is stored.

        A new push returns None, or 1 if the key of a "flag" effect exists. `binding` (signature, body digest)
        ties a plaintext push's signature to its body: another body under it returns FORGED, changing nothing.
        """
        keys, args = self._claim_args(dedup_key, value, ttl, effects, binding, binding_ttl)
        try:
            result = self._held.call("EVALSHA", self._scripts["claim"].sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # first use, or the server restarted: load it once
            result = self._scripts["claim"](keys=keys, args=args)
        return cast(bytes | int | None, result)

    def claim_with(self, write: Write, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect] = (),
                   binding: tuple[str, str] | None = None, binding_ttl: int = 0) -> tuple[bytes | int | None, Any]:
        """`claim`, and `write` only if this call claimed the push: (None or 1 as `claim` answers, the write's
        result) for a new push, else (what `claim` answers, None). One round trip (with WAIT, when configured).
        """
        keys, args = self._claim_args(dedup_key, value, ttl, effects, binding, binding_ttl)
        result = self._durably(f"claim_{write.script}", [*keys, *write.keys],
                               [len(keys), len(args), *args, *write.args])
        if isinstance(result, list):
            return (1 if result[0] == 1 else None), result[1:]
        return result, None

    def _claim_args(self, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect],
                    binding: tuple[str, str] | None, binding_ttl: int) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the claim script: the settle script's, then the plaintext binding (or none)."""
        keys, args = self._effect_args(dedup_key, value, ttl, effects)
        if binding is None:
            args += ("", 0)
        else:
            keys.append(self.key("sig", binding[0]))
            args += (binding[1], binding_ttl or ttl)
        return keys, args

    def _effect_args(self, dedup_key: str, value: bytes, ttl: int,
                     effects: Sequence[Effect]) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of the claim and settle scripts."""
        keys = [self.key("dedup", dedup_key)]
        args: list[Any] = [value, ttl]
        for e in effects:
            keys.append(e.key)
            args.extend((e.op, e.value, e.arg))
        return keys, args

    def settle(self, dedup_key: str, value: bytes, ttl: int, effects: Sequence[Effect] = ()) -> None:
        """Record a push's final outcome after slow handling, with its handler's writes (it ran once)."""
        keys, args = self._effect_args(dedup_key, value, ttl, effects)
        self._scripts["settle"](keys=keys, args=args)

    def outcome(self, dedup_key: str) -> bytes | None:
        return cast(bytes | None, self.redis.get(self.key("dedup", dedup_key)))

    def wait_outcome(self, dedup_key: str, pending: bytes, deadline: float,
                     clock: Callable[[], float] = time.monotonic) -> bytes | None:
        """Poll until the push is no longer `pending` or `deadline` (a clock value) passes."""
        delay = 0.01
        while True:
            value = self.outcome(dedup_key)
            if value != pending:
                return value
            remaining = deadline - clock()
            if remaining <= 0:
                return value
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.2)

    def hit_effect(self, name: str, field: str, day: str, ttl: int = 90 * 86400) -> Effect:
        """Count one hit of `field` in the per-day counter `name` (e.g. rule hits)."""
        return Effect("hincr", self.key("stats", name, day), field, ttl)

    def unmatched_effects(self, record: dict[str, str], day: str, days: int, keep: int = 1000) -> tuple[Effect, ...]:
        """Remember a message no rule answered (already scrubbed), newest `keep` per day, for `days` days."""
        key = self.key("unmatched", day)
        return (Effect("push", key, json.dumps(record, ensure_ascii=False), keep),
                Effect("expire", key, "", days * 86400))
