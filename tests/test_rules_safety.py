"""Rules that could hurt the service: runaway or slow regexes, urgent rules that cannot be sent, no urgent rule at all,
ids that collide with the built-in counters, undecodable input (bot.rules: validation, matching, the live rule set)."""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from bot.config import Config
from bot.rules import (
    MAX_REGEX_KEYWORDS,
    REGEX_BUDGET_SECONDS,
    REGEX_CHECK_SECONDS,
    REGEX_TEXT_CHARS,
    RESERVED_IDS,
    Answer,
    CompiledRules,
    Rule,
    RuleError,
    compile_rules,
    matcher,
    normalization,
    normalize,
    parse_rule,
    parse_rules,
    regex_safety,
    validate_rules,
    validation,
)
from bot.rules.regex_safety import _regex_errors, _required_chars
from bot.rules.ruleset import RuleBook, RuleSet
from bot.rules.urgent import urgent_text
from bot.store import Store
from bot.wechat.outbound import fits_passive
from tests import test_urgent

NOW = datetime(2025, 6, 3, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
URGENT = {"id": "urgent-fever", "name": "发热", "urgent": True, "keywords": ["发烧"],
          "answer": {"kind": "text", "texts": ["请立即就医。"]}}


def rule_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "r", "name": "规则", "keywords": ["豆浆"], "answer": {"kind": "survey"}}
    data.update(overrides)
    return data


def errors_of(*items: dict[str, Any], **kw: Any) -> tuple[str, ...]:
    with pytest.raises(RuleError) as info:
        parse_rules(list(items), article_ids={"soy"}, **kw)
    return info.value.errors


# --------------------------------------------------------------------------------------------------
# 1. Regexes that backtrack catastrophically

# Each of these used to pass validation and kept `re` busy for more than 10 s on a 60-character message.
RUNAWAY = [
    (r"(?:a+){16}b", "a" * 60),
    (r"(.*){8}x", "a" * 60),
    (r".*.*.*.*.*.*.*.*x", "a" * 60),
    (r"(?:\d+){2,16}x", "1" * 60),
    (r"\d*\d*\d*\d*\d*\d*\d*\d*\d*\d*z", "1" * 60),
    (r"(?:.*,){12}x", "," * 60),
    (r"肌酐(?:\d+\.?){8}高", "肌酐" + "1" * 60),
]


@pytest.mark.parametrize(("pattern", "message"), RUNAWAY)
def test_runaway_regexes_are_refused_naming_the_keyword(pattern: str, message: str) -> None:
    errors = errors_of(rule_dict(match="regex", keywords=["肌酐\\d+", pattern]))
    assert any(e.startswith("rules[0].keywords[1]: regex could backtrack catastrophically") for e in errors), errors


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(\d+\.?)+", "a quantifier inside a repeated group"),
        (r"(?:ab?){2}", "a quantifier inside a repeated group"),
        (r"a.*b.*c.*d", "3 unbounded quantifiers"),
        (r"a.{0,50}b.{0,50}c.{0,50}d", "3 unbounded quantifiers"),  # more than 16 repeats count as unbounded
        (r"(?:x.*|y)z.*w.*", "3 unbounded quantifiers"),
        (r"(?<=\d+)x", "regex does not compile"),  # variable-width lookbehind: sre refuses it
    ],
)
def test_refusals_say_why(pattern: str, why: str) -> None:
    [error] = errors_of(rule_dict(match="regex", keywords=[pattern]))
    assert error.startswith("rules[0].keywords[0]: ") and why in error


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?<!诊)断药",
        r"发热(?!门诊)",
        r"肌酐\d+(\.\d+)?",  # an optional group may hold a quantifier: it is tried at most once
        r"(?:\d{3}-)+\d+",  # fixed counts inside a repeat
        r"肌酐.*\d+",
        r"(?:肌酐\d+|尿酸\d+|尿素\d+)",  # alternatives count apart
        r"(他克莫司|fk506)浓度\d*",
        r"(发烧|发热)+",
    ],
)
def test_useful_regexes_are_still_accepted(pattern: str) -> None:
    assert parse_rules([rule_dict(match="regex", keywords=[pattern])], article_ids=set())


