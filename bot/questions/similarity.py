"""How alike two followers' questions are: the form they are compared in, its features, the merge score.

The compared form is the normalised question (`bot.questions.desk.normalize_question`) with what does
not change the question folded away: a short table of synonyms and variants (移植术后 → 术后, 可以/能否
→ 能, 饮用 → 喝, 服用 → 吃, brand names → the generic drug), "A不A" (能不能 → 能), Chinese numerals
before a measure word (两次 → 2次), a leading 提问/问题, particles and politeness. Two forms score the
weighted Dice of their features: character bigrams (those of two "frame" characters, the wording most
questions share, weigh less) and the pinyin of each content character (so a homophone typo, 豆桨 for
豆浆, still counts). The score is scaled by `SUBSTITUTED` when each form has content the other lacks
(柚子 vs 橘子: likely another question), and is 0 when they are opposed: one negates what the other
asks (不, 没 ...), they sit on two sides of a contrast (高/低, 饭前/饭后 ...), name other numbers, or ask
for another kind of answer (多久 vs 怎么办). Measured on tests/data/question_pairs.tsv (bench/grouping.py).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

# The word on the left stands for each variant on its right (longest variants are folded first).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "术后": ("肾移植病人", "肾移植患者", "移植病人", "移植患者", "移植受者", "肾移植术后", "肾移植手术后",
           "肾移植后", "肾移植以后", "肾移植之后", "肾脏移植后", "移植术后", "移植手术后", "移植以后", "移植之后",
           "移植后", "做完肾移植", "做完移植", "手术以后", "手术之后", "手术后"),
    "移植": ("肾移植", "肾脏移植"),
    "能": ("可以", "能够", "能否", "可否", "是否可以", "是否能"),
    "要": ("需要", "是否需要", "必须要", "得要"),
    "会": ("是否会",),
    "是": ("是否",),
    "喝": ("饮用",),
    "喝酒": ("饮酒",),
    "吃": ("服用", "食用", "口服"),
    "吃药": ("服药", "用药"),
    "多少": ("几杯", "多大量", "多少量"),
    "合适": ("比较合适", "比较好", "最好", "适合", "适宜", "为宜", "较好"),
    "怎么办": ("该怎么办", "怎么处理", "如何处理", "该如何处理", "怎么解决", "如何解决", "咋办", "怎么弄",
            "怎么治疗", "如何治疗", "怎么治"),
    "怎么": ("如何", "怎样", "咋"),
    "为什么": ("是什么原因", "什么原因", "啥原因", "怎么回事", "为啥", "为何"),
    "什么": ("啥", "哪些", "哪个", "哪种"),
    "症状": ("表现",),
    "尿": ("小便",),
    "晚上": ("夜里", "夜间"),
    "前": ("之前", "以前"),
    "后": ("之后", "以后"),
    "引起": ("导致", "造成"),
    "多久": ("多长时间", "多少时间", "多久时间"),
    "什么时候": ("什么时间", "几点", "何时"),
    "高": ("偏高", "过高", "升高", "增高", "太高", "很高"),
    "低": ("偏低", "过低", "太低", "很低"),
    "复查": ("复诊", "随访"),
    "怀孕": ("怀宝宝", "生孩子", "生小孩", "生宝宝", "要孩子", "要小孩", "生育"),
    "运动": ("锻炼", "体育锻炼"),
    "打": ("接种", "注射"),
    "漏吃": ("漏服", "忘吃", "忘记吃", "忘了吃", "漏掉"),
    "饭前": ("餐前",),
    "饭后": ("餐后",),
    "抽烟": ("吸烟",),
    "旅行": ("旅游", "出游"),
    "坐": ("乘坐",),
    "坐飞机": ("乘飞机", "搭飞机"),
    "发烧": ("发热", "发高烧"),
    "柚子": ("西柚", "葡萄柚"),
    "每天": ("每日", "一天", "天天"),
    "副作用": ("不良反应", "副反应"),
    "腹泻": ("拉肚子", "拉稀"),
    "疼": ("疼痛", "痛"),
    "伤口": ("刀口", "切口"),
    "同房": ("性生活",),
    "严重": ("要紧",),
    "带": ("携带",),
    "终身": ("一辈子", "终生"),
    "脱发": ("掉头发", "掉发"),
    "失眠": ("睡不着", "睡不好"),
    "发胖": ("长胖", "变胖", "体重增加"),
    "磁共振": ("核磁共振", "核磁"),
    "药": ("药物",),
    "调": ("调整",),
    "注意": ("注意事项", "要注意什么", "注意什么"),
    "治好": ("治愈", "逆转"),
    "长期": ("一直", "长时间", "经常"),
    "报告": ("化验单", "检查结果"),
    "看": ("看懂",),
    "一起": ("同时",),
    # Drugs by brand or common misspelling, and abbreviations, as the generic name.
    "他克莫司": ("普乐可复", "fk506", "他克莫斯"),
    "环孢素": ("环孢霉素", "新山地明", "csa"),
    "麦考酚": ("吗替麦考酚酯", "麦考酚酯", "骁悉", "霉酚酸酯", "mmf"),
    "激素": ("醋酸泼尼松", "泼尼松", "强的松", "甲泼尼龙", "美卓乐"),
    "cmv": ("巨细胞病毒",),
}
# Said around a question, not part of it: politeness, "I want to ask", particles.
_FILLERS = ("医生您好", "医生你好", "大夫您好", "大夫你好", "医生", "大夫", "请问", "您好", "你好", "谢谢",
            "麻烦", "想问一下", "想问下", "问一下", "问下", "我想问", "想问", "咨询一下", "一下", "一点", "现在",
            "目前", "一般", "这个", "那个", "着",
            "的", "了", "吗", "呢", "啊", "呀", "吧", "哦", "嘛", "啦", "哈")
_LEADING = re.compile("^(?:提问|问题|问)(?=..)")
_A_NOT_A = re.compile(r"(.)[不没]\1")  # 能不能 → 能, 有没有 → 有, 可不可以 → 可以
_NEGATIONS = "不没别勿未"
_NUMBER = re.compile(r"\d+")
# Characters of the wording most questions share (when, how much, can I eat ...), not of what is asked about.
_FRAME = frozenset("术后移植肾能吃喝要会是有多少久什么怎办为用做打去在和对与跟还等时候每天合适正常我病人患者影响得里"
                   "需一次个就都该到让给被把这那种样点下前可以吗呢了的")
# What kind of answer a question wants. Two questions asking for different kinds (多久 vs 怎么办) are two.
_ASKS = {"什么时候": "when", "多久": "when", "为什么": "why", "怎么办": "remedy", "多少": "amount", "几": "amount",
         "怎么": "how", "哪里": "where", "哪儿": "where", "什么": "what"}
_ASK = re.compile("|".join(sorted(_ASKS, key=len, reverse=True)))
FRAME_WEIGHT = 0.5
SOUND_WEIGHT = 1.5
SUBSTITUTED = 0.4  # a substitution's score is scaled by this: it merges only when very alike
# Pairs of opposites: questions on opposite sides of one are different questions.
_CONTRASTS = (("高", "低"), ("饭前", "饭后"), ("早上", "晚上"), ("加量", "减量"), ("增多", "减少"),
              ("急性", "慢性"), ("男", "女"), ("西药", "中药"), ("术前", "术后"))
_BEFORE_AFTER = re.compile("术后|前后")  # 术后 is in most questions: it is not the 前/后 a question turns on


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))


# Each word also stands for itself, so that a shorter variant inside it (肾移植 in 肾移植后) is not folded.
_TO: dict[str, str] = {**{f: "" for f in _FILLERS}, **{word: word for word in _SYNONYMS},
                       **{variant: word for word, variants in _SYNONYMS.items() for variant in variants}}
# Fillers are matched after the synonyms so that 吗替麦考酚酯 is folded before its 吗 could be dropped.
_FOLD = _alternation(v for v in _TO if _TO[v])
_DROP = _alternation(v for v in _TO if not _TO[v])


_NUMERAL = re.compile("([一二两三四五六七八九十]+)(?=[次年个天周月粒片杯岁])")  # 两次 → 2次, 第三年 → 第3年
_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _number(numeral: str) -> str:
    """A Chinese numeral up to 99 as digits (十二 → 12, 二十 → 20); others as they are."""
    tens, _, ones = numeral.partition("十")
    if "十" not in numeral:
        return str(_DIGITS[numeral]) if len(numeral) == 1 else numeral
    if len(tens) > 1 or len(ones) > 1:
        return numeral
    return str(_DIGITS.get(tens, 1) * 10 + _DIGITS.get(ones, 0))


def compared_form(norm: str) -> str:
    """The form questions are compared in (see the module docstring); `norm` is already normalised."""
    form = _A_NOT_A.sub(r"\1", _LEADING.sub("", norm))
    form = _DROP.sub("", _FOLD.sub(lambda m: _TO[m.group()], form))
    form = _NUMERAL.sub(lambda m: _number(m.group(1)), form)
    return form or norm


@functools.cache
def _readings() -> dict[str, str]:
    """Each Chinese character's first reading in pinyin without tones, from pypinyin's table (~0.1 s, ~10 MB)."""
    spec = importlib.util.find_spec("pypinyin")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            table = json.loads((Path(folder) / "pinyin_dict.json").read_bytes())
        except (OSError, ValueError):
            continue
        out = {}
        for code, readings in table.items():
            first = readings.split(",", 1)[0]
            out[chr(int(code))] = "".join(c for c in unicodedata.normalize("NFD", first) if c.isascii())
        return out
    raise RuntimeError("pypinyin's pinyin_dict.json is missing: pip install -r requirements.txt")


class Features(dict[str, float]):
    """Feature → weight, with the weights' total kept (it is needed for every comparison)."""

    total: float
    content: frozenset[str]  # the sounds of its content characters (digits left out: numbers are guarded apart)

    def __init__(self, grams: dict[str, float]) -> None:
        super().__init__(grams)
        self.total = sum(grams.values())
        self.content = frozenset(k for k in grams if k[0] == "'" and not k[1:].isdigit())


