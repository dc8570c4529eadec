"""The keyword-rules engine (bot.rules): matching, normalization, ranking, windows, validation."""

from __future__ import annotations

import json
import random
import re
import unicodedata
import warnings
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from bench.bench_match import common_chars
from bot.rules import (
    Answer,
    CompiledRules,
    Rule,
    RuleError,
    TimeWindow,
    Topic,
    compile_rules,
    normalization,
    normalize,
    parse_rule,
    parse_rules,
    rule_to_dict,
    validate_rules,
)

NOW = datetime(2025, 6, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHANGHAI = timezone(timedelta(hours=8))
ARTICLES = {"stem-cells", "tolerance", "soy", "soy-1", "diet"}


URGENT_ANSWER = Answer("text", texts=("请尽快就医。",))


def rule(id: str, *keywords: str, **fields: Any) -> Rule:
    """A rule with a survey answer (urgent: a text) unless told otherwise."""
    fields.setdefault("answer", URGENT_ANSWER if fields.get("urgent") else Answer("survey"))
    return Rule(id=id, name=fields.pop("name", id), keywords=keywords, **fields)


def winner(rules: list[Rule], text: str, kind: str = "text", now: datetime = NOW) -> str | None:
    m = compile_rules(rules, 1).match(text, kind, now)
    return None if m is None else m.rule.id


def rule_dict(**overrides: Any) -> dict[str, Any]:
    """A valid rule dict, with fields replaced (a value of ... deletes the field)."""
    data: dict[str, Any] = {
        "id": "soy",
        "name": "豆制品",
        "keywords": ["豆制品", "豆浆"],
        "match": "contains",
        "answer": {"kind": "article", "article_id": "soy"},
    }
    for key, value in overrides.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


# --------------------------------------------------------------------------------------------------
# Match modes


def test_exact_matches_only_the_whole_message() -> None:
    rules = [rule("survey", "问卷", match="exact")]
    assert winner(rules, "问卷") == "survey"
    assert winner(rules, "填问卷") is None
    assert winner(rules, "问卷调查") is None


def test_contains_matches_anywhere() -> None:
    rules = [rule("soy", "豆制品", answer=Answer("article", article_id="soy"))]
    m = compile_rules(rules, 1).match("肾移植后可以吃豆制品吗", "text", NOW)
    assert m is not None and m.rule.id == "soy" and m.keyword == "豆制品"
    assert m.span == (7, 10) and m.matched == "豆制品" and m.input_kind == "text"


def test_prefix_matches_only_at_the_start() -> None:
    rules = [rule("recheck", "复查", match="prefix")]
    assert winner(rules, "复查时间是什么时候") == "recheck"
    assert winner(rules, "请问复查时间") is None


def test_prefix_uses_any_occurrence_at_position_zero() -> None:
    rules = [rule("recheck", "复查", match="prefix")]
    assert winner(rules, "复查复查") == "recheck"


def test_regex_searches_the_normalized_text() -> None:
    rules = [rule("creatinine", r"肌酐\d+", match="regex")]
    m = compile_rules(rules, 1).match("我的肌酐１２０偏高吗？", "text", NOW)
    assert m is not None and m.matched == "肌酐120" and m.span == (2, 7)
    assert winner(rules, "肌酐偏高") is None


def test_span_is_in_characters_for_non_ascii_text() -> None:
    m = compile_rules([rule("fever", "发烧", urgent=True)], 1).match("我發燒了。", "text", NOW)
    assert m is not None and m.text == "我发烧了" and m.span == (1, 3) and m.matched == "发烧"


def test_no_rules_and_empty_text() -> None:
    compiled = compile_rules([], 7)
    assert compiled.match("问卷", "text", NOW) is None
    assert compiled.version == 7
    assert compile_rules([rule("soy", "豆浆")], 1).match("", "text", NOW) is None
    assert compile_rules([rule("soy", "豆浆")], 1).match("！！", "text", NOW) is None


def test_keyword_occurring_in_several_rules_and_modes() -> None:
    rules = [rule("a", "豆浆"), rule("b", "豆浆", match="prefix"), rule("c", "豆浆", match="exact")]
    assert winner(rules, "豆浆") == "c"
    assert winner(rules, "豆浆好喝") == "b"
    assert winner(rules, "喝豆浆") == "a"


# --------------------------------------------------------------------------------------------------
# Normalization


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＱＵＥＳＴＩＯＮ", "question"),
        ("QuEsTiOn", "question"),
        ("问卷！！", "问卷"),
        ("问卷!!", "问卷"),
        ("【问卷】", "问卷"),
        ("“问卷”。", "问卷"),
        ("《问卷》、", "问卷"),
        ("  问卷\t\n", "问卷"),
        ("\u3000问卷\u3000", "问卷"),
        ("问   卷", "问 卷"),
        ("问卷😊~", "问卷"),
        ("问卷～～", "问卷"),
        ("問卷", "问卷"),
        ("發燒", "发烧"),
        ("我發燒了，怎麼辦？", "我发烧了,怎么办"),
        ("ＦＫ５０６", "fk506"),
        ("①", "1"),
        ("", ""),
        ("！？。", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert normalize(expected) == expected


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("question", "ＱＵＥＳＴＩＯＮ"),
        ("QUESTION", "question"),
        ("问卷", "问卷！！"),
        ("问卷", " 问卷 "),
        ("问卷", "問卷"),
        ("問卷", "问卷"),
        ("发烧", "發燒"),
        ("干细胞", "幹細胞"),
    ],
)
def test_exact_match_after_normalizing_both_sides(keyword: str, message: str) -> None:
    assert winner([rule("r", keyword, match="exact")], message) == "r"


