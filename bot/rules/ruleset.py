"""The keyword rules every worker answers with: stored in Redis, compiled once per version.

Each worker keeps the compiled rules in memory and asks Redis for the version at most every
`check_every` seconds, so an admin's change reaches every worker within a second while an ordinary
message costs no extra round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from bot.config import Config
from bot.rules.matcher import CompiledRules, compile_rules
from bot.rules.model import Rule, RuleError, RuleMatch
from bot.rules.parsing import parse_rules, rule_to_dict
from bot.rules.urgent import urgent_overhead
from bot.store import Store, StoreError
from bot.wechat import messages as m

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleBook:
    """One version of the rules, compiled (urgent rules rank above all others)."""

    version: int
    rules: tuple[Rule, ...]
    compiled: CompiledRules
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # replies derived from it

    @classmethod
    def build(cls, rules: tuple[Rule, ...], version: int) -> RuleBook:
        # Every caller passes rules parsed with the speed check (at import, or from config) or stored ones.
        return cls(version, rules, compile_rules(rules, version, check_speed=False))

    def explain(self, text: str, kind: str, now: datetime) -> list[RuleMatch]:
        """Every rule that matches, the one that fires first (for `rules test` and the console)."""
        return self.compiled.match_all(text, kind, now)


def rule_input(msg: m.Inbound) -> tuple[str, str] | None:
    """What rules match against, and the input kind, for the messages rules apply to."""
    text = m.input_text(msg)
    if text:
        return text, msg.kind
    if isinstance(msg, m.ClickEvent):
        return msg.key, "click"
    if isinstance(msg, m.SubscribeEvent):
        return msg.scene or "", "subscribe"
    return None


class RuleSet:
    """The current rules for this process; `current()` is cheap enough for every message."""

    def __init__(self, store: Store, config: Config, check_every: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.config = config
        self.check_every = check_every
        self.clock = clock
        self._book: RuleBook | None = None
        self._bad_version = -1  # a stored version that did not parse: not retried every poll
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._article_ids = frozenset(a.id for a in config.articles)
        self._memo = threading.local()

    def match(self, msg: m.Inbound, now: datetime) -> RuleMatch | None:
        """The winning rule for `msg`; computed once per message however many routers ask."""
        memo = self._memo
        if getattr(memo, "msg", None) is msg:
            return memo.result
        given = rule_input(msg)
        result = None if given is None else self.current().compiled.match(given[0], given[1], now)
        memo.msg, memo.result = msg, result
        return result

    def current(self) -> RuleBook:
        now = self.clock()
        book = self._book
        if book is not None and now - self._checked < self.check_every:
            return book
        with self._lock:
            if self._book is not None and now - self._checked < self.check_every:
                return self._book
            self._checked = now
            try:
                version = self.store.rules_version()
                if self._book is None or version not in (self._book.version, self._bad_version):
                    self._book = self._load()
            except StoreError as exc:
                # Keep answering with what we have (or the seed) while Redis is away.
                log.warning("rules not refreshed: %s", type(exc).__name__)
                if self._book is None:
                    self._book = RuleBook.build(self.config.seed_rules, 0)
            return self._book

    def _load(self) -> RuleBook:
        loaded = self.store.load_rules()
        if loaded is None:
            if self.store.seed_rules([rule_to_dict(r) for r in self.config.seed_rules]):
                log.info("seeded %d keyword rules from %s", len(self.config.seed_rules), self.config.source)
            loaded = self.store.load_rules()
            if loaded is None:  # a version without rules (deleted by hand): answer with the seed meanwhile
                log.error("stored rules missing although a version exists; using the seed rules")
                return self._book or RuleBook.build(self.config.seed_rules, 0)
        version, docs = loaded
        try:
            # Checked for speed when saved: a busy worker must not refuse them for timing alone.
            rules = tuple(parse_rules(docs, article_ids=self._article_ids, check_speed=False))
        except RuleError as exc:
            # Saved rules were valid when saved; an article removed from config since can break them.
            log.error("stored rules v%d no longer valid (%s); keeping the previous ones", version, exc.errors[0])
            self._bad_version = version
            return self._book or RuleBook.build(self.config.seed_rules, 0)
        log.info("keyword rules v%d loaded: %d rules", version, len(rules))
        return RuleBook.build(rules, version)

    # -- editing (CLI now, console later) ------------------------------------------------------

    def urgent_overhead(self) -> int:
        """UTF-8 bytes the urgent reply adds around an urgent rule's text, for this config's contact."""
        return urgent_overhead(self.config.account.contact)

    def validate(self, items: Any, *, allow_no_urgent: bool = False) -> list[Rule]:
        """Parse rule dicts, all or nothing; raises RuleError naming every bad field.

        Urgent texts must fit WeChat's reply limit with the urgent wrapper around them, and a rule
        set without any enabled urgent rule is refused unless `allow_no_urgent`: urgent symptoms
        would otherwise get the default reply.
        """
        if not isinstance(items, list):
            raise RuleError(["rules: must be a list of rules"])
        rules = parse_rules(items, article_ids=self._article_ids, urgent_overhead=self.urgent_overhead())
        if not allow_no_urgent and not any(r.urgent and r.enabled for r in rules):
            raise RuleError([
                "rules: at least one enabled urgent rule is required (urgent: true), or urgent symptoms "
                "such as fever get the default reply; to import such rules anyway use "
                "`rules import --allow-no-urgent`"
            ])
        return rules

    def draft(self, items: Any, *, allow_no_urgent: bool = False) -> RuleBook:
        """An unsaved rule set, validated and compiled like a saved one (to try it before saving)."""
        return RuleBook.build(tuple(self.validate(items, allow_no_urgent=allow_no_urgent)), -1)

    def replace(self, items: Any, expected_version: int | None = None, *, allow_no_urgent: bool = False) -> int:
        """Validate and store a complete new rule set; returns its version."""
        rules = self.validate(items, allow_no_urgent=allow_no_urgent)
        version = self.store.save_rules([rule_to_dict(r) for r in rules], expected_version)
        if version < 0:
            raise RuleError(["rules: changed by someone else meanwhile; reload and try again"])
        self._checked = float("-inf")  # this process sees its own change at once
        return version

    def import_yaml(self, text: str, *, allow_no_urgent: bool = False) -> int:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise RuleError(["rules file: not valid YAML"]) from None
        if isinstance(data, dict) and "rules" in data:
            data = data["rules"]
        return self.replace(data, allow_no_urgent=allow_no_urgent)

    def export_yaml(self) -> str:
        book = self.current()
        doc = {"rules": [rule_to_dict(r) for r in book.rules]}
        return f"# keyword rules, version {book.version}\n" + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


class FixedRules(RuleSet):
    """One given version of the rules, never refreshed from Redis: routes a message with an unsaved edit."""

    def __init__(self, book: RuleBook, store: Store, config: Config) -> None:
        super().__init__(store, config)
        self._fixed = book

    def current(self) -> RuleBook:
        return self._fixed