def features(form: str) -> Features:
    """Weighted features of a compared form: its character bigrams and the sounds of its content characters.

    A bigram of two frame characters (术后, 能吃, 怎么 ...) weighs `FRAME_WEIGHT`: such wording is shared by
    most questions, so two questions that differ only in what they ask about must not look alike.
    """
    grams: dict[str, float] = {}
    frame = _FRAME
    for i in range(len(form) - 1):
        gram = form[i:i + 2]
        grams[gram] = FRAME_WEIGHT if gram[0] in frame and gram[1] in frame else 1.0
    readings = _readings()
    for ch in form:
        if ch not in frame:
            grams["'" + readings.get(ch, ch)] = SOUND_WEIGHT  # by sound: a homophone typed by mistake still counts
    return Features(grams or {form: 1.0})


def substituted(fa: Features, fb: Features) -> bool:
    """Whether each form has content the other lacks (柚子 where the other has 橘子), rather than one adding to the
    other: then only a higher score merges them."""
    return bool(fa.content - fb.content) and bool(fb.content - fa.content)


def _negations(form: str) -> int:
    return sum(form.count(c) for c in _NEGATIONS)


def _opposite(a: str, b: str, x: str, y: str) -> bool:
    return (x in a and y not in a and y in b and x not in b) or (y in a and x not in a and x in b and y not in b)