def test_inner_whitespace_runs_collapse_on_both_sides() -> None:
    assert winner([rule("r", "kidney  transplant", match="exact")], "Kidney \t Transplant") == "r"


MEDICAL_TRADITIONAL = [
    "發燒", "發熱", "尿少", "移植腎疼痛", "漏服", "幹細胞", "免疫耐受", "豆製品", "問卷", "腎功能",
    "排斥反應", "複查", "檢查", "醫院", "醫生", "護士", "血壓", "頭暈", "嘔吐", "腹瀉", "腫脹",
    "體溫", "傷口", "感染", "藥物", "他克莫司", "環孢素", "嗎替麥考酚酯", "潑尼松", "肌酐", "蛋白尿",
    "血藥濃度", "飲食", "運動", "疫苗", "門診", "掛號", "透析", "捐獻", "術後護理", "咳嗽", "鹽",
]


def test_common_medical_words_convert_like_zhconv() -> None:
    zhconv = pytest.importorskip("zhconv")
    with warnings.catch_warnings():  # zhconv leaves its dictionary file open on first use
        warnings.simplefilter("ignore", ResourceWarning)
        expected = [zhconv.convert(w, "zh-hans") for w in MEDICAL_TRADITIONAL]
    assert [normalize(w) for w in MEDICAL_TRADITIONAL] == expected


def test_normalize_fast_paths_equal_the_plain_pipeline() -> None:
    def reference(text: str) -> str:
        s = " ".join(unicodedata.normalize("NFKC", text).casefold().translate(normalization._T2S).split())
        i, j = 0, len(s)
        while i < j and s[i] in normalization._STRIP:
            i += 1
        while j > i and s[j - 1] in normalization._STRIP:
            j -= 1
        return s[i:j]

    rng = random.Random(7)
    pool = (
        [chr(c) for c in list(normalization._T2S)[:2000]]
        + list("的是了我你他肾移植发烧问卷复查豆浆，！？：；（）～\u3000。、“”【】 \t\nABCxyzßİǰ①㎏😊~!?.,")
        + [chr(c) for c in range(0xFF01, 0xFF5F)]
        + ["\u0301", "\u030c", "\U00020000", "\U0002a6a5"]
    )
    for _ in range(20_000):
        text = "".join(rng.choices(pool, k=rng.randint(0, 25)))
        assert normalize(text) == reference(text), text


# --------------------------------------------------------------------------------------------------
# Ranking: urgent, priority, mode, keyword length, position, rule id


def test_higher_priority_wins() -> None:
    rules = [rule("low", "豆浆", priority=1), rule("high", "牛奶", priority=5)]
    assert winner(rules, "豆浆和牛奶") == "high"


def test_urgent_outranks_any_priority() -> None:
    rules = [rule("topic", "干细胞", priority=1000), rule("fever", "发烧", urgent=True, priority=-5)]
    assert winner(rules, "我发烧了想问干细胞") == "fever"
    assert winner(rules, "想问干细胞") == "topic"


def test_urgent_outranks_exact() -> None:
    rules = [rule("survey", "问卷", match="exact", priority=9), rule("urgent", "卷", urgent=True)]
    assert winner(rules, "问卷") == "urgent"


def test_mode_specificity_exact_prefix_contains_regex() -> None:
    rules = [
        rule("d-regex", "复查.*", match="regex"),
        rule("c-contains", "复查"),
        rule("b-prefix", "复查", match="prefix"),
        rule("a-exact", "复查", match="exact"),
    ]
    order = []
    while rules:
        order.append(winner(rules, "复查"))
        rules = [r for r in rules if r.id != order[-1]]
    assert order == ["a-exact", "b-prefix", "c-contains", "d-regex"]


def test_mode_outranks_keyword_length() -> None:
    rules = [rule("long-contains", "复查时间"), rule("short-prefix", "复查", match="prefix")]
    assert winner(rules, "复查时间") == "short-prefix"


def test_longer_keyword_wins() -> None:
    rules = [rule("a-short", "功能"), rule("b-long", "肾功能")]
    assert winner(rules, "肾功能怎么看") == "b-long"


def test_longer_regex_match_wins() -> None:
    rules = [rule("a-short", r"\d", match="regex"), rule("b-long", r"\d{3}", match="regex")]
    m = compile_rules(rules, 1).match("肌酐 120", "text", NOW)
    assert m is not None and m.rule.id == "b-long" and m.matched == "120"


def test_earlier_position_wins() -> None:
    rules = [rule("a-soy", "豆浆"), rule("b-milk", "牛奶")]
    assert winner(rules, "牛奶和豆浆") == "b-milk"
    assert winner(rules, "豆浆和牛奶") == "a-soy"


