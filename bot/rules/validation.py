"""Validation of rules already built (used by parse_rule and compile_rules): every problem, with its path."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.rules.model import (
    _ID_RE,
    ANSWER_KINDS,
    INPUT_KINDS,
    MATCH_MODES,
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
    MAX_NAME_CHARS,
    MAX_REGEX_KEYWORDS,
    MAX_REPLY_BYTES,
    REGEX_CHECK_SECONDS,
    RESERVED_IDS,
    WILDCARD,
    Answer,
    MatchMode,
    Rule,
    TimeWindow,
    _parse_hours,
)
from bot.rules.normalization import _has_surrogate, normalize
from bot.rules.regex_safety import _regex_errors, _slow_probe

__all__ = ["validate_rules"]


def _keyword_errors(
    keywords: Sequence[str], mode: MatchMode, inputs: Collection[str], where: str
) -> list[str]:
    errors: list[str] = []
    path = f"{where}.keywords"
    subscribe_only = set(inputs) == {"subscribe"}
    if len(keywords) > MAX_KEYWORDS:
        errors.append(f"{path}: too many keywords ({len(keywords)} > {MAX_KEYWORDS})")
    if not keywords:
        if not subscribe_only:
            errors.append(f"{path}: must not be empty (only subscribe-only rules may omit keywords)")
        return errors
    seen: dict[str, int] = {}
    for i, kw in enumerate(keywords):
        kpath = f"{path}[{i}]"
        if kw == WILDCARD:
            if not subscribe_only:
                errors.append(f"{kpath}: '*' is only allowed in rules whose inputs are [subscribe]")
            elif len(keywords) > 1:
                errors.append(f"{kpath}: '*' must be the only keyword")
            continue
        if mode == "regex":
            errors.extend(_regex_errors(kw, kpath))
            continue
        if len(kw) > MAX_KEYWORD_CHARS:
            errors.append(f"{kpath}: longer than {MAX_KEYWORD_CHARS} characters ({len(kw)})")
            continue
        if _has_surrogate(kw):
            errors.append(f"{kpath}: contains characters that are not valid text (lone surrogates)")
            continue
        norm = normalize(kw)
        if not norm:
            errors.append(f"{kpath}: {kw!r} normalizes to an empty string")
        elif norm in seen:
            errors.append(f"{kpath}: same as keywords[{seen[norm]}] after normalization ({norm!r})")
        else:
            seen[norm] = i
    return errors


def _window_errors(window: TimeWindow, path: str) -> list[str]:
    errors: list[str] = []
    for name, value in (("start", window.start), ("end", window.end)):
        if value is not None and value.utcoffset() is None:
            errors.append(f"{path}.{name}: must include a timezone, e.g. 2025-01-01T08:00:00+08:00")
    if window.start is None and window.end is None and window.hours is None:
        errors.append(f"{path}: set at least one of start, end, hours")
    start, end = window.start, window.end
    if start and end and start.utcoffset() is not None and end.utcoffset() is not None and end <= start:
        errors.append(f"{path}.end: must be after start ({start.isoformat()})")
    try:
        ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"{path}.timezone: unknown timezone {window.timezone!r}")
        return errors
    if window.hours is not None:
        daily = _parse_hours(window.hours, window.timezone)
        if daily is None:
            errors.append(
                f"{path}.hours: must look like '08:00-17:30' (24-hour HH:MM), got {window.hours!r}"
            )
        elif daily[0] == daily[1]:
            errors.append(f"{path}.hours: start equals end, the window would be empty")
    return errors


def _answer_errors(answer: Answer, path: str, article_ids: Collection[str] | None) -> list[str]:
    if answer.kind not in ANSWER_KINDS:
        expected = ", ".join(ANSWER_KINDS)
        return [f"{path}.kind: unknown answer kind {answer.kind!r} (expected one of {expected})"]
    errors: list[str] = []
    if answer.kind == "article":
        if not answer.article_id:
            errors.append(f"{path}.article_id: required when kind is 'article'")
        elif article_ids is not None and answer.article_id not in article_ids:
            errors.append(f"{path}.article_id: unknown article {answer.article_id!r}")
    elif answer.article_id is not None:
        errors.append(f"{path}.article_id: only allowed when kind is 'article'")
    if answer.kind == "text":
        if not answer.texts:
            errors.append(f"{path}.texts: must not be empty when kind is 'text'")
        for i, text in enumerate(answer.texts):
            size = len(text.encode("utf-8", "surrogatepass"))
            if _has_surrogate(text):
                errors.append(f"{path}.texts[{i}]: contains characters that are not valid text (lone surrogates)")
            elif not text.strip():
                errors.append(f"{path}.texts[{i}]: must not be empty")
            elif size > MAX_REPLY_BYTES:
                errors.append(
                    f"{path}.texts[{i}]: {size} bytes in UTF-8, "
                    f"WeChat passive replies allow at most {MAX_REPLY_BYTES}"
                )
    elif answer.texts:
        errors.append(f"{path}.texts: only allowed when kind is 'text'")
    return errors


def _urgent_errors(rule: Rule, where: str, urgent_overhead: int) -> list[str]:
    """An urgent rule's reply is a text wrapped with care guidance and the contact: it must fit."""
    if not rule.urgent:
        return []
    path = f"{where}.answer"
    if rule.answer.kind != "text":
        return [
            f"{path}.kind: urgent rules must answer with kind 'text' (the urgent reply wraps a text "
            f"with care guidance and the department's contact), got {rule.answer.kind!r}"
        ]
    budget = MAX_REPLY_BYTES - urgent_overhead
    errors: list[str] = []
    for i, text in enumerate(rule.answer.texts):
        size = len(text.encode("utf-8", "surrogatepass"))
        if budget < size <= MAX_REPLY_BYTES:  # longer texts are reported by _answer_errors
            errors.append(
                f"{path}.texts[{i}]: {size} bytes in UTF-8; urgent replies add {urgent_overhead} bytes "
                f"of guidance and the department's contact, so urgent texts allow at most {budget}"
            )
    return errors


