"""What every feature router looks like, and the context handed to it.

A router first answers "is this mine?" (`check`, returning what it found or None); the
dispatcher then calls `handle` with that finding, so a match is computed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from bot.accounts.audit import AuditLog
from bot.accounts.users import UserService
from bot.config import Config
from bot.questions.posts import PostService
from bot.rules.catalog_service import CatalogService
from bot.rules.ruleset import RuleSet
from bot.stats import Stats
from bot.store import Effect, Store, Write
from bot.wechat.api import WeChatAPI
from bot.wechat.messages import Inbound, Reply


@dataclass(frozen=True, slots=True)
class Outcome:
    """A handler's answer: the reply (None: answer `success`, nothing shown) and counted effects."""

    reply: Reply | None
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class Written:
    """What `handle` gets instead of the finding when the router's `write` asked the claim for a write."""

    found: Any  # what `check` found
    result: Any  # what the write's script answered; None when Redis could not be reached
    links_waiting: bool = False  # answer links wait for this follower (the claim's flag, same round trip)


@dataclass(frozen=True, slots=True)
class Services:
    """The feature services a handler may reach (typed, so readers and mypy both know what that is)."""

    rules: RuleSet  # the live keyword rules of this worker
    posts: PostService  # questions in, reply posts and their publishing
    api: WeChatAPI | None  # WeChat's API; None when no AppSecret is configured
    users: UserService  # console accounts, log-ins, sessions and API tokens
    audit: AuditLog  # who changed what (users now; rules, posts and the rest as they take an actor)
    catalog: CatalogService  # the articles and the survey (read live through `rules`), edited with audit
    stats: Stats  # the dashboard's figures from the daily counters


@dataclass(frozen=True)
class Context:
    """What a handler may use; built once per app, never global."""

    config: Config
    store: Store
    clock: Callable[[], datetime]  # timezone-aware "now"
    pseudonym: Callable[[str], str]  # openid -> stable pseudonymous id
    services: Services
    _day: list[Any] = field(default_factory=lambda: [None, ""], repr=False)  # (minute, YYYYMMDD) cache

    def today(self) -> str:
        """The account-local date as YYYYMMDD, the bucket for daily statistics."""
        now = self.clock()
        minute = int(now.timestamp()) // 60  # zone offsets are whole minutes: the date cannot change within one
        cached = self._day
        if cached[0] != minute:
            cached[1] = now.astimezone(self.config.account.tz).strftime("%Y%m%d")
            cached[0] = minute
        return str(cached[1])


class Router:
    """One feature's message routing. Subclasses set `name` and implement `check` and `handle`."""

    name: ClassVar[str] = "router"
    # A pure router's `handle` reads only in-memory state and returns its writes as effects, so the
    # webhook can answer with a single Redis round trip. Others run off the request thread under
    # WeChat's deadline and may do I/O.
    pure: ClassVar[bool] = True

    def check(self, msg: Inbound, ctx: Context) -> object | None:
        """What this router found in `msg` (handed to `handle`), or None when it is not ours."""
        raise NotImplementedError

    def write(self, msg: Inbound, found: Any, ctx: Context) -> Write | None:
        """A non-pure router's store write, made by the dedup claim itself (so at most once, and one round trip
        fewer); `handle` then gets `Written`. Computed on the request thread: memory only."""
        return None

    def handle(self, msg: Inbound, found: Any, ctx: Context) -> Outcome:
        raise NotImplementedError


class Dispatcher:
    """Tries routers in their declared order; the first whose `check` accepts the message wins."""

    def __init__(self, routers: tuple[Router, ...]) -> None:
        if not routers:
            raise ValueError("no routers")
        self.routers = routers

    def route(self, msg: Inbound, ctx: Context) -> tuple[Router, object]:
        for router in self.routers:
            found = router.check(msg, ctx)
            if found is not None:
                return router, found
        raise LookupError(f"no router accepts {msg.kind}; the last router must accept everything")