def test_earlier_position_wins_within_one_rule() -> None:
    m = compile_rules([rule("drinks", "豆浆", "牛奶")], 1).match("牛奶和豆浆", "text", NOW)
    assert m is not None and m.keyword == "牛奶" and m.span == (0, 2)


def test_rule_id_breaks_the_last_tie_regardless_of_order() -> None:
    assert winner([rule("b-rule", "豆浆"), rule("a-rule", "豆浆")], "豆浆") == "a-rule"
    assert winner([rule("a-rule", "豆浆"), rule("b-rule", "豆浆")], "豆浆") == "a-rule"


def test_higher_priority_regex_beats_lower_priority_literal() -> None:
    rules = [rule("literal", "肌酐"), rule("regex", r"肌酐\d+", match="regex", priority=1)]
    assert winner(rules, "肌酐120") == "regex"


def test_match_agrees_with_the_unpruned_reference() -> None:
    rng = random.Random(3)
    alphabet = "发烧豆浆问卷复查肾功能牛奶干细胞"
    rules = []
    for i in range(60):
        mode = rng.choice(["exact", "prefix", "contains", "contains", "regex"])
        kws = {"".join(rng.choices(alphabet, k=rng.randint(1, 3))) for _ in range(rng.randint(1, 4))}
        if mode == "regex":
            kws = {kw + "+" for kw in kws}
        window = rng.choice([None, TimeWindow(hours="08:00-12:00"), TimeWindow(hours="20:00-22:00")])
        rules.append(rule(f"r{i:02d}", *sorted(kws), match=mode, priority=rng.randint(0, 3),
                          urgent=rng.random() < 0.1, enabled=rng.random() < 0.9, window=window,
                          inputs=frozenset(rng.choice([("text",), ("text", "voice"), ("click",)]))))
    compiled = compile_rules(rules, 1)
    for _ in range(2000):
        text = "".join(rng.choices(alphabet + "，。 ", k=rng.randint(0, 12)))
        for kind in ("text", "click"):
            m = compiled.match(text, kind, NOW)
            everything = compiled.match_all(text, kind, NOW)
            assert (m is None) == (not everything)
            if m is not None:
                assert m == everything[0], text


# --------------------------------------------------------------------------------------------------
# Time windows and enabled


def test_disabled_higher_rule_lets_a_lower_one_win() -> None:
    rules = [rule("high", "豆浆", priority=9, enabled=False), rule("low", "豆浆")]
    assert winner(rules, "豆浆") == "low"


def test_start_is_inclusive_and_end_exclusive() -> None:
    start, end = datetime(2025, 6, 1, tzinfo=SHANGHAI), datetime(2025, 7, 1, tzinfo=SHANGHAI)
    rules = [rule("campaign", "义诊", window=TimeWindow(start=start, end=end))]
    assert winner(rules, "义诊", now=start) == "campaign"
    assert winner(rules, "义诊", now=start - timedelta(microseconds=1)) is None
    assert winner(rules, "义诊", now=end - timedelta(microseconds=1)) == "campaign"
    assert winner(rules, "义诊", now=end) is None


def test_open_ended_windows() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    assert TimeWindow(start=start).contains(start + timedelta(days=3650))
    assert not TimeWindow(end=start).contains(start)


def test_out_of_window_higher_rule_lets_a_lower_one_win() -> None:
    office = TimeWindow(hours="08:00-17:30")
    rules = [rule("desk", "挂号", priority=9, window=office), rule("faq", "挂号")]
    assert winner(rules, "挂号", now=datetime(2025, 6, 3, 9, 0, tzinfo=SHANGHAI)) == "desk"
    assert winner(rules, "挂号", now=datetime(2025, 6, 3, 18, 0, tzinfo=SHANGHAI)) == "faq"


@pytest.mark.parametrize(
    ("local", "inside"),
    [("07:59", False), ("08:00", True), ("12:00", True), ("17:29", True), ("17:30", False), ("23:00", False)],
)
def test_daily_hours_are_half_open(local: str, inside: bool) -> None:
    hour, minute = map(int, local.split(":"))
    now = datetime(2025, 6, 3, hour, minute, tzinfo=SHANGHAI)
    assert TimeWindow(hours="08:00-17:30").contains(now) is inside


def test_daily_hours_read_in_the_window_timezone_whatever_now_is_expressed_in() -> None:
    instant = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)  # 09:00 Shanghai, 02:00 London (BST), 21:00 New York
    assert TimeWindow(hours="08:00-17:30").contains(instant)
    assert TimeWindow(hours="08:00-17:30").contains(instant.astimezone(timezone(timedelta(hours=-7))))
    assert not TimeWindow(hours="08:00-17:30", timezone="Europe/London").contains(instant)
    assert TimeWindow(hours="20:00-22:00", timezone="America/New_York").contains(instant)