def opposed(a: str, b: str) -> bool:
    """Whether one compared form negates, contrasts or numbers differently what the other asks, or asks for
    another kind of answer (多久 vs 怎么办): then they are never merged."""
    if _negations(a) != _negations(b) or any(_opposite(a, b, x, y) for x, y in _CONTRASTS):
        return True
    asks_a, asks_b = {_ASKS[w] for w in _ASK.findall(a)}, {_ASKS[w] for w in _ASK.findall(b)}
    if asks_a and asks_b and not asks_a & asks_b:
        return True
    if _opposite(_BEFORE_AFTER.sub("", a), _BEFORE_AFTER.sub("", b), "前", "后"):
        return True
    na, nb = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    return bool(na) and bool(nb) and na != nb


def dice(a: Features, b: Features) -> float:
    """Weighted Dice coefficient of two feature sets."""
    shared = sum(min(a[k], b[k]) for k in a.keys() & b.keys())
    return 2 * shared / (a.total + b.total or 1)


def similarity(a: str, b: str, fa: Features, fb: Features, at_least: float = 0.0) -> float:
    """How alike two compared forms (with their features) are, 0..1: Dice, scaled down when content was
    substituted; 0 when the forms are opposed, and 0 when below `at_least` (the guards are then not run)."""
    value = dice(fa, fb)
    if value < at_least:
        return 0.0
    if substituted(fa, fb):
        value *= SUBSTITUTED
        if value < at_least:
            return 0.0
    return 0.0 if opposed(a, b) else value
