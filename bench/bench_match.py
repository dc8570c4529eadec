"""Benchmark bot.rules: compile time and per-message match cost at 10, 1,000 and 100,000 keywords.

Run from the project root: `.venv/bin/python bench/bench_match.py [--sizes 10,1000,100000] [--runs 7]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bot.rules import Answer, CompiledRules, MatchMode, Rule, TimeWindow, compile_rules, normalize

NOW = datetime(2025, 6, 3, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai: inside office-hours windows
SEED = 20250603

# The department's real topics: 10 keywords, urgent ones first.
REAL_RULES = [
    Rule(id="urgent-fever", name="发烧", keywords=("发烧",), urgent=True, priority=1,
         answer=Answer("text", texts=("体温超过38℃请立即联系值班医生。",))),
    Rule(id="urgent-urine", name="尿少", keywords=("尿少",), urgent=True,
         answer=Answer("text", texts=("尿量明显减少请尽快来院。",))),
    Rule(id="urgent-graft-pain", name="移植肾疼痛", keywords=("移植肾疼痛",), urgent=True,
         answer=Answer("text", texts=("移植肾区疼痛请立即就诊。",))),
    Rule(id="urgent-missed-dose", name="漏服", keywords=("漏服",), urgent=True,
         answer=Answer("text", texts=("漏服免疫抑制剂请按说明补服并联系医生。",))),
    Rule(id="stem-cells", name="干细胞", keywords=("干细胞",), priority=10,
         answer=Answer("article", article_id="stem-cells")),
    Rule(id="tolerance", name="免疫耐受", keywords=("免疫耐受",), priority=10,
         answer=Answer("article", article_id="tolerance")),
    Rule(id="soy", name="豆制品", keywords=("豆制品",), priority=5, answer=Answer("article", article_id="soy")),
    Rule(id="survey", name="问卷", keywords=("问卷",), match="exact", answer=Answer("survey")),
    Rule(id="drug-level", name="血药浓度", keywords=(r"(他克莫司|fk506)浓度\d*",), match="regex",
         answer=Answer("article", article_id="drug-level")),
    Rule(id="menu-survey", name="菜单问卷", keywords=("MENU_SURVEY",), match="exact",
         inputs=frozenset({"click"}), answer=Answer("survey")),
    Rule(id="subscribe-topics", name="欢迎", keywords=(), inputs=frozenset({"subscribe"}), answer=Answer("help")),
]
REAL_KEYWORDS = sum(len(r.keywords) for r in REAL_RULES)

# Patient questions without any keyword (30-60 characters).
LONG_QUESTIONS = [
    "医生您好，我是去年三月在贵院做的手术，最近复查的时候发现肌酐有点波动，想咨询一下平时需要注意什么",
    "请问术后第二年还需要每个月都回医院抽血复查吗？我住得比较远，来回一趟要大半天时间",
    "我妈妈今年六十二岁，透析已经四年了，想了解一下现在排队等待的流程大概是怎样的，需要准备哪些材料",
    "最近天气转凉，想问一下术后病人可以正常接种流感疫苗吗，打之前需不需要先停药或者调整剂量",
    "出院的时候护士说要控制饮食，但是我记不太清楚了，水果里面哪些可以吃哪些最好不要吃呢",
    "你好，我想预约下周三上午的门诊，请问是在网上挂号还是直接到医院窗口挂号比较方便一些",
    "术后三个月了伤口偶尔还会有点痒，没有红肿也没有渗液，这种情况正常吗，需要来医院看看吗",
    "请问医保异地报销需要开什么证明，住院的费用能不能直接在你们医院结算，谢谢您的耐心解答",
]
SHORT_HITS = ["发烧", "问卷", "干细胞？", "豆制品能吃吗", "漏服了怎么办", "尿少正常吗", "免疫耐受是什么"]
TRADITIONAL = ["我發燒了怎麼辦", "請問問卷在哪裡填寫", "移植腎疼痛需要馬上去醫院嗎", "幹細胞治療有用嗎",
               "術後飲食要注意什麼呢？醫生說要少吃鹽，那醬油和味精也要控制嗎"]
FULL_WIDTH = ["问卷！！", "ＦＫ５０６浓度８.５正常吗", "ＳＯＳ　我发烧了", "　问卷　", "ＱＵＥＳＴＩＯＮ：复查时间"]


def common_chars() -> list[str]:
    """GB2312 level-1 hanzi: the 3,755 most common characters."""
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def make_rules(total: int, rng: random.Random, chars: Sequence[str]) -> list[Rule]:
    """The real rules plus random topics up to `total` keywords, at most 1,000 per rule."""
    rules = list(REAL_RULES)
    taken = {normalize(k) for r in REAL_RULES for k in r.keywords}
    remaining, n = total - REAL_KEYWORDS, 0
    while remaining > 0:
        size = min(remaining, 1000)  # the per-rule limit
        kws: list[str] = []
        while len(kws) < size:
            kw = "".join(rng.choices(chars, k=rng.randint(2, 6)))
            if kw not in taken:
                taken.add(kw)
                kws.append(kw)
        modes: list[MatchMode] = ["contains", "exact", "prefix"]
        mode = rng.choices(modes, weights=[8, 1, 1])[0]
        window = TimeWindow(hours="08:00-17:30") if n % 10 == 3 else None
        rules.append(Rule(id=f"topic-{n:04d}", name=f"话题{n}", keywords=tuple(kws), match=mode,
                          priority=rng.randint(0, 50), window=window,
                          answer=Answer("article", article_id=f"a{n}")))
        remaining -= size
        n += 1
    return rules


def make_messages(rules: Sequence[Rule], rng: random.Random) -> dict[str, list[str]]:
    """Message mix by category; 'generated hit' embeds a random keyword of the generated rules."""
    generated = [kw for r in rules if r.id.startswith("topic-") for kw in r.keywords]
    hits = [f"请问{kw}的问题" if i % 2 else kw for i, kw in enumerate(rng.sample(generated, min(40, len(generated))))]
    return {
        "short hit": SHORT_HITS * 3,
        "long no-hit": LONG_QUESTIONS * 3,
        "traditional": TRADITIONAL * 3,
        "full-width": FULL_WIDTH * 3,
        "generated hit": hits,
    }


def per_message_us(fn: Callable[[str], object], messages: Sequence[str], runs: int) -> float:
    """Median over `runs` of the mean cost of fn(message), in microseconds."""
    loops = max(1, 20_000 // len(messages))
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(loops):
            for m in messages:
                fn(m)
        samples.append((time.perf_counter() - t) / (loops * len(messages)) * 1e6)
    return statistics.median(samples)


def check(compiled: CompiledRules) -> None:
    """Refuse to time a matcher that answers wrongly."""
    expect = {"我发烧了想问干细胞": "urgent-fever", "問卷！": "survey", "ＦＫ５０６浓度８": "drug-level"}
    for text, rule_id in expect.items():
        found = [m.rule.id for m in compiled.match_all(text, "text", NOW)]
        m = compiled.match(text, "text", NOW)
        # A random topic may legitimately outrank the regex rule; it must still match.
        if rule_id not in found or m is None or m.rule.id != found[0]:
            raise SystemExit(f"wrong match for {text!r}: {m}")
    if (m := compiled.match("我发烧了想问干细胞", "text", NOW)) is None or m.rule.id != "urgent-fever":
        raise SystemExit(f"urgent rule did not win: {m}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,1000,100000", help="keyword counts, comma-separated")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median reported)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(SEED)
    chars = common_chars()

    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"cpu_count={os.cpu_count()}, Python {platform.python_version()}")
    print(f"messages: categories below, 5-60 characters; now={NOW.isoformat()}; median of {args.runs} runs\n")

    categories = list(make_messages(REAL_RULES, rng))
    header = f"{'keywords':>9} {'rules':>6} {'compile s':>10} {'all µs/msg':>11} " + " ".join(
        f"{c:>13}" for c in categories
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        rules = make_rules(size, rng, chars)
        compile_times = []
        for _ in range(3 if size <= 10_000 else 1):
            t = time.perf_counter()
            compiled = compile_rules(rules, version=1)
            compile_times.append(time.perf_counter() - t)
        check(compiled)
        mix = make_messages(rules, rng)

        def match(text: str, compiled: CompiledRules = compiled) -> object:
            return compiled.match(text, "text", NOW)

        everything = [m for msgs in mix.values() for m in msgs]
        cells = [f"{per_message_us(match, msgs, args.runs):>13.2f}" if msgs else f"{'-':>13}" for msgs in mix.values()]
        print(f"{compiled.keyword_count:>9,} {len(rules):>6} {statistics.median(compile_times):>10.3f} "
              f"{per_message_us(match, everything, args.runs):>11.2f} " + " ".join(cells))

    # The shipped config.yaml: its seed rules, urgent ones as regexes, on typical messages.
    from bot.config import load_config

    seed = compile_rules(load_config(Path(__file__).resolve().parent.parent / "config.yaml", env={}).seed_rules, 1)
    typical = ["问卷", "干细胞", "豆浆能喝吗", "请问移植后可以吃豆腐和豆浆吗，每天吃多少合适？",
               "我父亲做了肾移植，最近总觉得乏力，这和免疫抑制剂有关系吗", "帮助", "发烧38度5", "药忘吃了怎么办"]
    cost = per_message_us(lambda s: seed.match(s, "text", NOW), typical, args.runs)
    print(f"\nsample config.yaml ({len(seed.rules)} rules, {seed.keyword_count} keywords incl. regexes): "
          f"{cost:.2f} µs/msg on typical messages")

    everything = [m for msgs in make_messages(REAL_RULES, rng).values() for m in msgs]
    print(f"normalize() alone: {per_message_us(normalize, everything, args.runs):.2f} µs/msg", end="")
    try:
        import zhconv  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        print()
        return
    with warnings.catch_warnings():  # zhconv leaves its dictionary file open on first use
        warnings.simplefilter("ignore", ResourceWarning)
        zhconv.convert("發", "zh-hans")
    cost = per_message_us(lambda s: zhconv.convert(s, "zh-hans"), everything, args.runs)
    print(f"; zhconv.convert(s, 'zh-hans') alone: {cost:.2f} µs/msg (why normalize uses a char table)")


if __name__ == "__main__":
    main()