def test_daily_hours_wrap_midnight_and_cover_whole_day() -> None:
    night = TimeWindow(hours="22:00-06:00")
    assert night.contains(datetime(2025, 6, 3, 23, 30, tzinfo=SHANGHAI))
    assert night.contains(datetime(2025, 6, 3, 5, 59, tzinfo=SHANGHAI))
    assert not night.contains(datetime(2025, 6, 3, 6, 0, tzinfo=SHANGHAI))
    assert TimeWindow(hours="00:00-24:00").contains(datetime(2025, 6, 3, 23, 59, tzinfo=SHANGHAI))


def test_hours_and_dates_combine() -> None:
    window = TimeWindow(start=datetime(2025, 6, 1, tzinfo=SHANGHAI), hours="08:00-12:00")
    assert window.contains(datetime(2025, 6, 3, 9, 0, tzinfo=SHANGHAI))
    assert not window.contains(datetime(2025, 6, 3, 13, 0, tzinfo=SHANGHAI))
    assert not window.contains(datetime(2025, 5, 30, 9, 0, tzinfo=SHANGHAI))


def test_match_requires_an_aware_now_and_a_known_input_kind() -> None:
    compiled = compile_rules([rule("soy", "豆浆")], 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        compiled.match("豆浆", "text", datetime(2025, 6, 3, 9, 0))
    with pytest.raises(ValueError, match="unknown input kind 'image'"):
        compiled.match("豆浆", "image", NOW)


# --------------------------------------------------------------------------------------------------
# Inputs: voice, click, subscribe


def test_voice_is_matched_like_text_by_default() -> None:
    m = compile_rules([rule("soy", "豆浆")], 1).match("豆浆能喝吗。", "voice", NOW)
    assert m is not None and m.input_kind == "voice"


def test_text_only_rule_ignores_voice() -> None:
    assert winner([rule("soy", "豆浆", inputs=frozenset({"text"}))], "豆浆", kind="voice") is None


def test_click_rule_fires_on_its_event_key_only() -> None:
    rules = [rule("menu-survey", "MENU_SURVEY", match="exact", inputs=frozenset({"click"}))]
    assert winner(rules, "MENU_SURVEY", kind="click") == "menu-survey"
    assert winner(rules, "MENU_SURVEY", kind="text") is None
    assert winner(rules, "MENU_SOY", kind="click") is None


def test_click_rule_with_text_input_fires_on_typed_text() -> None:
    rules = [rule("menu-survey", "MENU_SURVEY", match="exact", inputs=frozenset({"click", "text"}))]
    assert winner(rules, "menu_survey", kind="text") == "menu-survey"


def test_text_rules_ignore_clicks_and_subscribes() -> None:
    rules = [rule("survey", "问卷")]
    assert winner(rules, "问卷", kind="click") is None
    assert winner(rules, "问卷", kind="subscribe") is None


def test_subscribe_wildcard_matches_every_subscribe() -> None:
    for keywords in [(), ("*",)]:
        rules = [rule("greeting", *keywords, inputs=frozenset({"subscribe"}), answer=Answer("help"))]
        m = compile_rules(rules, 1).match("", "subscribe", NOW)
        assert m is not None and m.rule.id == "greeting" and m.keyword == "*" and m.span == (0, 0)
        assert winner(rules, "qrscene_clinic", kind="subscribe") == "greeting"
        assert winner(rules, "", kind="text") is None


def test_subscribe_scene_rule_beats_the_wildcard() -> None:
    rules = [
        rule("greeting", inputs=frozenset({"subscribe"}), answer=Answer("help")),
        rule("clinic", "clinic", match="exact", inputs=frozenset({"subscribe"})),
    ]
    assert winner(rules, "qrscene_clinic", kind="subscribe") == "clinic"
    assert winner(rules, "clinic", kind="subscribe") == "clinic"
    assert winner(rules, "qrscene_ward", kind="subscribe") == "greeting"
    assert winner(rules, "", kind="subscribe") == "greeting"
    # "*" ranks as the least specific mode, but priority still comes first.
    assert winner([replace(rules[0], priority=1), rules[1]], "qrscene_clinic", kind="subscribe") == "greeting"


def test_wildcard_respects_enabled_and_window() -> None:
    closed = TimeWindow(end=datetime(2025, 1, 1, tzinfo=UTC))
    rules = [
        rule("a-old", inputs=frozenset({"subscribe"}), window=closed, priority=9),
        rule("b-off", inputs=frozenset({"subscribe"}), enabled=False, priority=9),
        rule("c-on", inputs=frozenset({"subscribe"})),
    ]
    assert winner(rules, "", kind="subscribe") == "c-on"


# --------------------------------------------------------------------------------------------------
# Answers


def test_text_answer_is_chosen_by_an_injected_random() -> None:
    answer = Answer("text", texts=("甲", "乙", "丙", "丁"))
    picks = [answer.choose_text(random.Random(42)) for _ in range(3)]
    assert picks == [random.Random(42).choice(answer.texts)] * 3
    rng, expected = random.Random(1), random.Random(1)
    assert [answer.choose_text(rng) for _ in range(20)] == [expected.choice(answer.texts) for _ in range(20)]
    assert answer.choose_text(lambda texts: texts[-1]) == "丁"
    assert answer.choose_text() in answer.texts


def test_choose_text_needs_texts() -> None:
    with pytest.raises(ValueError, match="no texts"):
        Answer("survey").choose_text()


# --------------------------------------------------------------------------------------------------
# Parsing and validation


def test_parse_fills_defaults() -> None:
    r = parse_rule({"id": "survey", "name": "问卷", "keywords": ["问卷"], "answer": {"kind": "survey"}},
                   article_ids=ARTICLES)
    assert r == Rule(id="survey", name="问卷", keywords=("问卷",), match="contains", priority=0, enabled=True,
                     window=None, answer=Answer("survey"), inputs=frozenset({"text", "voice"}), urgent=False)


def invalid(data: Any, *, where: str = "rules[0]") -> str:
    """The RuleError message for one bad rule (as item 0 of a list)."""
    with pytest.raises(RuleError) as info:
        parse_rules([data], article_ids=ARTICLES)
    return str(info.value)


LONG_REGEX = "(?:" + "|".join(f"词{i:03d}" for i in range(40)) + ")"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"keywords": []}, "rules[0].keywords: must not be empty"),
        ({"keywords": "豆浆"}, "rules[0].keywords: must be a list of strings"),
        ({"keywords": ["豆浆", 3]}, "rules[0].keywords[1]: must be a string"),
        ({"keywords": ...}, "rules[0].keywords: required"),
        ({"keywords": ["豆浆", "！！"]}, "rules[0].keywords[1]: '！！' normalizes to an empty string"),
        ({"keywords": ["豆浆", " "]}, "rules[0].keywords[1]: ' ' normalizes to an empty string"),
        ({"keywords": ["问卷", "問卷！"]}, "rules[0].keywords[1]: same as keywords[0] after normalization"),
        ({"keywords": ["豆" * 65]}, "rules[0].keywords[0]: longer than 64 characters (65)"),
        ({"keywords": [f"词{i}" for i in range(1001)]}, "rules[0].keywords: too many keywords (1001 > 1000)"),
        ({"keywords": ["*"]}, "rules[0].keywords[0]: '*' is only allowed in rules whose inputs are [subscribe]"),
        ({"keywords": ["*", "x"], "inputs": ["subscribe"]}, "rules[0].keywords[0]: '*' must be the only keyword"),
        ({"match": "regex", "keywords": ["ok", "(肌酐"]}, "rules[0].keywords[1]: regex does not compile: "),
        ({"match": "regex", "keywords": ["x" * 201]}, "rules[0].keywords[0]: regex longer than 200 characters"),
        ({"match": "regex", "keywords": [LONG_REGEX * 2]}, "rules[0].keywords[0]: regex longer than 200"),
        ({"match": "regex", "keywords": ["x?"]}, "rules[0].keywords[0]: regex matches the empty string"),
        ({"match": "regex", "keywords": ["問卷"]}, "rules[0].keywords[0]: regex literal '問' never occurs"),
        ({"match": "regex", "keywords": ["FK506"]}, "rules[0].keywords[0]: regex literal 'F' never occurs"),
        ({"match": "fuzzy"}, "rules[0].match: unknown match mode 'fuzzy'"),
        ({"match": 1}, "rules[0].match: must be a string"),
        ({"inputs": ["text", "image"]}, "rules[0].inputs: unknown input kind 'image'"),
        ({"inputs": []}, "rules[0].inputs: must not be empty"),
        ({"id": "Soy Milk"}, "rules[0].id: 'Soy Milk' must match"),
        ({"id": "x" * 65}, "rules[0].id:"),
        ({"id": ...}, "rules[0].id: required"),
        ({"name": " "}, "rules[0].name: must not be empty"),
        ({"priority": "high"}, "rules[0].priority: must be an integer, got 'high'"),
        ({"priority": True}, "rules[0].priority: must be an integer, got True"),
        ({"enabled": "yes"}, "rules[0].enabled: must be true or false"),
        ({"urgent": 1}, "rules[0].urgent: must be true or false"),
        ({"keyword": ["豆浆"]}, "rules[0].keyword: unknown field"),
        ({"answer": ...}, "rules[0].answer: required"),
        ({"answer": "soy"}, "rules[0].answer: must be a mapping"),
        ({"answer": {"kind": "video"}}, "rules[0].answer.kind: unknown answer kind 'video'"),
        ({"answer": {"article_id": "soy"}}, "rules[0].answer.kind: required"),
        ({"answer": {"kind": "article", "article_id": "soy-2"}}, "rules[0].answer.article_id: unknown article 'soy-2'"),
        ({"answer": {"kind": "article"}}, "rules[0].answer.article_id: required when kind is 'article'"),
        ({"answer": {"kind": "survey", "article_id": "soy"}}, "rules[0].answer.article_id: only allowed when kind is"),
        ({"answer": {"kind": "article", "article_id": "soy", "texts": ["x"]}}, "rules[0].answer.texts: only allowed"),
        ({"answer": {"kind": "text"}}, "rules[0].answer.texts: must not be empty"),
        ({"answer": {"kind": "text", "texts": ["ok", "  "]}}, "rules[0].answer.texts[1]: must not be empty"),
        ({"answer": {"kind": "text", "texts": ["啊" * 683]}}, "rules[0].answer.texts[0]: 2049 bytes in UTF-8"),
        ({"answer": {"kind": "text", "texts": "hi"}}, "rules[0].answer.texts: must be a list of strings"),
        ({"answer": {"kind": "survey", "link": "x"}}, "rules[0].answer.link: unknown field"),
        ({"window": {"start": "2025-07-01T00:00:00+08:00", "end": "2025-06-01T00:00:00+08:00"}},
         "rules[0].window.end: must be after start"),
        ({"window": {"start": "2025-06-01T00:00:00+08:00", "end": "2025-06-01T00:00:00+08:00"}},
         "rules[0].window.end: must be after start"),
        ({"window": {"start": "2025-06-01T08:00:00"}}, "rules[0].window.start: must include a timezone"),
        ({"window": {"end": datetime(2025, 6, 1)}}, "rules[0].window.end: must include a timezone"),
        ({"window": {"end": date(2025, 6, 1)}}, "rules[0].window.end: must be a datetime with a timezone"),
        ({"window": {"start": "next monday"}}, "rules[0].window.start: not an ISO 8601 datetime"),
        ({"window": {"hours": "8:00-17:30"}}, "rules[0].window.hours: must look like '08:00-17:30'"),
        ({"window": {"hours": "08:00-25:00"}}, "rules[0].window.hours: must look like"),
        ({"window": {"hours": "08:00"}}, "rules[0].window.hours: must look like"),
        ({"window": {"hours": 8}}, "rules[0].window.hours: must be a string"),
        ({"window": {"hours": "08:00-08:00"}}, "rules[0].window.hours: start equals end"),
        ({"window": {"hours": "08:00-17:00", "timezone": "Mars/Base"}}, "rules[0].window.timezone: unknown timezone"),
        ({"window": {}}, "rules[0].window: set at least one of start, end, hours"),
        ({"window": {"days": "mon"}}, "rules[0].window.days: unknown field"),
        ({"window": "office hours"}, "rules[0].window: must be a mapping"),
    ],
)
def test_validation_errors_name_the_field(overrides: dict[str, Any], message: str) -> None:
    assert message in invalid(rule_dict(**overrides))


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+",
        "(a*)*",
        "(a|aa)+",
        r"(\w+\s?)*",
        "(ab|a)*c",
        "(?:x|x?y)+",
        r"(\d+)*$",
        "(.*a){20}",
        "((发烧)+)+",
        "(?:(?:a|b)|ab)+",
    ],
)
def test_regex_that_could_backtrack_catastrophically_is_refused(pattern: str) -> None:
    message = invalid(rule_dict(match="regex", keywords=[pattern]))
    assert "rules[0].keywords[0]: regex could backtrack catastrophically" in message


