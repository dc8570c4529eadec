"""A reply post's life as one small state machine: the moves allowed, checked before the store applies one.

    draft ⇄ scheduled → publishing → published
                 ▲          │  └──→ failed → scheduled (rescheduled) or published (a late job end, an editor)
                 └─ retry ──┘

The store's check-and-set (lua/post_update.lua) makes a move atomic; this table says which moves exist.
A move to the same status renews it (a new schedule time, a new publishing lease); "" changes fields only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import bot.metrics as metrics
from bot.store import Store

STATUSES = ("draft", "scheduled", "publishing", "published", "failed")
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "draft": frozenset({"scheduled"}),
    "scheduled": frozenset({"scheduled", "draft", "publishing"}),
    "publishing": frozenset({"publishing", "scheduled", "published", "failed"}),
    "failed": frozenset({"failed", "scheduled", "published"}),  # failed → failed: a job's late final status
    "published": frozenset(),  # live on WeChat: nothing moves it back
}


class IllegalTransition(ValueError):
    """A move the post state machine does not have: a bug in the caller, never a follower's or editor's input."""


def check_move(allowed: Iterable[str], to: str = "") -> tuple[str, ...]:
    """The statuses a move may start from, each checked against TRANSITIONS; IllegalTransition names the bad one."""
    starts = tuple(allowed)
    if not starts:
        raise IllegalTransition("a post move needs at least one status to start from")
    for status in starts:
        if status not in TRANSITIONS:
            raise IllegalTransition(f"unknown post status {status!r}")
        if to and to not in TRANSITIONS[status]:
            raise IllegalTransition(f"a post cannot move from {status} to {to}")
    if to and to not in TRANSITIONS:
        raise IllegalTransition(f"unknown post status {to!r}")
    return starts


def move_post(store: Store, pid: str, allowed: Iterable[str], to: str = "", *, now: float,
              score: float | None = None, owner: str = "", fields: Mapping[str, str] | None = None) -> bool:
    """Apply a checked move (or, with to="", field changes) if the post is still in one of `allowed`."""
    starts = check_move(allowed, to)
    moved = store.update_post(pid, starts, to, now=now, score=score, owner=owner, fields=fields)
    if moved and (to == "published" or (to == "failed" and "failed" not in starts)):  # ended, counted once
        metrics.POSTS.labels(to).inc()
    return moved
