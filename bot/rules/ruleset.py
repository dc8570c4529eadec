"""The keyword rules every worker answers with: stored in Redis, compiled once per version.

Each worker keeps the compiled rules (and the catalog of articles and survey they answer with) in memory
and asks Redis for both versions, in one round trip, at most every `check_every` seconds, so an admin's
change reaches every worker within a second while an ordinary message costs no extra round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from bot.config import Config
from bot.rules.catalog import Catalog, CatalogError, parse_catalog
from bot.rules.matcher import CompiledRules, compile_rules
from bot.rules.model import Rule, RuleError, RuleMatch
from bot.rules.normalization import normalize
from bot.rules.parsing import parse_rules, rule_to_dict
from bot.rules.urgent import urgent_overhead
from bot.store import Store, StoreError
from bot.wechat import messages as m

if TYPE_CHECKING:
    from bot.accounts.audit import AuditLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleBook:
    """One version of the rules, compiled (urgent rules rank above all others), with the catalog they answer from."""

    version: int
    rules: tuple[Rule, ...]
    compiled: CompiledRules
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # replies derived from it
    catalog: Catalog | None = None  # None: a book built outside a RuleSet (the RuleSet's seed applies)

    @classmethod
    def build(cls, rules: tuple[Rule, ...], version: int, catalog: Catalog | None = None) -> RuleBook:
        # Every caller passes rules parsed with the speed check (at import, or from config) or stored ones.
        return cls(version, rules, compile_rules(rules, version, check_speed=False), catalog=catalog)

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


@dataclass(frozen=True, slots=True)
class Unanswered:
    """Messages that no rule answered, grouped by their normalised text (already scrubbed, pseudonymous)."""

    text: str  # the newest message of the group, as sent (scrubbed)
    normalized: str
    count: int
    people: int  # distinct pseudonyms
    last_at: int  # its CreateTime, Unix seconds


class RuleSet:
    """The current rules for this process; `current()` is cheap enough for every message."""

    def __init__(self, store: Store, config: Config, check_every: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, audit: AuditLog | None = None) -> None:
        self.store = store
        self.config = config
        self.audit = audit  # every saved change is recorded there, with its actor
        self.check_every = check_every
        self.clock = clock
        self._book: RuleBook | None = None
        self._bad_version = -1  # a stored version that did not parse: not retried every poll
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.seed_catalog = Catalog.from_config(config)  # config.yaml's articles and survey: the first catalog
        self._catalog = self.seed_catalog
        self._bad_catalog = -1
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
                version, catalog_version = self.store.versions()
                if self._book is None or catalog_version not in (self._catalog.version, self._bad_catalog):
                    self._catalog = self._load_catalog()
                    self._bad_version = -1  # rules refused for a missing article may parse now
                if self._book is None or version not in (self._book.version, self._bad_version):
                    self._book = self._load()
            except StoreError as exc:
                # Keep answering with what we have (or the seed) while Redis is away.
                log.warning("rules not refreshed: %s", type(exc).__name__)
                if self._book is None:
                    self._book = RuleBook.build(self.config.seed_rules, 0, self._catalog)
            if self._book.catalog is not self._catalog:
                self._book = replace(self._book, catalog=self._catalog)
            return self._book

    def recheck(self) -> None:
        """Poll Redis at the next `current()` (after this process saved a change)."""
        self._checked = float("-inf")

    def catalog(self) -> Catalog:
        """The articles and survey this worker answers with (live, like the rules)."""
        return self.current().catalog or self.seed_catalog

    def _load_catalog(self) -> Catalog:
        """The stored catalog (seeded from config.yaml on first use), or the one we have if it is unreadable."""
        loaded = self.store.load_catalog()
        if loaded is None:
            if self.store.seed_catalog(self.seed_catalog.to_dict()):
                log.info("seeded %d articles and the survey from %s", len(self.seed_catalog.articles),
                         self.config.source)
            loaded = self.store.load_catalog()
            if loaded is None:
                return self._catalog
        version, doc = loaded
        try:
            return parse_catalog(doc, version, strict=False)
        except CatalogError as exc:  # saved ones were valid; a hand-edited one may not be
            log.error("stored catalog v%d not valid (%s); keeping the previous one", version, exc.errors[0])
            self._bad_catalog = version
            return self._catalog

    def stored_catalog(self) -> Catalog:
        """The saved catalog, read from Redis (seeding it): what an edit starts from and is checked against."""
        loaded = self.store.load_catalog()
        if loaded is None:
            self._catalog = self._load_catalog()
            loaded = self.store.load_catalog()
        if loaded is None:
            return self.seed_catalog
        try:
            return parse_catalog(loaded[1], loaded[0], strict=False)
        except CatalogError:  # edited by hand in Redis: an import (no expected version) replaces it
            log.error("stored catalog v%d not valid; edits start from the last valid one", loaded[0])
            return replace(self._catalog, version=loaded[0])

    def _load(self) -> RuleBook:
        loaded = self.store.load_rules()
        if loaded is None:
            if self.store.seed_rules([rule_to_dict(r) for r in self.config.seed_rules]):
                log.info("seeded %d keyword rules from %s", len(self.config.seed_rules), self.config.source)
            loaded = self.store.load_rules()
            if loaded is None:  # a version without rules (deleted by hand): answer with the seed meanwhile
                log.error("stored rules missing although a version exists; using the seed rules")
                return self._book or RuleBook.build(self.config.seed_rules, 0, self._catalog)
        version, docs = loaded
        try:
            # Checked for speed when saved: a busy worker must not refuse them for timing alone.
            rules = tuple(parse_rules(docs, article_ids=self._catalog.ids, check_speed=False))
        except RuleError as exc:
            # Saved rules were valid when saved; an article removed from the catalog since can break them.
            log.error("stored rules v%d no longer valid (%s); keeping the previous ones", version, exc.errors[0])
            self._bad_version = version
            return self._book or RuleBook.build(self.config.seed_rules, 0, self._catalog)
        log.info("keyword rules v%d loaded: %d rules", version, len(rules))
        return RuleBook.build(rules, version, self._catalog)

    # -- editing (the CLI and the console) -----------------------------------------------------

    def urgent_overhead(self) -> int:
        """UTF-8 bytes the urgent reply adds around an urgent rule's text, for this config's contact."""
        return urgent_overhead(self.config.account.contact)

    def validate(self, items: Any, *, allow_no_urgent: bool = False,
                 article_ids: frozenset[str] | None = None) -> list[Rule]:
        """Parse rule dicts, all or nothing; raises RuleError naming every bad field.

        Article answers must name an article of the saved catalog (or of `article_ids`, for a catalog
        about to be saved).

        Urgent texts must fit WeChat's reply limit with the urgent wrapper around them, and a rule
        set without any enabled urgent rule is refused unless `allow_no_urgent`: urgent symptoms
        would otherwise get the default reply.
        """
        if not isinstance(items, list):
            raise RuleError(["rules: must be a list of rules"])
        if article_ids is None:
            article_ids = self.stored_catalog().ids
        rules = parse_rules(items, article_ids=article_ids, urgent_overhead=self.urgent_overhead())
        if not allow_no_urgent and not any(r.urgent and r.enabled for r in rules):
            raise RuleError([
                "rules: at least one enabled urgent rule is required (urgent: true), or urgent symptoms "
                "such as fever get the default reply; to import such rules anyway use "
                "`rules import --allow-no-urgent`"
            ])
        return rules

    def draft(self, items: Any, *, allow_no_urgent: bool = False) -> RuleBook:
        """An unsaved rule set, validated and compiled like a saved one (to try it before saving)."""
        return RuleBook.build(tuple(self.validate(items, allow_no_urgent=allow_no_urgent)), -1, self.catalog())

    def replace(self, items: Any, expected_version: int | None = None, *, actor: str = "cli",
                action: str = "rules.import", allow_no_urgent: bool = False) -> int:
        """Validate and store a complete new rule set; returns its version. Audited as `action` by `actor`.

        A stale `expected_version` (someone saved meanwhile) raises RuleError and changes nothing.
        """
        rules = self.validate(items, allow_no_urgent=allow_no_urgent)
        before = self.store.load_rules() if self.audit is not None else None
        docs = [rule_to_dict(r) for r in rules]
        version = self.store.save_rules(docs, expected_version)
        if version < 0:
            raise RuleError(["rules: changed by someone else meanwhile; reload and try again"])
        self._checked = float("-inf")  # this process sees its own change at once
        if self.audit is not None:
            old_version, old_docs = before or (0, [])
            self._record(actor, action, old_version, old_docs, version, docs)
        return version

    def _record(self, actor: str, action: str, old_version: int, old_docs: list[dict[str, Any]], version: int,
                docs: list[dict[str, Any]]) -> None:
        """The audit entry of a save: only the rules it added, changed or removed, before and after."""
        assert self.audit is not None
        old = {str(d.get("id")): d for d in old_docs}
        new = {str(d["id"]): d for d in docs}
        changed = sorted(i for i in old.keys() | new.keys() if old.get(i) != new.get(i))
        self.audit.record(actor, action, ",".join(changed) or "rules",
                          {"version": old_version, "rules": {i: old[i] for i in changed if i in old}},
                          {"version": version, "rules": {i: new[i] for i in changed if i in new}})

    def stored(self) -> tuple[int, list[dict[str, Any]]]:
        """The saved rules as dicts and their version, read from Redis: what an edit starts from."""
        loaded = self.store.load_rules()
        if loaded is None:
            self.current()  # seeds them on first use
            loaded = self.store.load_rules()
        return loaded or (0, [rule_to_dict(r) for r in self.config.seed_rules])

    def save_rule(self, doc: Any, *, rule_id: str | None = None, expected_version: int | None = None,
                  actor: str) -> int:
        """Add the rule `doc` (`rule_id` None) or put it in place of rule `rule_id`; returns the new version.

        KeyError if `rule_id` is not saved; RuleError names the edited rule's fields as ``rule.keywords``.
        """
        items, index = self._edited(rule_id, doc)
        action = "rule.update" if rule_id is not None else "rule.create"
        try:
            return self.replace(items, expected_version, actor=actor, action=action)
        except RuleError as exc:
            raise _repath(exc, index) from None

    def delete_rule(self, rule_id: str, *, expected_version: int | None = None, actor: str) -> int:
        """Remove rule `rule_id` (KeyError if it is not saved); returns the new version."""
        _, docs = self.stored()
        kept = [d for d in docs if d.get("id") != rule_id]
        if len(kept) == len(docs):
            raise KeyError(rule_id)
        return self.replace(kept, expected_version, actor=actor, action="rule.delete")

    def draft_rule(self, doc: Any, *, rule_id: str | None = None) -> RuleBook:
        """The saved rules with `doc` added or in place of `rule_id`, compiled but not saved (to try it)."""
        items, index = self._edited(rule_id, doc)
        try:
            return self.draft(items)
        except RuleError as exc:
            raise _repath(exc, index) from None

    def _edited(self, rule_id: str | None, doc: Any) -> tuple[list[Any], int]:
        _, docs = self.stored()
        items: list[Any] = list(docs)
        if rule_id is None:
            items.append(doc)
            return items, len(items) - 1
        for i, d in enumerate(docs):
            if d.get("id") == rule_id:
                items[i] = doc
                return items, i
        raise KeyError(rule_id)

    def import_yaml(self, text: str, *, actor: str = "cli", allow_no_urgent: bool = False) -> int:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise RuleError(["rules file: not valid YAML"]) from None
        if isinstance(data, dict) and "rules" in data:
            data = data["rules"]
        return self.replace(data, actor=actor, allow_no_urgent=allow_no_urgent)

    # -- statistics ----------------------------------------------------------------------------

    def recent_days(self, now: datetime, days: int) -> list[str]:
        """The last `days` account-local dates as YYYYMMDD, today first."""
        local = now.astimezone(self.config.account.tz)
        return [(local - timedelta(days=i)).strftime("%Y%m%d") for i in range(days)]

    def hit_totals(self, days: Sequence[str]) -> dict[str, int]:
        """Messages each rule id answered, summed over `days`."""
        totals: dict[str, int] = {}
        for day in days:
            for rule_id, count in self.store.rule_hits(day).items():
                totals[rule_id] = totals.get(rule_id, 0) + count
        return totals

    def unanswered(self, days: Sequence[str], limit: int = 50) -> list[Unanswered]:
        """The most frequent messages that matched nothing over `days`, most frequent first."""
        groups: dict[str, list[dict[str, str]]] = {}
        for day in days:
            for item in self.store.unmatched(day, 1000):
                text = str(item.get("t", ""))
                key = normalize(text)
                if key:
                    groups.setdefault(key, []).append(item)

        def newest(items: list[dict[str, str]]) -> dict[str, str]:
            return max(items, key=lambda i: int(i.get("at") or 0))

        found = [Unanswered(str(newest(items).get("t", "")), key, len(items), len({i.get("who") for i in items}),
                            int(newest(items).get("at") or 0)) for key, items in groups.items()]
        found.sort(key=lambda u: (-u.count, -u.last_at, u.normalized))
        return found[:limit]

    def export_yaml(self) -> str:
        book = self.current()
        doc = {"rules": [rule_to_dict(r) for r in book.rules]}
        return f"# keyword rules, version {book.version}\n" + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _repath(exc: RuleError, index: int) -> RuleError:
    """`exc` with the edited rule's ``rules[index].`` paths as ``rule.``, so they name its own fields."""
    own = f"rules[{index}]"
    return RuleError([("rule" + e[len(own):]) if e.startswith((own + ".", own + ":")) else e for e in exc.errors])


class FixedRules(RuleSet):
    """One given version of the rules, never refreshed from Redis: routes a message with an unsaved edit."""

    def __init__(self, book: RuleBook, store: Store, config: Config) -> None:
        super().__init__(store, config)
        self._fixed = book

    def current(self) -> RuleBook:
        return self._fixed