def test_lookarounds_match_as_written() -> None:
    compiled = compile_rules([
        Rule(id="missed", name="断药", keywords=(r"(?<!诊)断药",), match="regex", answer=Answer("survey")),
        Rule(id="fever", name="发热", keywords=(r"发热(?!门诊)",), match="regex", answer=Answer("survey")),
    ], 1)
    assert [m.rule.id for m in compiled.match_all("我断药两天了", "text", NOW)] == ["missed"]
    assert compiled.match("诊断药物过敏", "text", NOW) is None
    assert [m.rule.id for m in compiled.match_all("發熱三天", "text", NOW)] == ["fever"]  # Traditional as before
    assert compiled.match("发热门诊几点开门", "text", NOW) is None


def unchecked(*rules: Rule) -> CompiledRules:
    """Compiled without validation: what a worker would run if a bad pattern slipped past the validator."""
    return CompiledRules(rules, 1)


def regex_rule(rule_id: str, pattern: str, **fields: Any) -> Rule:
    return Rule(id=rule_id, name=rule_id, keywords=(pattern,), match="regex", answer=Answer("survey"), **fields)


@pytest.mark.parametrize(("pattern", "message"), RUNAWAY)
def test_runaway_regexes_that_slip_through_do_not_hang_matching(pattern: str, message: str) -> None:
    compiled = unchecked(regex_rule("runaway", pattern))
    assert compiled.match(message, "text", NOW) is None
    assert compiled.match_all(message, "text", NOW) == []


def test_a_regex_over_its_time_budget_does_not_match_and_is_logged_by_id_only(
        caplog: pytest.LogCaptureFixture) -> None:
    # (a|a)+$ needs 2^n steps to fail on n letters and an end mark; sre and `regex` alike.
    message = "a" * 22 + "b"  # normalize() would strip a final "!"
    compiled = unchecked(regex_rule("slow", "(a|a)+$", priority=1),
                         Rule(id="letters", name="letters", keywords=("aaa",), answer=Answer("survey")))
    with caplog.at_level(logging.WARNING, logger="bot.rules"):
        m = compiled.match(message, "text", NOW)
        everything = compiled.match_all(message, "text", NOW)
    assert m is not None and m.rule.id == "letters"  # the runaway rule simply does not match
    assert [x.rule.id for x in everything] == ["letters"]
    warnings = [r for r in caplog.records if r.name.startswith("bot.rules")]
    assert len(warnings) == 2 and all("slow" in r.getMessage() for r in warnings)
    assert not any("aaaa" in r.getMessage() or "aaaa" in str(r.args) for r in caplog.records)


def test_regex_rules_see_only_the_first_characters_of_a_long_message() -> None:
    compiled = compile_rules([regex_rule("creatinine", r"肌酐\d+")], 1)
    near = "好" * (REGEX_TEXT_CHARS - 10) + "肌酐120"
    assert (m := compiled.match(near, "text", NOW)) is not None and m.matched == "肌酐120"
    assert compiled.match("好" * REGEX_TEXT_CHARS + "肌酐120", "text", NOW) is None
    # literal keywords still see the whole message
    literal = compile_rules([Rule(id="c", name="c", keywords=("肌酐",), answer=Answer("survey"))], 1)
    assert literal.match("好" * REGEX_TEXT_CHARS + "肌酐120", "text", NOW) is not None


def test_regex_keywords_are_compiled_with_the_regex_package() -> None:
    import regex

    compiled = compile_rules([regex_rule("creatinine", r"肌酐\d+")], 1)
    assert all(isinstance(c[1], regex.Pattern) for c in compiled._regexes)


def test_the_regex_package_is_pinned() -> None:
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    import regex

    assert pins["regex"] == regex.__version__


# --------------------------------------------------------------------------------------------------
# 2 and 3. Urgent rules: a text, and one that fits with the urgent wrapper


@pytest.mark.parametrize("answer", [{"kind": "survey"}, {"kind": "help"}, {"kind": "article", "article_id": "soy"}])
def test_urgent_rule_must_answer_with_text(answer: dict[str, Any]) -> None:
    errors = errors_of(URGENT, rule_dict(urgent=True, answer=answer))
    assert errors == (
        f"rules[1].answer.kind: urgent rules must answer with kind 'text' (the urgent reply wraps a text with care "
        f"guidance and the department's contact), got {answer['kind']!r}",
    )


def test_urgent_rule_built_in_code_must_answer_with_text() -> None:
    with pytest.raises(RuleError) as info:
        compile_rules([Rule(id="fever", name="发热", keywords=("发烧",), urgent=True, answer=Answer("survey"))], 1)
    assert info.value.errors[0].startswith("rules[0].answer.kind: urgent rules must answer with kind 'text'")