@pytest.mark.parametrize(
    "pattern",
    [r"肌酐\d+", r"(他克莫司|fk506)浓度", r"\d{2,3}/\d{2,3}", "(ab)+", "(发烧|发热)+", "(?i)FK506", r"^问卷$", "(a|b)+"],
)
def test_safe_regexes_are_accepted(pattern: str) -> None:
    assert parse_rules([rule_dict(match="regex", keywords=[pattern])], article_ids=ARTICLES)


def test_text_answer_of_exactly_2047_bytes_is_accepted() -> None:
    text = "a" + "啊" * 682
    assert len(text.encode()) == 2047
    parse_rule(rule_dict(answer={"kind": "text", "texts": [text]}), article_ids=ARTICLES)


def test_subscribe_only_rule_may_omit_keywords() -> None:
    r = parse_rule(rule_dict(keywords=[], inputs=["subscribe"], answer={"kind": "help"}), article_ids=ARTICLES)
    assert r.keywords == () and r.is_wildcard


def test_parse_rule_uses_where_and_lists_every_problem() -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(rule_dict(keywords=[], priority="x", answer={"kind": "article", "article_id": "nope"}),
                   where="import[4]", article_ids=ARTICLES)
    errors = info.value.errors
    assert "import[4].priority: must be an integer, got 'x'" in errors
    assert "import[4].answer.article_id: unknown article 'nope'" in errors
    assert str(info.value).startswith(f"{len(errors)} errors:")