def _core_errors(rule: Rule, where: str) -> list[str]:
    """Id, name, match mode, inputs and keywords (window and answer are checked separately)."""
    errors: list[str] = []
    if not _ID_RE.fullmatch(rule.id):
        errors.append(f"{where}.id: {rule.id!r} must match [a-z0-9][a-z0-9_-]{{0,63}}")
    elif rule.id in RESERVED_IDS:
        reserved = ", ".join(sorted(RESERVED_IDS))
        errors.append(
            f"{where}.id: {rule.id!r} is reserved: the daily statistics count the built-in replies "
            f"under {reserved}; choose another id"
        )
    if not rule.name.strip():
        errors.append(f"{where}.name: must not be empty")
    elif len(rule.name) > MAX_NAME_CHARS:
        errors.append(f"{where}.name: longer than {MAX_NAME_CHARS} characters")
    inputs_ok = False
    bad_inputs = sorted(k for k in rule.inputs if k not in INPUT_KINDS)
    if bad_inputs:
        expected = ", ".join(INPUT_KINDS)
        errors.append(f"{where}.inputs: unknown input kind {bad_inputs[0]!r} (expected {expected})")
    elif not rule.inputs:
        errors.append(f"{where}.inputs: must not be empty")
    else:
        inputs_ok = True
    if rule.match not in MATCH_MODES:
        expected = ", ".join(MATCH_MODES)
        errors.append(f"{where}.match: unknown match mode {rule.match!r} (expected one of {expected})")
    elif inputs_ok:
        errors.extend(_keyword_errors(rule.keywords, rule.match, rule.inputs, where))
    return errors


def _rule_errors(
    rule: Rule, where: str, article_ids: Collection[str] | None, urgent_overhead: int
) -> list[str]:
    errors = _core_errors(rule, where)
    if rule.window is not None:
        errors.extend(_window_errors(rule.window, f"{where}.window"))
    answer_errors = _answer_errors(rule.answer, f"{where}.answer", article_ids)
    errors.extend(answer_errors)
    if not answer_errors:
        errors.extend(_urgent_errors(rule, where, urgent_overhead))
    return errors


def _regex_set_errors(placed: Sequence[tuple[str, Rule]], check_speed: bool) -> list[str]:
    """Limits on a rule set's regex keywords: how many, and (if `check_speed`) how fast on adversarial input."""
    regexes = [(f"{where}.keywords[{i}]", rule, kw) for where, rule in placed if rule.match == "regex"
               for i, kw in enumerate(rule.keywords)]
    if len(regexes) > MAX_REGEX_KEYWORDS:
        # Reported before any speed check: checking that many patterns would itself be slow.
        return [
            f"rules: {len(regexes)} regex keywords in the rule set, at most {MAX_REGEX_KEYWORDS} are allowed "
            "(every message is searched with each one); merge variants into one keyword with | or use "
            "contains keywords"
        ]
    if not check_speed:
        return []
    errors: list[str] = []
    verdicts: dict[str, str | None] = {}  # the same pattern in several rules is run once
    for path, rule, kw in regexes:
        if kw not in verdicts:
            verdicts[kw] = None if _regex_errors(kw, path) else _slow_probe(kw)  # refused ones: reported already
        probe = verdicts[kw]
        if probe is not None:
            errors.append(
                f"{path}: rule {rule.id!r}: regex keyword {kw!r} is too slow on adversarial input (over "
                f"{REGEX_CHECK_SECONDS * 1000:.0f} ms on a {len(probe)}-character text like {probe[:12] + '…'!r}); "
                "simplify it, e.g. fewer .* or bounded gaps like [^,。]{0,4}"
            )
    return errors


def validate_rules(
    rules: Sequence[Rule], *, article_ids: Collection[str] | None = None, urgent_overhead: int = 0,
    check_speed: bool = True,
) -> list[str]:
    """Every problem in `rules` (duplicate ids included); article ids are checked only if given.

    `urgent_overhead`: the UTF-8 bytes the urgent reply adds around an urgent rule's text (care
    guidance and the department's contact, see bot.rules.urgent); the rules module
    cannot know it, so without it urgent texts are held to the plain 2047-byte limit only.
    RuleSet passes it for the account's config.
    `check_speed`: run each regex keyword on adversarial input (at import); rules already checked
    when they were saved skip it, so that a busy worker never refuses them for being slow to run.
    """
    errors: list[str] = []
    first: dict[str, int] = {}
    for i, rule in enumerate(rules):
        errors.extend(_rule_errors(rule, f"rules[{i}]", article_ids, urgent_overhead))
        if rule.id in first:
            errors.append(f"rules[{i}].id: duplicate id {rule.id!r} (also rules[{first[rule.id]}])")
        else:
            first[rule.id] = i
    errors.extend(_regex_set_errors([(f"rules[{i}]", r) for i, r in enumerate(rules)], check_speed))
    return errors