def sized(n: int) -> str:
    """A text of exactly n UTF-8 bytes (mostly CJK)."""
    text = "啊" * (n // 3) + "a" * (n % 3)
    assert len(text.encode()) == n
    return text


@pytest.fixture
def ruleset(store: Store, base_config: Config) -> RuleSet:
    return RuleSet(store, base_config)


def test_urgent_text_is_validated_with_the_urgent_wrapper_around_it(ruleset: RuleSet, base_config: Config) -> None:
    overhead = len(urgent_text("", base_config.account.contact).encode())
    assert overhead > 100  # guidance and the department's contact
    budget = 2047 - overhead
    fits = dict(URGENT, answer={"kind": "text", "texts": [sized(budget)]})
    [r] = ruleset.validate([fits])
    assert fits_passive(urgent_text(r.answer.texts[0], base_config.account.contact))

    for size in (budget + 1, 2047):
        with pytest.raises(RuleError) as info:
            ruleset.validate([dict(URGENT, answer={"kind": "text", "texts": ["短", sized(size)]})])
        assert info.value.errors == (
            f"rules[0].answer.texts[1]: {size} bytes in UTF-8; urgent replies add {overhead} bytes of guidance and "
            f"the department's contact, so urgent texts allow at most {budget}",
        )
    # not urgent: the whole limit
    assert ruleset.validate([URGENT, rule_dict(answer={"kind": "text", "texts": [sized(2047)]})])


def test_urgent_budget_follows_the_configured_contact(store: Store, base_config: Config) -> None:
    longer = replace(base_config, account=replace(base_config.account, contact=base_config.account.contact + "啊" * 100))
    text = sized(2047 - len(urgent_text("", base_config.account.contact).encode()))
    item = dict(URGENT, answer={"kind": "text", "texts": [text]})
    assert RuleSet(store, base_config).validate([item])
    with pytest.raises(RuleError) as info:
        RuleSet(store, longer).validate([item])
    assert info.value.errors[0].startswith("rules[0].answer.texts[0]: ")
    assert not fits_passive(urgent_text(text, longer.account.contact))


def test_parse_rules_takes_the_overhead() -> None:
    item = dict(URGENT, answer={"kind": "text", "texts": [sized(2000)]})
    assert parse_rules([item], article_ids=set())  # the rules module alone cannot know the wrapper
    errors = errors_of(item, urgent_overhead=48)
    assert errors[0].endswith("urgent texts allow at most 1999")


# --------------------------------------------------------------------------------------------------
# 4. At least one enabled urgent rule


NO_URGENT = [
    [],
    [rule_dict()],
    [dict(URGENT, enabled=False), rule_dict()],
]


@pytest.mark.parametrize("items", NO_URGENT)
def test_rules_without_an_enabled_urgent_rule_are_refused(ruleset: RuleSet, store: Store,
                                                          items: list[dict[str, Any]]) -> None:
    version = store.rules_version()
    with pytest.raises(RuleError) as info:
        ruleset.replace(items)
    assert info.value.errors[0].startswith("rules: at least one enabled urgent rule is required")
    assert store.rules_version() == version
    assert ruleset.replace(items, allow_no_urgent=True) > version


def test_import_yaml_refuses_no_urgent_rule_unless_allowed(ruleset: RuleSet) -> None:
    with pytest.raises(RuleError, match="at least one enabled urgent rule"):
        ruleset.import_yaml("rules: []\n")
    ruleset.import_yaml("rules: []\n", allow_no_urgent=True)
    assert ruleset.current().rules == ()
    ruleset.import_yaml(yaml.safe_dump({"rules": [URGENT]}, allow_unicode=True))
    assert [r.id for r in ruleset.current().rules] == ["urgent-fever"]


def test_cli_import_refuses_no_urgent_rule_unless_flagged(runner: Any, tmp_path: Path, store: Store) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("rules: []\n", encoding="utf-8")
    assert runner.invoke(args=["rules", "export"]).exit_code == 0  # seeds the rules
    version = store.rules_version()
    result = runner.invoke(args=["rules", "import", str(empty)])
    assert result.exit_code == 1 and "rules: at least one enabled urgent rule is required" in result.output
    assert "--allow-no-urgent" in result.output and store.rules_version() == version
    result = runner.invoke(args=["rules", "import", "--allow-no-urgent", str(empty)])
    assert result.exit_code == 0, result.output
    assert store.rules_version() > version and yaml.safe_load(runner.invoke(args=["rules", "export"]).output) == {
        "rules": []}


# --------------------------------------------------------------------------------------------------
# 5. Ids the statistics use for built-in replies


@pytest.mark.parametrize("rule_id", sorted(RESERVED_IDS))
def test_ids_of_built_in_counters_are_refused(rule_id: str) -> None:
    [error] = errors_of(rule_dict(id=rule_id))
    assert error.startswith(f"rules[0].id: {rule_id!r} is reserved")
    with pytest.raises(RuleError, match=r"rules\[0\]\.id: .* is reserved"):
        compile_rules([Rule(id=rule_id, name="x", keywords=("豆浆",), answer=Answer("survey"))], 1)


def test_reserved_ids_cover_every_counter_the_handlers_use() -> None:
    counted = set()
    for path in (ROOT / "handlers").glob("*.py"):
        counted |= set(re.findall(r'hit_effect\(\s*"rules",\s*"([^"]+)"', path.read_text(encoding="utf-8")))
    assert counted and counted <= RESERVED_IDS


# --------------------------------------------------------------------------------------------------
# 6. Undecodable input (lone surrogates, as from a shell argument that is not UTF-8)


def test_lone_surrogates_normalize_to_the_replacement_character() -> None:
    assert normalize("\udcff\udcfe问卷") == "问卷"  # U+FFFD is a symbol: stripped at the edges like emoji
    assert normalize("问\udcff卷") == "问\ufffd卷"
    assert normalize(normalize("问\udcff卷")) == normalize("问\udcff卷")
    normalize("\ud800" * 3 + "發燒").encode("utf-8")  # always valid UTF-8


def test_matching_survives_lone_surrogates() -> None:
    compiled = compile_rules([
        Rule(id="survey", name="问卷", keywords=("问卷",), answer=Answer("survey")),
        Rule(id="exact", name="复查", keywords=("复查",), match="exact", answer=Answer("survey")),
        Rule(id="creatinine", name="肌酐", keywords=(r"肌酐\d+",), match="regex", answer=Answer("survey")),
    ], 1)
    m = compiled.match("\udcff\udcfe问卷", "text", NOW)
    assert m is not None and m.rule.id == "survey" and m.matched == "问卷"
    m = compiled.match("发\udcff烧问卷", "text", NOW)
    assert m is not None and m.span == (3, 5) and m.matched == "问卷"
    assert [x.rule.id for x in compiled.match_all("\udcff问卷肌酐1\ud800", "text", NOW)] == ["survey", "creatinine"]
    assert compiled.match("复查\udcff", "text", NOW) is not None
    assert compiled.match("\ud800", "text", NOW) is None


def test_rules_test_explains_an_undecodable_argument(base_config: Config) -> None:
    book = RuleBook.build(base_config.seed_rules, 1)  # what `python -m bot rules test` asks first
    [first, *_] = book.explain("\udcff\udcfe问卷", "text", NOW)
    assert first.rule.id == "survey"


def test_keywords_with_lone_surrogates_are_refused() -> None:
    [error] = errors_of(rule_dict(keywords=["问\udcff卷"]))
    assert error == "rules[0].keywords[0]: contains characters that are not valid text (lone surrogates)"
    [error] = errors_of(rule_dict(match="regex", keywords=["问\udcff卷"]))
    assert error == "rules[0].keywords[0]: contains characters that are not valid text (lone surrogates)"


def test_utf8_key_and_span_take_surrogates() -> None:
    key = normalization._utf8_key("a\udcffb")
    assert matcher._char_span("a\udcffb", key, len("a\udcff".encode("utf-8", "surrogatepass")), 1) == (2, 3)


# -- the character prefilter in front of regex searches ------------------------------------------------


@pytest.mark.parametrize(("pattern", "needs"), [
    ("寒战|体温升高", {"寒", "体"}),
    ("[发低高][烧热]", {"发", "低", "高"}),
    ("(?<!没有)漏[服吃]", {"漏"}),
    ("a?b", {"b"}),
    ("(?:a|b*)c", {"c"}),
    ("[^abc]x", {"x"}),
    (r"\d+", None),
    ("(?i)abc", None),  # case-insensitive: a literal may match another character
    ("(?:a|)b?", None),
    (r"\p{Han}", None),  # syntax only the regex package knows: always searched
])
def test_required_characters_of_a_regex(pattern: str, needs: set[str] | None) -> None:
    assert _required_chars(pattern) == (None if needs is None else frozenset(needs))


def test_the_prefilter_never_changes_what_matches(config: Config) -> None:
    """match() skips regex searches by the prefilter; match_all(), the reference, never does."""
    book = compile_rules(config.seed_rules, 1)
    rnd = random.Random(7)
    alphabet = sorted({c for r in config.seed_rules for k in r.keywords for c in k if not c.isascii()} | set("0123456789.度"))
    texts = [t for t, _ in test_urgent.URGENT] + list(test_urgent.NOT_URGENT)
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 12))) for _ in range(3000)]
    now = datetime.now(UTC)
    for text in texts:
        fast = book.match(text, "text", now)
        reference = book.match_all(text, "text", now)
        assert (fast.rule.id if fast else None) == (reference[0].rule.id if reference else None), text


