"""Regex keywords: how they are compiled, and the checks that refuse shapes which backtrack badly."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

# No stubs; the project's mypy config may already ignore them, hence unused-ignore.
import regex  # type: ignore[import-untyped, unused-ignore]  # stubs: types-regex, not installed

from bot.rules.model import MAX_REGEX_CHARS, REGEX_CHECK_SECONDS, REGEX_TEXT_CHARS
from bot.rules.normalization import _fold_char, _has_surrogate

if TYPE_CHECKING:
    import sre_constants as _sre_constants
    import sre_parse as _sre_parser
else:  # the sre_* aliases warn on import since 3.11; re._parser is the same module
    from re import _constants as _sre_constants
    from re import _parser as _sre_parser

# --------------------------------------------------------------------------------------------------
# Regex safety: a conservative walk over the sre parse tree
#
# Exponential backtracking needs a repeat whose body can match the same text in several ways. We
# refuse (1) any variable-length quantifier (?, *, +, {m,n}) inside a group repeated more than once:
# (a+)+, (?:a+){16}, (\d+\.?){8}, (.*,){12}, also the harmless (ab?)*; an optional group such as
# (\.\d+)? and fixed counts inside a repeat such as (\d{3}-)+ stay allowed; (2) inside a repeat
# allowing more than _BIG_REPEAT iterations, any alternation whose branches can start with the same
# character or match empty: (a|aa)+, (a|ab)+; classes such as \d, [^x] and . count as "any
# character". Adjacent unbounded repeats are polynomial, but .*.*.*.*x on 1,000 characters is
# 10^12 steps: (3) more than _MAX_UNBOUNDED unbounded quantifiers along one alternative are refused.
# Some safe patterns are refused too: admins can rewrite them, a stuck worker is worse. Polynomial shapes
# the walk lets through (a.*b.*c: 0.1 s on "ab"*500) are caught at import by running each pattern on
# inputs built from it (_slow_probe), and matching has one time budget per message besides
# (REGEX_BUDGET_SECONDS), for whatever both miss.

_REPEATS: Final = frozenset(
    (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT, _sre_constants.POSSESSIVE_REPEAT)
)
_BIG_REPEAT: Final = 16  # repeats allowing more iterations than this count as unbounded
_MAX_UNBOUNDED: Final = 2  # unbounded quantifiers allowed along one alternative (.*x\d+ is fine)
_ANY_FIRST: Final = None  # "could start with any character"


def _compile_regex(pattern: str) -> Any:
    """A regex keyword compiled for matching: the `regex` package (its searches take a timeout)."""
    return regex.compile(pattern, regex.V0)  # V0: the same syntax and semantics as `re`


# A brace that opens no {m,n} repeat (fuzzy matching in `regex`), or a POSIX class: two engines, two readings.
_TWO_READINGS: Final = re.compile(r"(?<!\\)\{(?![\d,])|\[:\^?[A-Za-z]+:\]")


def _required_chars(pattern: str) -> frozenset[str] | None:
    """Characters of which every match must contain one, or None if that cannot be told.

    A search with a timeout costs ~1.7 µs even on a miss; most messages contain none of these
    characters, so most searches are skipped with one set test.
    """
    if _TWO_READINGS.search(pattern):
        return None  # read differently by the `regex` package that matches: always search
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            tree = _sre_parser.parse(pattern)
    except Exception:  # syntax only the `regex` package knows: always search
        return None
    if tree.state.flags & (re.IGNORECASE | re.LOCALE):
        return None  # a literal may then match another character

    def sequence(items: Any) -> frozenset[str] | None:
        for op, av in items:  # the first mandatory item that names characters is enough
            found = item(op, av)
            if found is not None:
                return found
        return None

    def item(op: Any, av: Any) -> frozenset[str] | None:
        if op is _sre_constants.LITERAL:
            return frozenset(chr(av))
        if op is _sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            return None if add_flags or del_flags else sequence(sub)
        if op is _sre_constants.ATOMIC_GROUP:
            return sequence(av)
        if op in _REPEATS:
            low, _high, sub = av
            return sequence(sub) if low >= 1 else None
        if op is _sre_constants.IN:  # a class of plain characters ([发低高]), not negated or ranges
            if all(iop is _sre_constants.LITERAL for iop, _ in av):
                return frozenset(chr(c) for _, c in av)
            return None
        if op is _sre_constants.BRANCH:
            branches = [sequence(b) for b in av[1]]
            if any(b is None for b in branches):
                return None
            return frozenset().union(*cast("list[frozenset[str]]", branches))
        return None  # classes, any, anchors, lookarounds: no character is certain

    return sequence(tree)


def _first_chars(items: Iterable[Any], ic: bool) -> tuple[frozenset[int] | None, bool]:
    """Characters a sequence can start with (None = unknown/any) and whether it can match empty."""
    acc: set[int] = set()
    for op, av in items:
        if op is _sre_constants.LITERAL:
            acc.add(av)
            if ic:
                acc.update((ord(chr(av).lower()[0]), ord(chr(av).upper()[0])))
            return frozenset(acc), False
        if op is _sre_constants.IN:
            chars: set[int] = set()
            for iop, iav in av:
                if iop is _sre_constants.LITERAL:
                    chars.add(iav)
                elif iop is _sre_constants.RANGE and iav[1] - iav[0] <= 1024:
                    chars.update(range(iav[0], iav[1] + 1))
                else:  # NEGATE, CATEGORY, huge ranges: assume anything
                    return _ANY_FIRST, False
            if ic:
                return _ANY_FIRST, False
            return frozenset(acc | chars), False
        if op in (_sre_constants.AT, _sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            continue  # zero-width
        if op is _sre_constants.SUBPATTERN or op is _sre_constants.ATOMIC_GROUP:
            sub = av[3] if op is _sre_constants.SUBPATTERN else av
            first, nullable = _first_chars(sub, ic)
        elif op is _sre_constants.BRANCH:
            first, nullable = frozenset(), False
            for branch in av[1]:
                f, n = _first_chars(branch, ic)
                first = None if f is None or first is None else first | f
                nullable = nullable or n
        elif op in _REPEATS:
            first, nullable = _first_chars(av[2], ic)
            nullable = nullable or av[0] == 0
        else:  # ANY, NOT_LITERAL, GROUPREF, GROUPREF_EXISTS, ...
            return _ANY_FIRST, False
        if first is None:
            return _ANY_FIRST, False
        acc |= first
        if not nullable:
            return frozenset(acc), False
    return frozenset(acc), True


def _branches_overlap(branches: Sequence[Any], ic: bool) -> bool:
    """True if two alternatives can start with the same character (or either can be empty)."""
    firsts = [_first_chars(b, ic) for b in branches]
    for i, (fi, ni) in enumerate(firsts):
        for fj, nj in firsts[i + 1 :]:
            if ni or nj or fi is None or fj is None or fi & fj:
                return True
    return False


def _backtrack_risk(items: Iterable[Any], in_big: bool, in_repeat: bool, ic: bool) -> str | None:
    """Why this (sub)pattern could backtrack exponentially, or None if it looks safe.

    `in_repeat`: inside a group that may repeat more than once; `in_big`: more than _BIG_REPEAT times.
    """
    for op, av in items:
        if op in _REPEATS:
            lo, hi, body = av
            if in_repeat and lo != hi:
                return (
                    "a quantifier inside a repeated group, like (a+)+, (\\d+\\.?){8} or (.*,){12} "
                    "(repeat only fixed text, like (ab)+ or (\\d{3}-)+)"
                )
            big = hi == _sre_constants.MAXREPEAT or hi > _BIG_REPEAT
            reason = _backtrack_risk(body, in_big or big, in_repeat or hi > 1, ic)
        elif op is _sre_constants.BRANCH:
            if in_big and _branches_overlap(av[1], ic):
                return "an unbounded repeat over alternatives that can start alike, like (a|ab)+"
            reason = next((r for b in av[1] if (r := _backtrack_risk(b, in_big, in_repeat, ic))), None)
        elif op is _sre_constants.GROUPREF_EXISTS:
            if in_big:
                return "a conditional group inside an unbounded repeat"
            arms = [av[1]] if av[2] is None else [av[1], av[2]]
            reason = next((r for b in arms if (r := _backtrack_risk(b, in_big, in_repeat, ic))), None)
        elif op is _sre_constants.SUBPATTERN:
            reason = _backtrack_risk(av[3], in_big, in_repeat, ic or bool(av[1] & re.IGNORECASE))
        elif op is _sre_constants.ATOMIC_GROUP:
            reason = _backtrack_risk(av, in_big, in_repeat, ic)
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            reason = _backtrack_risk(av[1], in_big, in_repeat, ic)
        else:
            reason = None
        if reason:
            return reason
    return None


def _unbounded_run(items: Iterable[Any]) -> int:
    """The most unbounded quantifiers (*, +, {n,}, more than _BIG_REPEAT) along one alternative."""
    count = 0
    for op, av in items:
        if op in _REPEATS:
            count += av[1] == _sre_constants.MAXREPEAT or av[1] > _BIG_REPEAT
            count += _unbounded_run(av[2])
        elif op is _sre_constants.BRANCH:
            count += max((_unbounded_run(b) for b in av[1]), default=0)
        elif op is _sre_constants.GROUPREF_EXISTS:
            count += max(_unbounded_run(av[1]), _unbounded_run(av[2]) if av[2] is not None else 0)
        elif op is _sre_constants.SUBPATTERN:
            count += _unbounded_run(av[3])
        elif op is _sre_constants.ATOMIC_GROUP:
            count += _unbounded_run(av)
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            count += _unbounded_run(av[1])
    return count


def _dead_literal(items: Iterable[Any], ic: bool) -> tuple[str, str] | None:
    """A literal that normalized text can never contain (e.g. 問, Ａ), with its normalized form."""
    for op, av in items:
        if op is _sre_constants.LITERAL:
            ch = chr(av)
            folded = _fold_char(ch)
            if folded != ch and not (ic and folded == ch.casefold()):
                return ch, folded
        elif op in _REPEATS:
            found = _dead_literal(av[2], ic)
            if found:
                return found
        elif op is _sre_constants.SUBPATTERN:
            found = _dead_literal(av[3], ic or bool(av[1] & re.IGNORECASE))
            if found:
                return found
        elif op is _sre_constants.ATOMIC_GROUP or op is _sre_constants.ASSERT:
            found = _dead_literal(av if op is _sre_constants.ATOMIC_GROUP else av[1], ic)
            if found:
                return found
        elif op is _sre_constants.BRANCH:
            for branch in av[1]:
                found = _dead_literal(branch, ic)
                if found:
                    return found
    return None


def _regex_errors(pattern: str, path: str) -> list[str]:
    """Problems with one regex keyword: length, syntax, catastrophic backtracking, dead literals."""
    if len(pattern) > MAX_REGEX_CHARS:
        return [f"{path}: regex longer than {MAX_REGEX_CHARS} characters ({len(pattern)})"]
    if _has_surrogate(pattern):
        return [f"{path}: contains characters that are not valid text (lone surrogates)"]
    # The checks below (and the prefilter in front of searches) read the standard library's parse tree,
    # while matching uses the `regex` package: syntax the two read differently is refused.
    if _TWO_READINGS.search(pattern):
        return [f"{path}: POSIX classes like [[:digit:]] and fuzzy matching like {{e<=1}} are not supported; "
                "write [0-9] or list the variants, and \\{ for a literal brace"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # "possible nested set": read differently later
            re.compile(pattern)  # the safety walk below reads sre's parse tree, so sre must accept it
        tree = _sre_parser.parse(pattern)
        compiled = _compile_regex(pattern)  # what matching uses
    except FutureWarning as exc:
        return [f"{path}: regex is ambiguous ({exc}); escape [ and ] meant literally"]
    except (re.error, regex.error, OverflowError, RecursionError) as exc:  # OverflowError: a{99999999999}
        return [f"{path}: regex does not compile: {exc}"]
    ic = bool(tree.state.flags & re.IGNORECASE)
    risk = _backtrack_risk(tree.data, False, False, ic)
    if risk is None and (run := _unbounded_run(tree.data)) > _MAX_UNBOUNDED:
        risk = (
            f"{run} unbounded quantifiers (*, +, {{n,}} or more than {_BIG_REPEAT} repeats) in one "
            f"pattern; at most {_MAX_UNBOUNDED} are allowed (alternatives count apart), like 肌酐.*\\d+"
        )
    if risk:
        return [f"{path}: regex could backtrack catastrophically: {risk}"]
    if compiled.search("") is not None:
        return [f"{path}: regex matches the empty string, so it would match every message"]
    dead = _dead_literal(tree.data, ic)
    if dead:
        ch, folded = dead
        return [
            f"{path}: regex literal {ch!r} never occurs in normalized text "
            f"(regexes see NFKC, lower-case, Simplified text: write {folded!r})"
        ]
    return []


# --------------------------------------------------------------------------------------------------
# Adversarial inputs: what a pattern is run on at import, to refuse the slow shapes the walk lets through
#
# Backtracking is slowest on long runs of the characters the pattern names where the match fails late:
# a.*b.*c on "abab…", 肌酐.*\d+ on "肌酐肌酐…". So the probes are each named character repeated, and
# the sequence of named characters (first two, first three, …) repeated, all REGEX_TEXT_CHARS long (what
# matching sees) and ending in a character the pattern does not name, so that an anchored match fails.

_MAX_ATOMS: Final = 8  # characters taken from one pattern (enough to spell its literals in order)
_CATEGORY_SAMPLES: Final = {
    _sre_constants.CATEGORY_DIGIT: "1",
    _sre_constants.CATEGORY_NOT_DIGIT: "a",
    _sre_constants.CATEGORY_WORD: "a",
    _sre_constants.CATEGORY_NOT_WORD: ",",
    _sre_constants.CATEGORY_SPACE: " ",
    _sre_constants.CATEGORY_NOT_SPACE: "a",
}
_TAILS: Final = "#~\x00"  # one of these, not named by the pattern, ends every probe


def _atoms(items: Iterable[Any], out: list[str]) -> None:
    """Append, in pattern order, each literal and one or two characters of each class the pattern names."""
    for op, av in items:
        if op is _sre_constants.LITERAL:
            out.append(chr(av))
        elif op is _sre_constants.IN:
            if any(iop is _sre_constants.NEGATE for iop, _ in av):
                continue  # accepts nearly anything: the other atoms already exercise it
            for iop, iav in av[:2]:
                if iop is _sre_constants.LITERAL:
                    out.append(chr(iav))
                elif iop is _sre_constants.RANGE:
                    out.append(chr(iav[0]))
                elif iop is _sre_constants.CATEGORY and iav in _CATEGORY_SAMPLES:
                    out.append(_CATEGORY_SAMPLES[iav])
        elif op is _sre_constants.SUBPATTERN:
            _atoms(av[3], out)
        elif op is _sre_constants.ATOMIC_GROUP:
            _atoms(av, out)
        elif op in _REPEATS:
            _atoms(av[2], out)
        elif op is _sre_constants.BRANCH:
            for branch in av[1]:
                _atoms(branch, out)
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            _atoms(av[1], out)
        elif op is _sre_constants.GROUPREF_EXISTS:
            _atoms(av[1], out)
            if av[2] is not None:
                _atoms(av[2], out)


def _probes(pattern: str) -> Iterator[str]:
    """Adversarial inputs for `pattern`, each REGEX_TEXT_CHARS long; none if sre cannot parse it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            tree = _sre_parser.parse(pattern)
    except Exception:  # refused by _regex_errors already
        return
    found: list[str] = []
    _atoms(tree.data, found)
    atoms = list(dict.fromkeys(found))[:_MAX_ATOMS]
    tail = next((t for t in _TAILS if t not in atoms), "\x00")
    units = [*atoms, *("".join(atoms[:k]) for k in range(2, len(atoms) + 1))]
    body = REGEX_TEXT_CHARS - 1
    for unit in units:
        yield (unit * (body // len(unit) + 1))[:body] + tail


# Patterns found fast: every app start validates config.yaml's regexes, ~1 ms each, so they run once per process.
# A slow verdict is not kept: it is re-checked, so a busy moment does not refuse a pattern for good.
_KNOWN_FAST: Final[set[str]] = set()
_KNOWN_FAST_MAX: Final = 4096
SLOW_RETRIES: Final = 2  # further tries before a pattern is called slow


def _slow_probe(
    pattern: str, budget: float = REGEX_CHECK_SECONDS, clock: Callable[[], float] = time.perf_counter
) -> str | None:
    """The adversarial input on which `pattern` used up `budget` (its probes together), or None if it never did."""
    if pattern in _KNOWN_FAST and budget >= REGEX_CHECK_SECONDS:
        return None
    slow = _run_probes(pattern, budget, clock)
    for _ in range(SLOW_RETRIES):
        # A wall-clock budget also counts time this thread was not running (a busy machine, another worker
        # starting): a pattern is refused only if every try is slow. A catastrophic one is slow every time.
        if slow is None:
            break
        slow = _run_probes(pattern, budget, clock)
    if slow is None and budget >= REGEX_CHECK_SECONDS:
        if len(_KNOWN_FAST) >= _KNOWN_FAST_MAX:
            _KNOWN_FAST.clear()
        _KNOWN_FAST.add(pattern)
    return slow


def _run_probes(pattern: str, budget: float, clock: Callable[[], float]) -> str | None:
    """_slow_probe() without the memo."""
    compiled = _compile_regex(pattern)
    spent = 0.0
    for probe in _probes(pattern):
        remaining = budget - spent
        if remaining <= 0:
            return probe
        started = clock()
        try:
            compiled.search(probe, timeout=remaining)
        except TimeoutError:
            return probe
        spent += clock() - started
    return None