def test_single_error_message_is_the_error_itself() -> None:
    with pytest.raises(RuleError) as info:
        parse_rules([rule_dict(keywords=[])], article_ids=ARTICLES)
    assert str(info.value) == "rules[0].keywords: must not be empty (only subscribe-only rules may omit keywords)"


def test_parse_rules_is_all_or_nothing() -> None:
    items = [rule_dict(id="ok"), rule_dict(id="bad-1", keywords=[]), "not a rule", rule_dict(id="ok")]
    with pytest.raises(RuleError) as info:
        parse_rules(items, article_ids=ARTICLES)
    errors = info.value.errors
    assert any(e.startswith("rules[1].keywords: must not be empty") for e in errors)
    assert "rules[2]: must be a mapping, got str" in errors
    assert "rules[3].id: duplicate id 'ok' (also rules[0])" in errors
    assert not any(e.startswith("rules[0]") for e in errors)


def test_parse_rules_needs_a_list() -> None:
    not_lists: list[Any] = ["rules", {"rules": []}]
    for items in not_lists:
        with pytest.raises(RuleError, match=re.escape("rules: must be a list of rules")):
            parse_rules(items, article_ids=ARTICLES)


def test_parse_rule_rejects_a_non_mapping() -> None:
    with pytest.raises(RuleError, match=re.escape("rule: must be a mapping, got list")):
        parse_rule([], article_ids=ARTICLES)  # type: ignore[arg-type]