@pytest.mark.parametrize("pattern", ["[[:digit:]]{2}度", "(?:发烧){e<=1}", "[[:^digit:]]痛", "[[:han:]]痛", "[[a]]b"])
def test_syntax_the_two_regex_readers_disagree_on_is_refused(pattern: str) -> None:
    """The checks and the prefilter read the standard parser's tree; matching uses the regex package."""
    rule = {"id": "x", "name": "x", "match": "regex", "urgent": True, "keywords": [pattern],
            "answer": {"kind": "text", "texts": ["请立即就医。"]}}
    with pytest.raises(RuleError, match=r"rules\[0\]\.keywords\[0\]: (POSIX classes|regex is ambiguous)"):
        parse_rules([rule], article_ids=())
    assert _required_chars(pattern) is None or pattern == "[[a]]b"  # never a wrong prefilter either


# --------------------------------------------------------------------------------------------------
# 7. Regexes that are slow without being catastrophic: one budget per message, a cap per rule set,
#    and a speed check at import

# Two unbounded quantifiers: the static walk lets them through, yet each costs ~0.1 s on "ab"*500.
SLOW_KEYWORDS = [f"a.*b.*{c}" for c in "cdefghijklmnopqrstuvwxyz0123456789一二三四五六"]
MESSAGE_THAT_HURTS = "ab" * 500


