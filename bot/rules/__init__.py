"""Keyword rules: validation and import/export, the compiled matcher, the live rule set each worker answers with.

Modules, lowest first: `normalization` (the canonical text both sides are matched in), `model` (Rule and its
parts, the limits), `regex_safety` (compiling regex keywords, refusing slow shapes), `validation`,
`parsing` (YAML/JSON dicts <-> rules), `matcher` (CompiledRules: matching order and winner ranking),
`ruleset` (the live rule set). Also the wording rules answer with that validation must know about (`urgent`)
and the survey's tracked link (`survey`). The public names of the engine modules are re-exported here.
"""

from bot.rules.matcher import CompiledRules, compile_rules
from bot.rules.model import (
    DEFAULT_TIMEZONE,
    MAX_REGEX_KEYWORDS,
    REGEX_BUDGET_SECONDS,
    REGEX_CHECK_SECONDS,
    REGEX_TEXT_CHARS,
    RESERVED_IDS,
    Answer,
    AnswerKind,
    InputKind,
    MatchMode,
    Rule,
    RuleError,
    RuleMatch,
    TimeWindow,
    Topic,
)
from bot.rules.normalization import normalize
from bot.rules.parsing import parse_rule, parse_rules, rule_to_dict
from bot.rules.validation import validate_rules

__all__ = [
    "DEFAULT_TIMEZONE",
    "MAX_REGEX_KEYWORDS",
    "REGEX_BUDGET_SECONDS",
    "REGEX_CHECK_SECONDS",
    "REGEX_TEXT_CHARS",
    "RESERVED_IDS",
    "Answer",
    "AnswerKind",
    "CompiledRules",
    "InputKind",
    "MatchMode",
    "Rule",
    "RuleError",
    "RuleMatch",
    "TimeWindow",
    "Topic",
    "compile_rules",
    "normalize",
    "parse_rule",
    "parse_rules",
    "rule_to_dict",
    "validate_rules",
]