def test_compile_rules_validates_rules_built_in_code() -> None:
    bad = [rule("x", "(", match="regex"), rule("x", "！"), rule("y", "豆浆", answer=Answer("text"))]
    with pytest.raises(RuleError) as info:
        compile_rules(bad, 1)
    errors = info.value.errors
    assert any(e.startswith("rules[0].keywords[0]: regex does not compile") for e in errors)
    assert "rules[1].keywords[0]: '！' normalizes to an empty string" in errors
    assert "rules[1].id: duplicate id 'x' (also rules[0])" in errors
    assert "rules[2].answer.texts: must not be empty when kind is 'text'" in errors


def test_validate_rules_checks_article_ids_only_when_given() -> None:
    rules = [rule("soy", "豆浆", answer=Answer("article", article_id="soy-2"))]
    assert validate_rules(rules) == []
    assert validate_rules(rules, article_ids=ARTICLES) == ["rules[0].answer.article_id: unknown article 'soy-2'"]


def test_compile_rejects_naive_window_datetimes_and_bad_hours() -> None:
    bad = [rule("a", "豆浆", window=TimeWindow(start=datetime(2025, 1, 1))),
           rule("b", "豆浆", window=TimeWindow(hours="9-5"))]
    with pytest.raises(RuleError) as info:
        compile_rules(bad, 1)
    assert "rules[0].window.start: must include a timezone, e.g. 2025-01-01T08:00:00+08:00" in info.value.errors
    assert any(e.startswith("rules[1].window.hours: must look like") for e in info.value.errors)


# --------------------------------------------------------------------------------------------------
# Round trip


FULL_EXAMPLE: list[dict[str, Any]] = [
    {
        "id": "urgent-fever",
        "name": "发烧",
        "keywords": ["发烧", "发热", "高烧"],
        "match": "contains",
        "priority": 100,
        "enabled": True,
        "answer": {"kind": "text", "texts": ["体温超过38℃请立即联系值班医生。", "发烧请尽快就医。"]},
        "inputs": ["text", "voice"],
        "urgent": True,
    },
    {
        "id": "soy",
        "name": "豆制品",
        "keywords": ["豆制品", "豆浆"],
        "match": "contains",
        "priority": 5,
        "enabled": True,
        "window": {
            "start": "2025-06-01T00:00:00+08:00",
            "end": "2026-06-01T00:00:00+08:00",
            "hours": "08:00-17:30",
            "timezone": "Asia/Shanghai",
        },
        "answer": {"kind": "article", "article_id": "soy"},
        "inputs": ["text", "voice", "click"],
        "urgent": False,
    },
    {
        "id": "creatinine",
        "name": "肌酐",
        "keywords": [r"肌酐\d+"],
        "match": "regex",
        "priority": 0,
        "enabled": False,
        "answer": {"kind": "article", "article_id": "diet"},
        "inputs": ["text"],
        "urgent": False,
    },
    {
        "id": "greeting",
        "name": "欢迎",
        "keywords": [],
        "match": "exact",
        "priority": 0,
        "enabled": True,
        "window": {"hours": "22:00-06:00", "timezone": "Europe/London"},
        "answer": {"kind": "help"},
        "inputs": ["subscribe"],
        "urgent": False,
    },
]


def test_round_trip_is_exact() -> None:
    rules = parse_rules(FULL_EXAMPLE, article_ids=ARTICLES)
    exported = [rule_to_dict(r) for r in rules]
    assert exported == FULL_EXAMPLE
    assert parse_rules(exported, article_ids=ARTICLES) == rules


def test_round_trip_through_yaml_and_json() -> None:
    rules = parse_rules(FULL_EXAMPLE, article_ids=ARTICLES)
    dumped = yaml.safe_dump([rule_to_dict(r) for r in rules], allow_unicode=True, sort_keys=False)
    assert parse_rules(yaml.safe_load(dumped), article_ids=ARTICLES) == rules
    dumped = json.dumps([rule_to_dict(r) for r in rules], ensure_ascii=False)
    assert parse_rules(json.loads(dumped), article_ids=ARTICLES) == rules


def test_yaml_timestamps_are_accepted() -> None:
    doc = yaml.safe_load(
        "id: soy\nname: 豆制品\nkeywords: [豆浆]\nanswer: {kind: survey}\n"
        "window: {start: 2025-06-01T00:00:00+08:00, end: 2025-07-01 00:00:00+08:00}\n"
    )
    assert isinstance(doc["window"]["start"], datetime)
    r = parse_rule(doc, article_ids=ARTICLES)
    assert r.window is not None and r.window.start == datetime(2025, 6, 1, tzinfo=SHANGHAI)
    assert parse_rule(rule_to_dict(r), article_ids=ARTICLES) == r