def test_slow_keywords_pass_the_static_walk() -> None:
    assert len(SLOW_KEYWORDS) == 40 and len(set(SLOW_KEYWORDS)) == 40
    assert not any(_regex_errors(kw, "k") for kw in SLOW_KEYWORDS)


def test_a_slow_regex_is_refused_at_import_naming_rule_and_keyword() -> None:
    [error] = errors_of(rule_dict(id="creatinine", match="regex", keywords=[r"肌酐\d+", "a.*b.*c"]))
    assert error.startswith("rules[0].keywords[1]: rule 'creatinine': regex keyword 'a.*b.*c' is too slow on "
                            "adversarial input (over 20 ms on a 1000-character text like 'abababababab…')")
    assert error.endswith("; simplify it, e.g. fewer .* or bounded gaps like [^,。]{0,4}")


def test_a_rule_with_40_slow_keywords_is_refused_keyword_by_keyword() -> None:
    errors = errors_of(URGENT, rule_dict(id="slow", match="regex", keywords=SLOW_KEYWORDS))
    assert len(errors) == 40
    for i, (kw, error) in enumerate(zip(SLOW_KEYWORDS, errors, strict=True)):
        assert error.startswith(f"rules[1].keywords[{i}]: rule 'slow': regex keyword {kw!r} is too slow"), error


def test_the_speed_check_also_guards_rules_built_in_code() -> None:
    with pytest.raises(RuleError, match=r"rules\[0\]\.keywords\[0\]: rule 'slow': regex keyword 'a\.\*b\.\*c'"):
        compile_rules([regex_rule("slow", "a.*b.*c")], 1)
    assert compile_rules([regex_rule("slow", "a.*b.*c")], 1, check_speed=False).match("abc", "text", NOW)
    with pytest.raises(RuleError, match=r"rule\.keywords\[0\]: rule 'slow': regex keyword 'a\.\*b\.\*c' is too slow"):
        parse_rule(rule_dict(id="slow", match="regex", keywords=["a.*b.*c"]), where="rule", article_ids=())


