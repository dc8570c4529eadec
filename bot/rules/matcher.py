"""The compiled matcher: every enabled rule of one version, and the reply it picks for a message.

Messages are normalized like keywords (see bot.rules.normalization).
Matching: "exact" = the whole normalized message (dict lookup); "contains"/"prefix" = one
Aho-Corasick automaton over every rule (prefix = occurrence at position 0); "regex" = a search with
the `regex` package on the first REGEX_TEXT_CHARS characters of the normalized text, tried last, so
its cost grows with the number of regex rules (at most MAX_REGEX_KEYWORDS keywords). All the regex
searches for one message share one budget, REGEX_BUDGET_SECONDS: each search may use what is left,
and once it is used up the remaining regex rules do not match; one warning names the rules cut off
(never the message), and the other modes and the caller's fallback answer as usual. Validation
refuses the shapes that backtrack badly, and at import the patterns slow on inputs built from them
(see bot.rules.regex_safety), besides.
Contains/prefix keywords are keyed on UTF-8 bytes (see _utf8_key) to keep the cost flat in size.
Click: the menu EventKey is matched like text. Subscribe: a rule whose inputs are only {"subscribe"}
and whose keywords are "*" (or empty) matches every subscribe; other rules with "subscribe" in
inputs match their keywords against the QR scene ("qrscene_" stripped).
Winner, when several rules match: urgent first; higher priority; mode exact > prefix > contains >
regex > "*"; longer keyword (regex: longer match); earlier position; lower rule id (lexical).
Disabled, out-of-window and wrong-input rules are dropped before ranking, so a lower rule can win.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, cast

# No stubs; the project's mypy config may already ignore them, hence unused-ignore.
import ahocorasick  # type: ignore[import-not-found, unused-ignore]

from bot.rules.model import (
    INPUT_KINDS,
    QR_SCENE_PREFIX,
    REGEX_BUDGET_SECONDS,
    REGEX_TEXT_CHARS,
    WILDCARD,
    InputKind,
    Rule,
    RuleError,
    RuleMatch,
    TimeWindow,
    Topic,
)
from bot.rules.normalization import _utf8_key, normalize
from bot.rules.regex_safety import _compile_regex, _required_chars
from bot.rules.validation import validate_rules

__all__ = ["CompiledRules", "compile_rules"]

log = logging.getLogger(__name__)

# A match's rank is one int, smaller = better, so comparing candidates never builds tuples:
#   group(urgent, priority, mode) << 96 | (_LMAX - keyword length) << 64 | position << 32 | id rank
_LMAX: Final = (1 << 32) - 1
_NO_MATCH: Final = 1 << 200
_MODE_RANK: Final[dict[str, int]] = {"exact": 0, "prefix": 1, "contains": 2, "regex": 3, WILDCARD: 4}

# Literal keyword candidate: (base rank, prefix-only, inputs, window, rule, keyword as written,
# UTF-8 length, character length of the normalized keyword)
_Cand = tuple[int, bool, frozenset[InputKind], TimeWindow | None, Rule, str, int, int]
# Regex candidate: (group floor, compiled `regex` pattern, id rank, inputs, window, rule, pattern source,
# characters one of which a match needs, or None)
_RegexCand = tuple[int, Any, int, frozenset[InputKind], TimeWindow | None, Rule, str, frozenset[str] | None]


class _RegexBudget:
    """The regex search time one message has left; once it is used up, regex rules do not match."""

    __slots__ = ("clock", "left", "seconds", "skipped", "text", "timed_out")

    def __init__(self, norm: str, seconds: float, clock: Callable[[], float]) -> None:
        self.text = norm[:REGEX_TEXT_CHARS]
        self.seconds = seconds
        self.left = seconds
        self.clock = clock
        self.timed_out: list[str] = []
        self.skipped: list[str] = []

    def search(self, pattern: Any, rule: Rule) -> tuple[int, int] | None:
        """Span of the match in the capped text; None if none, or if the budget ran out."""
        if self.left <= 0:
            self.skipped.append(rule.id)
            return None
        # Only the searches are charged, not the time between them: a thread waiting for the GIL
        # there would otherwise lose its regex rules to other threads' work.
        started = self.clock()
        try:
            m = pattern.search(self.text, timeout=self.left)
        except TimeoutError:
            self.left = 0.0
            self.timed_out.append(rule.id)
            return None
        self.left -= self.clock() - started
        return None if m is None else cast("tuple[int, int]", m.span())

    def report(self) -> None:
        """One warning if the budget cut any rule off, naming the rules (never the message)."""
        if not (self.timed_out or self.skipped):
            return
        timed_out = list(dict.fromkeys(self.timed_out))
        skipped = [r for r in dict.fromkeys(self.skipped) if r not in timed_out]
        log.warning(
            "regex budget of %.1f ms per message used up: timed out: %s; not searched: %s; treated as no match",
            self.seconds * 1000, ", ".join(timed_out) or "none", ", ".join(skipped) or "none",
        )


def _base(cand: _Cand) -> int:
    return cand[0]


def _check_call(input_kind: str, now: datetime) -> InputKind:
    if input_kind not in INPUT_KINDS:
        expected = ", ".join(INPUT_KINDS)
        raise ValueError(f"unknown input kind {input_kind!r} (expected one of {expected})")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return input_kind  # narrowed to InputKind by the membership test


def _message_text(text: str, kind: InputKind) -> str:
    """The normalized text to match; for subscribe, the QR scene without WeChat's prefix."""
    if kind == "subscribe" and text.startswith(QR_SCENE_PREFIX):
        text = text[len(QR_SCENE_PREFIX) :]
    return normalize(text)