def test_rules_built_in_code_round_trip() -> None:
    r = rule("x", "豆浆", "牛奶", match="prefix", priority=-3, urgent=True, inputs=frozenset({"voice"}),
             window=TimeWindow(end=datetime(2030, 1, 1, tzinfo=UTC)), answer=Answer("text", texts=("a", "b")))
    assert parse_rule(rule_to_dict(r), article_ids=ARTICLES) == r


# --------------------------------------------------------------------------------------------------
# Topics


def test_topics_lists_typable_non_urgent_rules_by_priority() -> None:
    closed = TimeWindow(end=datetime(2025, 1, 1, tzinfo=UTC))
    rules = [
        rule("fever", "发烧", urgent=True),
        rule("soy", "豆制品", "豆浆", "豆腐", "豆奶", name="豆制品", answer=Answer("article", article_id="soy")),
        rule("stem", "干细胞", name="干细胞", priority=10, answer=Answer("article", article_id="stem-cells")),
        rule("survey", "问卷", name="问卷", match="exact"),
        rule("off", "关闭", enabled=False),
        rule("regex", r"肌酐\d+", match="regex"),
        rule("menu", "MENU_SOY", inputs=frozenset({"click"})),
        rule("greeting", inputs=frozenset({"subscribe"}), answer=Answer("help")),
        rule("topics", "帮助", answer=Answer("help")),
        rule("expired", "义诊", window=closed),
    ]
    compiled = compile_rules(rules, 1)
    assert compiled.topics(now=NOW) == [
        Topic("stem", "干细胞", ("干细胞",)),
        Topic("soy", "豆制品", ("豆制品", "豆浆", "豆腐")),
        Topic("survey", "问卷", ("问卷",)),
    ]
    assert [t.rule_id for t in compiled.topics()] == ["stem", "soy", "survey", "expired"]
    assert compiled.topics(max_keywords=1)[1].keywords == ("豆制品",)


# --------------------------------------------------------------------------------------------------
# Scale (correctness only: timing belongs to bench/bench_match.py)


@pytest.fixture(scope="module")
def big() -> tuple[CompiledRules, dict[str, str], list[Rule]]:
    """100,000 random keywords in 100 rules of 1,000, plus the real urgent and survey rules."""
    rng = random.Random(100_000)
    chars = common_chars()
    owner: dict[str, str] = {}
    rules = [rule("urgent-fever", "发烧", urgent=True), rule("survey", "问卷", match="exact")]
    for n in range(100):
        kws: list[str] = []
        while len(kws) < 1000:
            kw = "".join(rng.choices(chars, k=rng.randint(4, 6)))
            if kw not in owner and "发烧" not in kw and "问卷" not in kw:
                owner[kw] = f"topic-{n:03d}"
                kws.append(kw)
        rules.append(rule(f"topic-{n:03d}", *kws))
    return compile_rules(rules, 3), owner, rules


def test_100k_keywords_compile_and_match(big: tuple[CompiledRules, dict[str, str], list[Rule]]) -> None:
    compiled, owner, _ = big
    assert compiled.keyword_count == 100_002
    rng = random.Random(5)
    exact_hits = 0
    for kw in rng.sample(sorted(owner), 300):
        text = f"请问{kw}怎么办"
        m = compiled.match(text, "text", NOW)
        assert m is not None and m.rule.id == owner[m.keyword] and m.matched == normalize(m.keyword)
        everything = compiled.match_all(text, "text", NOW)
        assert everything[0] == m and owner[kw] in {x.rule.id for x in everything}
        exact_hits += m.keyword == kw and m.span == (2, 2 + len(kw))
    assert exact_hits >= 295  # another random keyword may overlap and be longer, rarely
    fever = compiled.match("我发烧了，" + next(iter(owner)), "text", NOW)
    assert fever is not None and fever.rule.id == "urgent-fever"
    survey = compiled.match("問卷！", "text", NOW)
    assert survey is not None and survey.rule.id == "survey"
    assert compiled.match("医生您好，我是去年三月在贵院做的手术，最近复查肌酐有点高", "text", NOW) is None


def test_100k_keywords_traditional_and_full_width_messages(
    big: tuple[CompiledRules, dict[str, str], list[Rule]],
) -> None:
    compiled, owner, _ = big
    to_traditional = {simplified: chr(cp) for cp, simplified in normalization._T2S.items() if cp < 0x10000}
    rng = random.Random(6)
    checked = 0
    for kw in rng.sample(sorted(owner), 2000):
        traditional = "".join(to_traditional.get(c, c) for c in kw)
        if traditional == kw:
            continue
        m = compiled.match(f"ＰＬＥＡＳＥ，{traditional}？", "text", NOW)
        assert m is not None and owner[m.keyword] == m.rule.id
        checked += 1
    assert checked > 100


def test_rules_are_replaceable_values() -> None:
    r = rule("soy", "豆浆")
    assert replace(r, priority=3).priority == 3
    with pytest.raises(AttributeError):
        r.priority = 3  # type: ignore[misc]


def test_repr_mentions_version_and_size() -> None:
    assert repr(compile_rules([rule("soy", "豆浆", "牛奶")], 9)) == "<CompiledRules v9: 1 rules, 2 keywords>"