def test_every_shipped_regex_passes_the_speed_check(base_config: Config) -> None:
    """config.yaml validates at every start; its regexes must pass with room to spare (probes counted, not timed)."""
    patterns = [kw for r in base_config.seed_rules if r.match == "regex" for kw in r.keywords]
    assert len(patterns) >= 15
    for pattern in patterns:
        probes = list(regex_safety._probes(pattern))
        assert 0 < len(probes) <= 2 * regex_safety._MAX_ATOMS
        assert all(len(p) == REGEX_TEXT_CHARS for p in probes)
        assert regex_safety._run_probes(pattern, REGEX_CHECK_SECONDS, time.perf_counter) is None, pattern
    assert not validate_rules(base_config.seed_rules)


def test_probes_spell_the_literals_in_order_and_end_on_a_character_the_pattern_lacks() -> None:
    probes = list(regex_safety._probes(r"肌酐.*\d+"))
    assert [p[:6] for p in probes] == ["肌肌肌肌肌肌", "酐酐酐酐酐酐", "111111", "肌酐肌酐肌酐", "肌酐1肌酐1"]
    assert all(p[-1] == "#" for p in probes)
    assert [p[:4] for p in regex_safety._probes("a.*b.*c")][3:] == ["abab", "abca"]


def test_the_speed_check_charges_every_probe_to_one_budget_per_keyword() -> None:
    """A stepping clock: each probe costs a quarter of the budget, so the fifth of 15 probes finds it used up."""
    ticks = itertools.count()
    pattern = "(他克莫司|fk506)浓度\\d*"
    probes = list(regex_safety._probes(pattern))
    assert len(probes) == 15
    assert regex_safety._run_probes(pattern, 1.0, lambda: next(ticks) * 0.25) == probes[4]
    assert next(ticks) == 8  # four probes run, two clock readings each; the fifth never ran
    assert regex_safety._run_probes(pattern, 1.0, lambda: 0.0) is None  # all 15 run within the budget


def test_regex_keywords_are_capped_per_rule_set() -> None:
    many = [f"肌酐{i:02d}\\d+" for i in range(MAX_REGEX_KEYWORDS + 1)]
    split = [rule_dict(id="first", match="regex", keywords=many[:26]),
             rule_dict(id="second", match="regex", keywords=many[26:])]
    expected = (f"rules: {MAX_REGEX_KEYWORDS + 1} regex keywords in the rule set, at most {MAX_REGEX_KEYWORDS} are "
                "allowed (every message is searched with each one); merge variants into one keyword with | or use "
                "contains keywords")
    assert errors_of(*split) == (expected,)
    assert errors_of(rule_dict(match="regex", keywords=many)) == (expected,)
    assert len(parse_rules([split[0], rule_dict(id="second", match="regex", keywords=many[26:-1])],
                           article_ids=())) == 2
    with pytest.raises(RuleError, match="51 regex keywords"):
        compile_rules([regex_rule(f"r{i:02d}", kw) for i, kw in enumerate(many)], 1)


def test_too_many_slow_keywords_are_refused_by_count_before_any_is_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(validation, "_slow_probe", lambda kw: ran.append(kw))
    errors = errors_of(rule_dict(match="regex", keywords=[*SLOW_KEYWORDS, *(f"x.*y{i}" for i in range(11))]))
    assert errors == (errors[0],) and errors[0].startswith("rules: 51 regex keywords") and ran == []


class Recorded:
    """A compiled regex that records each search's timeout (and whether the search ran out of it)."""

    def __init__(self, pattern: str, log: list[tuple[str, float, bool]]) -> None:
        self.pattern, self.log = pattern, log
        self.compiled = regex_safety._compile_regex(pattern)

    def search(self, text: str, timeout: float) -> Any:
        try:
            found = self.compiled.search(text, timeout=timeout)
        except TimeoutError:
            self.log.append((self.pattern, timeout, True))
            raise
        self.log.append((self.pattern, timeout, False))
        return found


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, bool]]:
    """Every regex search matching makes from now on: (pattern, timeout it was given, timed out)."""
    log: list[tuple[str, float, bool]] = []
    monkeypatch.setattr(matcher, "_compile_regex", lambda pattern: Recorded(pattern, log))
    return log