def _char_span(norm: str, key: str, start_byte: int, nchars: int) -> tuple[int, int]:
    """Character span in `norm` of an automaton hit found at `start_byte` of `key`."""
    start = start_byte if key is norm else len(key[:start_byte].encode("latin-1").decode("utf-8", "surrogatepass"))
    return start, start + nchars


class CompiledRules:
    """Every enabled rule of one version, precompiled: one automaton, one exact dict, the regexes."""

    __slots__ = ("_automaton", "_clock", "_exact", "_regex_budget", "_regexes", "_wild", "keyword_count", "rules",
                 "version")

    def __init__(self, rules: Sequence[Rule], version: int, *, regex_budget: float = REGEX_BUDGET_SECONDS,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        """Build the matcher; call compile_rules() instead, which validates first. `clock` times regex searches."""
        self.version = version
        self._regex_budget = regex_budget
        self._clock = clock
        self.rules: tuple[Rule, ...] = tuple(rules)
        enabled = [r for r in self.rules if r.enabled]
        id_rank = {rid: i for i, rid in enumerate(sorted(r.id for r in self.rules))}
        modes = {r.id: WILDCARD if r.is_wildcard else r.match for r in enabled}
        groups = sorted({(not r.urgent, -r.priority, _MODE_RANK[modes[r.id]]) for r in enabled})
        group_rank = {g: i for i, g in enumerate(groups)}
        exact: dict[str, list[_Cand]] = {}
        words: dict[str, list[_Cand]] = {}
        regexes: list[_RegexCand] = []
        wild: list[_Cand] = []
        count = 0
        for r in enabled:
            mode = modes[r.id]
            floor = group_rank[(not r.urgent, -r.priority, _MODE_RANK[mode])] << 96
            rank = id_rank[r.id]
            if mode == WILDCARD:
                wild.append((floor | _LMAX << 64 | rank, False, r.inputs, r.window, r, WILDCARD, 0, 0))
                continue
            count += len(r.keywords)
            for kw in r.keywords:
                if mode == "regex":
                    regexes.append((floor, _compile_regex(kw), rank, r.inputs, r.window, r, kw,
                                    _required_chars(kw)))
                    continue
                norm = normalize(kw)
                key = _utf8_key(norm)
                base = floor | (_LMAX - len(norm)) << 64 | rank
                cand = (base, mode == "prefix", r.inputs, r.window, r, kw, len(key), len(norm))
                if mode == "exact":
                    exact.setdefault(norm, []).append(cand)
                else:
                    words.setdefault(key, []).append(cand)
        self.keyword_count = count
        self._exact = {k: tuple(sorted(v, key=_base)) for k, v in exact.items()}
        # Each automaton value lists that keyword's candidates best-first (pyahocorasick stores
        # any Python object), so a hit needs no lookup besides the tuple it returns.
        self._automaton: Any = None
        if words:
            self._automaton = ahocorasick.Automaton()
            for key, cands in words.items():
                self._automaton.add_word(key, tuple(sorted(cands, key=_base)))
            self._automaton.make_automaton()
        self._regexes = tuple(sorted(regexes, key=lambda c: (c[0], c[2])))
        self._wild = tuple(sorted(wild, key=_base))

    def __repr__(self) -> str:
        n = len(self.rules)
        return f"<CompiledRules v{self.version}: {n} rules, {self.keyword_count} keywords>"

    def match(self, text: str, input_kind: str, now: datetime) -> RuleMatch | None:
        """The winning rule for one message (click: the EventKey; subscribe: the scene or "")."""
        kind = _check_call(input_kind, now)
        norm = _message_text(text, kind)
        best = _NO_MATCH
        hit: tuple[Rule, str, int, int] | None = None
        for base, _prefix, inputs, window, rule, kw, _nb, nchars in self._exact.get(norm, ()):
            if kind in inputs and (window is None or window.contains(now)):
                best, hit = base, (rule, kw, 0, nchars)
                break
        if self._automaton is not None:
            key = _utf8_key(norm)
            won: _Cand | None = None
            won_at = 0
            for end, cands in self._automaton.iter(key):
                for cand in cands:
                    base, prefix, inputs, window, _rule, _kw, nbytes, _nc = cand
                    if base >= best:
                        break  # candidates are best-first and the position only adds to a rank
                    start = end - nbytes + 1  # a byte offset: ranks the same as characters
                    if prefix and start:
                        continue
                    if kind not in inputs or (window is not None and not window.contains(now)):
                        continue
                    rank = base | start << 32
                    if rank < best:
                        best, won, won_at = rank, cand, start
                    break
            if won is not None:
                span = _char_span(norm, key, won_at, won[7])
                hit = (won[4], won[5], *span)
        chars: set[str] | None = None
        budget: _RegexBudget | None = None  # made on the first search: most messages need none
        for floor, pattern, rank, inputs, window, rule, kw, needs in self._regexes:
            if floor > best:
                break  # every remaining regex is in a worse (urgent, priority) group
            if kind not in inputs or (window is not None and not window.contains(now)):
                continue
            if needs is not None:
                if chars is None:
                    chars = set(norm[:REGEX_TEXT_CHARS])
                if needs.isdisjoint(chars):
                    continue  # a character every match needs is absent (match_all() searches regardless)
            if budget is None:
                budget = _RegexBudget(norm, self._regex_budget, self._clock)
            found = budget.search(pattern, rule)
            if found is not None:
                start, end = found
                key_rank = floor | (_LMAX - min(end - start, _LMAX)) << 64 | start << 32 | rank
                if key_rank < best:
                    best, hit = key_rank, (rule, kw, start, end)
        if budget is not None:
            budget.report()
        if kind == "subscribe":
            for base, _prefix, inputs, window, rule, kw, _nb, _nc in self._wild:
                if base >= best:
                    break
                if kind in inputs and (window is None or window.contains(now)):
                    best, hit = base, (rule, kw, 0, 0)
                    break
        if hit is None:
            return None
        return RuleMatch(hit[0], hit[1], kind, (hit[2], hit[3]), norm)

    def match_all(self, text: str, input_kind: str, now: datetime) -> list[RuleMatch]:
        """Every eligible rule's best match, winner first (for `rules test` and the console)."""
        kind = _check_call(input_kind, now)
        norm = _message_text(text, kind)
        best: dict[str, tuple[int, RuleMatch]] = {}
        for rank, rule, kw, span in self._all_candidates(norm, kind, now):
            if rule.id not in best or rank < best[rule.id][0]:
                best[rule.id] = (rank, RuleMatch(rule, kw, kind, span, norm))
        return [m for _, m in sorted(best.values(), key=lambda pair: pair[0])]

    def _all_candidates(
        self, norm: str, kind: InputKind, now: datetime
    ) -> Iterator[tuple[int, Rule, str, tuple[int, int]]]:
        """Every eligible occurrence with its rank, unpruned: the reference that match() prunes."""

        def ok(inputs: frozenset[InputKind], window: TimeWindow | None) -> bool:
            return kind in inputs and (window is None or window.contains(now))

        for base, _p, inputs, window, rule, kw, _nb, nchars in self._exact.get(norm, ()):
            if ok(inputs, window):
                yield base, rule, kw, (0, nchars)
        if self._automaton is not None:
            key = _utf8_key(norm)
            for end, cands in self._automaton.iter(key):
                for base, prefix, inputs, window, rule, kw, nbytes, nchars in cands:
                    start = end - nbytes + 1
                    if not (prefix and start) and ok(inputs, window):
                        yield base | start << 32, rule, kw, _char_span(norm, key, start, nchars)
        budget = _RegexBudget(norm, self._regex_budget, self._clock)
        for floor, pattern, rank, inputs, window, rule, kw, _needs in self._regexes:
            found = budget.search(pattern, rule) if ok(inputs, window) else None
            if found is not None:
                s, e = found
                yield floor | (_LMAX - min(e - s, _LMAX)) << 64 | s << 32 | rank, rule, kw, (s, e)
        budget.report()
        if kind == "subscribe":
            for base, _p, inputs, window, rule, kw, _nb, _nc in self._wild:
                if ok(inputs, window):
                    yield base, rule, kw, (0, 0)

    def topics(self, *, now: datetime | None = None, max_keywords: int = 3) -> list[Topic]:
        """Help-menu entries: enabled, non-urgent, typable keyword rules, highest priority first."""
        picked = [
            r
            for r in self.rules
            if r.enabled
            and not r.urgent
            and r.match != "regex"
            and r.keywords
            and not r.is_wildcard
            and r.inputs & {"text", "voice"}
            and r.answer.kind != "help"
            and (now is None or r.window is None or r.window.contains(now))
        ]
        picked.sort(key=lambda r: -r.priority)  # stable: equal priorities keep the admin's order
        return [Topic(r.id, r.name, r.keywords[:max_keywords]) for r in picked]


def compile_rules(
    rules: Iterable[Rule], version: int, *, check_speed: bool = True, clock: Callable[[], float] = time.perf_counter
) -> CompiledRules:
    """Validate (all but article ids) and precompile a whole rule set; RuleError if anything is off.

    `check_speed`: see validate_rules(); `clock`: see CompiledRules.
    """
    rules = tuple(rules)
    errors = validate_rules(rules, check_speed=check_speed)
    if errors:
        raise RuleError(errors)
    return CompiledRules(rules, version, clock=clock)
