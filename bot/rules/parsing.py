"""Plain dicts (YAML/JSON) <-> rules: parse_rule(s) collect every problem with its field path."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, cast

from bot.rules.model import (
    ANSWER_KINDS,
    DEFAULT_INPUTS,
    DEFAULT_TIMEZONE,
    INPUT_KINDS,
    Answer,
    InputKind,
    Rule,
    RuleError,
    TimeWindow,
)
from bot.rules.validation import _answer_errors, _core_errors, _regex_set_errors, _urgent_errors, _window_errors

__all__ = ["parse_rule", "parse_rules", "rule_to_dict"]

_RULE_FIELDS: Final = (
    "id", "name", "keywords", "match", "priority", "enabled", "window", "answer", "inputs", "urgent"
)
_WINDOW_FIELDS: Final = ("start", "end", "hours", "timezone")
_ANSWER_FIELDS: Final = ("kind", "article_id", "texts")
_MISSING: Final = object()
_TYPE_NAMES: Final[dict[type[Any], str]] = {
    str: "a string", int: "an integer", bool: "true or false"
}


def _unknown_fields(data: Mapping[Any, Any], allowed: Sequence[str], path: str) -> list[str]:
    expected = ", ".join(allowed)
    return [f"{path}.{k}: unknown field (expected one of {expected})" for k in data if k not in allowed]


def _field(
    data: Mapping[Any, Any], key: str, kind: type[Any], default: Any, path: str, errors: list[str]
) -> Any:
    """data[key] if it is a `kind` (a bool is not an int here); `default` if absent."""
    if key not in data:
        if default is _MISSING:
            errors.append(f"{path}.{key}: required")
        return default
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        errors.append(f"{path}.{key}: must be {_TYPE_NAMES[kind]}, got {value!r}")
        return _MISSING
    return value


def _string_list(value: object, path: str, errors: list[str]) -> tuple[str, ...] | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        errors.append(f"{path}: must be a list of strings, got {value!r}")
        return None
    bad = [f"{path}[{i}]: must be a string, got {v!r}" for i, v in enumerate(value) if not isinstance(v, str)]
    errors.extend(bad)
    return None if bad else tuple(value)


def _datetime(value: object, path: str, errors: list[str]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors.append(f"{path}: not an ISO 8601 datetime: {value!r}")
            return None
    if not isinstance(value, datetime):  # YAML turns a bare 2025-01-01 into a date
        errors.append(f"{path}: must be a datetime with a timezone, got {value!r}")
        return None
    if value.utcoffset() is None:
        errors.append(f"{path}: must include a timezone, e.g. 2025-01-01T08:00:00+08:00")
        return None
    return value


def _parse_window(value: object, path: str, errors: list[str]) -> TimeWindow | None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be a mapping with start, end, hours, timezone")
        return None
    n = len(errors)
    errors.extend(_unknown_fields(value, _WINDOW_FIELDS, path))
    start = _datetime(value.get("start"), f"{path}.start", errors)
    end = _datetime(value.get("end"), f"{path}.end", errors)
    hours = value.get("hours")
    if hours is not None and not isinstance(hours, str):
        errors.append(f"{path}.hours: must be a string like '08:00-17:30', got {hours!r}")
    tz = value.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(tz, str):
        errors.append(f"{path}.timezone: must be a string like 'Asia/Shanghai', got {tz!r}")
    if len(errors) > n:
        return None
    window = TimeWindow(start=start, end=end, hours=hours, timezone=tz)
    errors.extend(_window_errors(window, path))
    return window if len(errors) == n else None


def _parse_answer(
    value: object, path: str, errors: list[str], article_ids: Collection[str]
) -> Answer | None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be a mapping with kind ({', '.join(ANSWER_KINDS)})")
        return None
    n = len(errors)
    errors.extend(_unknown_fields(value, _ANSWER_FIELDS, path))
    kind = _field(value, "kind", str, _MISSING, path, errors)
    article_id = _field(value, "article_id", str, None, path, errors)
    texts: tuple[str, ...] | None = ()
    if "texts" in value:
        texts = _string_list(value["texts"], f"{path}.texts", errors)
    if len(errors) > n or texts is None:
        return None
    answer = Answer(kind=kind, article_id=article_id, texts=texts)
    errors.extend(_answer_errors(answer, path, article_ids))
    return answer if len(errors) == n else None


def _collect_rule(
    data: object, where: str, article_ids: Collection[str], errors: list[str], urgent_overhead: int = 0
) -> Rule | None:
    """Parse one rule dict, appending every problem to `errors`; None if there was any."""
    if not isinstance(data, Mapping):
        errors.append(f"{where}: must be a mapping, got {type(data).__name__}")
        return None
    n = len(errors)
    errors.extend(_unknown_fields(data, _RULE_FIELDS, where))
    rule_id = _field(data, "id", str, _MISSING, where, errors)
    name = _field(data, "name", str, _MISSING, where, errors)
    mode = _field(data, "match", str, "contains", where, errors)
    priority = _field(data, "priority", int, 0, where, errors)
    enabled = _field(data, "enabled", bool, True, where, errors)
    urgent = _field(data, "urgent", bool, False, where, errors)
    keywords: tuple[str, ...] | None = None
    if "keywords" not in data:
        errors.append(f"{where}.keywords: required")
    else:
        keywords = _string_list(data["keywords"], f"{where}.keywords", errors)
    inputs: tuple[str, ...] | None = tuple(DEFAULT_INPUTS)
    if "inputs" in data:
        inputs = _string_list(data["inputs"], f"{where}.inputs", errors)
    window = None
    if data.get("window") is not None:
        window = _parse_window(data["window"], f"{where}.window", errors)
    answer = None
    if "answer" not in data:
        errors.append(f"{where}.answer: required")
    else:
        answer = _parse_answer(data["answer"], f"{where}.answer", errors, article_ids)
    if len(errors) > n or keywords is None or inputs is None or answer is None:
        return None
    rule = Rule(
        id=rule_id,
        name=name,
        keywords=keywords,
        match=mode,
        priority=priority,
        enabled=enabled,
        window=window,
        answer=answer,
        inputs=frozenset(cast("Iterable[InputKind]", inputs)),
        urgent=urgent,
    )
    errors.extend(_core_errors(rule, where))
    errors.extend(_urgent_errors(rule, where, urgent_overhead))
    return rule if len(errors) == n else None


def parse_rule(
    data: Mapping[str, Any], *, where: str = "rule", article_ids: Collection[str], urgent_overhead: int = 0,
    check_speed: bool = True,
) -> Rule:
    """Build a Rule from its YAML/JSON dict; RuleError lists every problem with its field path.

    `urgent_overhead`, `check_speed`: see validate_rules().
    """
    errors: list[str] = []
    rule = _collect_rule(data, where, article_ids, errors, urgent_overhead)
    if rule is not None:
        errors.extend(_regex_set_errors([(where, rule)], check_speed))
    if rule is None or errors:
        raise RuleError(errors)
    return rule


def parse_rules(
    items: Iterable[object], *, article_ids: Collection[str], urgent_overhead: int = 0, check_speed: bool = True
) -> list[Rule]:
    """All rules or none: one RuleError lists every problem (duplicate ids included).

    `urgent_overhead`, `check_speed`: see validate_rules().
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise RuleError(["rules: must be a list of rules"])
    errors: list[str] = []
    placed: list[tuple[str, Rule]] = []
    first: dict[str, int] = {}
    for i, data in enumerate(items):
        where = f"rules[{i}]"
        rule = _collect_rule(data, where, article_ids, errors, urgent_overhead)
        if rule is not None:
            placed.append((where, rule))
        rule_id = data.get("id") if isinstance(data, Mapping) else None
        if isinstance(rule_id, str):
            if rule_id in first:
                errors.append(f"{where}.id: duplicate id {rule_id!r} (also rules[{first[rule_id]}])")
            else:
                first[rule_id] = i
    errors.extend(_regex_set_errors(placed, check_speed))
    if errors:
        raise RuleError(errors)
    return [rule for _, rule in placed]


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The YAML/JSON form of `rule` (datetimes as ISO strings); parse_rule() inverts it."""
    data: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "keywords": list(rule.keywords),
        "match": rule.match,
        "priority": rule.priority,
        "enabled": rule.enabled,
    }
    if rule.window is not None:
        w = rule.window
        window: dict[str, Any] = {}
        if w.start is not None:
            window["start"] = w.start.isoformat()
        if w.end is not None:
            window["end"] = w.end.isoformat()
        if w.hours is not None:
            window["hours"] = w.hours
        window["timezone"] = w.timezone
        data["window"] = window
    answer: dict[str, Any] = {"kind": rule.answer.kind}
    if rule.answer.article_id is not None:
        answer["article_id"] = rule.answer.article_id
    if rule.answer.texts:
        answer["texts"] = list(rule.answer.texts)
    data["answer"] = answer
    data["inputs"] = [k for k in INPUT_KINDS if k in rule.inputs]
    data["urgent"] = rule.urgent
    return data