def test_all_regex_searches_of_one_message_share_one_budget(
        searches: list[tuple[str, float, bool]], caplog: pytest.LogCaptureFixture) -> None:
    """A clock that moves 1 ms per reading: every search costs 1 ms, so three fit into the 2.5 ms budget."""
    ticks = itertools.count()
    rules = [regex_rule(f"bp{i}", f"血压{i}\\d{{3}}", priority=5) for i in range(6)]
    rules.append(Rule(id="bp", name="血压", keywords=("血压",), answer=Answer("survey")))
    compiled = CompiledRules(rules, 1, regex_budget=0.0025, clock=lambda: next(ticks) * 0.001)
    with caplog.at_level(logging.WARNING, logger="bot.rules"):
        m = compiled.match("血压5120怎么办", "text", NOW)
    # bp5 would have matched, but the budget ran out after bp0-bp2: the contains rule answers.
    assert m is not None and m.rule.id == "bp"
    assert [(p, t) for p, t, _ in searches] == [
        ("血压0\\d{3}", pytest.approx(0.0025)), ("血压1\\d{3}", pytest.approx(0.0015)),
        ("血压2\\d{3}", pytest.approx(0.0005))]
    [warning] = [r.getMessage() for r in caplog.records if r.name.startswith("bot.rules")]
    assert warning == ("regex budget of 2.5 ms per message used up: timed out: none; not searched: bp3, bp4, bp5; "
                       "treated as no match")
    assert "5120" not in warning
    # Without the contains rule nothing matches, so the caller's fallback answers.
    alone = CompiledRules(rules[:-1], 1, regex_budget=0.0025, clock=lambda: next(ticks) * 0.001)
    assert alone.match("血压5120怎么办", "text", NOW) is None
    # Searches that cost nothing on the clock all run, and bp5 wins.
    searches.clear()
    free = CompiledRules(rules, 1, regex_budget=0.0025, clock=lambda: 0.0).match("血压5120", "text", NOW)
    assert free is not None and free.rule.id == "bp5" and len(searches) == 6


def test_a_message_that_needs_no_regex_search_reads_no_clock() -> None:
    def clock() -> float:
        raise AssertionError("the clock was read")

    compiled = CompiledRules([regex_rule("bp", "血压\\d{3}")], 1, clock=clock)
    assert compiled.match("你好", "text", NOW) is None  # 血 is absent: the prefilter skips the search


def test_a_slow_rule_set_is_cut_off_after_one_budget_and_the_reply_still_comes(
        searches: list[tuple[str, float, bool]], caplog: pytest.LogCaptureFixture, store: Store, wechat: Any,
        config: Config, app: Flask) -> None:
    """Rules saved before the speed check existed: 40 slow keywords must not hold up the webhook."""
    slow = {"id": "slow", "name": "慢", "match": "regex", "priority": 5, "keywords": SLOW_KEYWORDS,
            "answer": {"kind": "text", "texts": ["慢规则"]}}
    late = {"id": "zz-late", "name": "晚", "match": "regex", "priority": 5, "keywords": ["ab"],
            "answer": {"kind": "text", "texts": ["晚规则"]}}
    hello = {"id": "hello", "name": "你好", "keywords": ["你好"], "answer": {"kind": "text", "texts": ["您好！"]}}
    store.save_rules([slow, late, hello])  # straight into Redis, as an older version saved them
    with caplog.at_level(logging.WARNING, logger="bot.rules"):
        reply = wechat.send("你好" + MESSAGE_THAT_HURTS)
    assert reply.kind == "text" and reply.text == "您好！"
    # The first slow keyword got the whole budget and ran out of it; nothing was searched after it.
    assert searches == [("a.*b.*c", pytest.approx(REGEX_BUDGET_SECONDS), True)]
    cut = [r.getMessage() for r in caplog.records if r.name.startswith("bot.rules")]
    assert cut == [f"regex budget of {REGEX_BUDGET_SECONDS * 1000:.1f} ms per message used up: timed out: slow; "
                   "not searched: zz-late; treated as no match"]
    assert not any("abab" in r.getMessage() or "abab" in str(r.args) for r in caplog.records)

    searches.clear()
    reply = wechat.send(MESSAGE_THAT_HURTS)  # nothing else matches: the fallback answers
    assert reply.kind == "text" and reply.text == config.webhook.default_reply
    assert searches == [("a.*b.*c", pytest.approx(REGEX_BUDGET_SECONDS), True)]
    assert store.rule_hits(app.extensions["wxbot"].ctx.today()).get("unmatched") == 1
