"""Followers' privacy: pseudonymous ids instead of openids, and personal data scrubbed from what is published."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass


class Pseudonymizer:
    """Keyed HMAC of an openid: stable for one secret key, meaningless without it."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"wxbot-pseudonym\x00" + secret_key.encode("utf-8")).digest()
        self._last = ("", "")  # one message asks for its sender's pseudonym several times (claim, handlers)

    def __call__(self, openid: str) -> str:
        last = self._last  # read once: another thread may replace it (a whole tuple, never half of one)
        if last[0] == openid and openid:
            return last[1]
        value = "u_" + hmac.new(self._key, openid.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
        self._last = (openid, value)
        return value


# What may stand between the groups of a typed number (`~`): spaces, hyphens and dashes of every width, dots
# ("138.1234.5678", and "。" from a Chinese input method). Full-width forms are folded before matching.
_SEP_CHARS = r" \t\u00a0.。\u2010-\u2015\u2212\ufe63\-"
# Right after a label ("手机", "身份证") also commas, slashes, middle dots and underscores (`≈`, at least one):
# "手机138，1234，5678". Without a label these separate lists of values ("尿量 150，1200，1300").
_LABEL_SEP_CHARS = _SEP_CHARS + r",，、/／·\u2022\u30fb_"
_MARKERS = {
    "~": f"[{_SEP_CHARS}]{{0,3}}",
    "≈": f"(?:[{_LABEL_SEP_CHARS}]{{1,3}})",
    "<area>": "(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])",  # province: an ID's first two digits
    "<year>": r"(?:19|20)\d\d",
    "<mm>": "(?:0[1-9]|1[0-2])",
    "<dd>": r"(?:0[1-9]|[12]\d|3[01])",
    "<is>": r"(?:\s*(?:是|为|[:：]))?\s*",  # between a label and its value: "电话是 ", "护照号码："
    # <alone>…</alone>: not next to a value of four digits or fewer across spaces, as in a list of lab values
    # ("尿量 1205 0950 2300 1200 ml"); a long number next to it is fine ("13812345678 6222 0212 3456 7890").
    "<alone>": r"(?:(?<=\d{5}[ \t\u00a0])|(?<=\d{5}[ \t\u00a0]{2})|(?<!\d[ \t\u00a0])(?<!\d[ \t\u00a0]{2}))",
    "</alone>": r"(?![ \t\u00a0]{1,3}\d{1,4}(?!\d))",
}
_CARD = "[卡号已隐去]"
_Replacement = str | Callable[[re.Match[str]], str | None]


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A verbose pattern with the `_MARKERS` above expanded."""
    for marker, expansion in _MARKERS.items():
        pattern = pattern.replace(marker, expansion)
    return re.compile(pattern, re.VERBOSE | flags)


def _luhn(digits: str) -> bool:
    """The checksum of bank card numbers."""
    return sum(d if i % 2 == 0 else 2 * d - 9 * (d > 4) for i, d in enumerate(map(int, reversed(digits)))) % 10 == 0


_CARD_LABEL = _rx(r"卡(?:号码?)? <is> $")  # "银行卡", "信用卡号：", "卡号是"…
_CARD_PREFIX = re.compile(r"4|5[1-5]|35(?:2[89]|[3-8]\d)|6")  # Visa, Mastercard, JCB, UnionPay and Discover


def _card(match: re.Match[str]) -> str | None:
    """A card number typed whole, or in fours after a card label or with a card's prefix and checksum."""
    number = match[0]
    if number.isdigit() or _CARD_LABEL.search(match.string, max(0, match.start() - 12), match.start()):
        return _CARD
    # In fours but unlabeled: maybe lab values ("尿量 2350 2420 3180 2900"); 1 in 10 such series passes the
    # checksum, so a card's prefix is needed too. A UnionPay "62" needs no checksum: a mistyped card is hidden.
    digits = "".join(c for c in number if c.isdigit())
    if _CARD_PREFIX.match(digits) and (digits.startswith("62") or _luhn(digits) or _luhn(digits[:16])):
        return _CARD  # digits[:16]: in case a short number followed the card
    return None


def _labeled_phone(match: re.Match[str]) -> str | None:
    """Seven digits or more after "电话", "手机"… are a phone number; fewer ("打电话 120，110") are not."""
    return match[1] + "[电话已隐去]" if sum(c.isdigit() for c in match[0]) >= 7 else None


_RECENT_DATE = _rx(r"(?:19[5-9]|20[0-4])\d <mm><dd>")


def _passport(match: re.Match[str]) -> str | None:
    """E/G and 8 digits unless the digits are a date, 1950-2049 ("E20240312"), or round ("E10000000")."""
    digits = match[0][1:]
    if digits.isdigit() and (_RECENT_DATE.fullmatch(digits) or len(set(digits)) < 3):
        return None
    return "[证件号已隐去]"


# A phone number's extension goes with it: "0571-87654321转8021", "… ext. 123".
_EXT = r"(?: [ \t]* (?:转|分机号?|[Ee][Xx][Tt]\.?|[xX]) [ \t]* \d{1,6} )?"
# Spaced groups after a measurement or before a unit are lab values ("肌酐 135 1200 1300", "… 1300 ml").
_MEASURED = re.compile(r"""(?:尿量|肌酐|尿素氮?|尿酸|尿蛋白|蛋白|血压|血糖|血钾|血钠|浓度|他克莫司|环孢素|FK506|CsA
                            |体重|心率|白细胞|红细胞|血红蛋白|血小板|GFR|分别|依次|记录)
                           [\s:：=,，]* (?:是|为|约|在|有)? [\s:：=,，]* $""", re.VERBOSE | re.IGNORECASE)
_UNIT_AFTER = re.compile(r"[ \t]*(?:ml|mg|ng|umol|μmol|µmol|mmol|cc|g/|毫升|毫克|次)", re.IGNORECASE)


def _spaced_mobile(match: re.Match[str]) -> str | None:
    """A mobile typed in groups without a label, unless it reads as three lab values."""
    text, start = match.string, match.start()
    if _MEASURED.search(text, max(0, start - 12), start) or _UNIT_AFTER.match(text, match.end()):
        return None
    return "[电话已隐去]"


# Addresses: province, city, district, town, then what finds a door, a road and its number or a compound with
# building, unit and room numbers ("XX小区5栋2单元301"), or both; Shanghai's lanes come between a road and a
# house number ("张江路1000弄12号"). An address starts after a word like 在/住/是 or a non-Chinese character,
# and place names never contain these words, so "我住在" stays (but for the 家 of 石家庄, 张家口, 张家界, 张家港).
_ADDR_STOP = "在住址是到从于家我你他她的和"
_PLACE = rf"(?:(?![{_ADDR_STOP}])[\u4e00-\u9fffA-Za-z]|家(?=[庄口界港]))"
_ADDR_NUM = r"(?:\d{1,5}|[一二三四五六七八九十]{1,3})"
_ADDR_DOOR = rf"(?: {_ADDR_NUM} (?:号楼|栋|幢|座|单元|楼|层|室|号|户) | [-－] \d{{1,5}} )"
_ADDRESS = _rx(rf"""(?: (?<=[{_ADDR_STOP}]) | (?<![\u4e00-\u9fffA-Za-z]) )
    (?P<admin> (?: {_PLACE}{{2,7}}? (?:省|自治区) )? (?: {_PLACE}{{2,7}}? 市 )? (?: {_PLACE}{{1,7}}? (?:区|县|旗) )?
               (?: {_PLACE}{{1,7}}? (?:镇|乡|街道) )? )
    (?: (?P<road> {_PLACE}{{1,10}}? (?:大道|大街|路|街|巷|弄|胡同) (?:\d{{1,5}}[弄巷])?
                  {_ADDR_NUM} (?:[-－]\d{{1,5}})? 号 院? )
        (?: {_PLACE}{{1,10}}? (?:小区|花园|公寓|大厦|新村|家园|社区|广场|苑|村|园|城) )? {_ADDR_DOOR}*
      | {_PLACE}{{1,10}}? (?:小区|花园|公寓|大厦|新村|家园|社区|广场|苑|村|园|城) {_ADDR_DOOR}+ )
    (?: \d{{1,5}} 室? )?""")
_WEAK = "\ue000"  # put before a placeholder found by a weak cue; scrub_report() removes it and notes the span


def _address(match: re.Match[str]) -> str:
    """A whole address; one with neither an administrative part nor a road number is a weak guess."""
    return ("" if match["admin"] or match["road"] else _WEAK) + "[地址已隐去]"


# Names: a common surname (compound ones first) and one or two characters that can be part of a given name;
# a longer run of such characters is a word, not a name ("我是江苏南京人"). A third character may be one that
# usually ends a word (志刚, 浩然) if the name ends right there, before punctuation, a space or a digit.
_COMPOUND_SURNAME_WORDS = """欧阳 上官 司马 诸葛 东方 皇甫 尉迟 公孙 慕容 令狐 长孙 宇文 司徒 夏侯 轩辕 端木
    西门 南宫 独孤 呼延 百里 东郭 闻人 澹台 万俟 申屠 太史 钟离 宗政 濮阳 公羊 赫连 第五 拓跋 淳于 单于
    左丘 东门 羊舌 梁丘 乐正 公冶 仲孙
    巫马 公西 漆雕 司空 司寇 亓官 段干"""
_COMPOUND_SURNAMES = _COMPOUND_SURNAME_WORDS.split()
# The commonest single surnames, less those that are mostly function words after "我是", "患者"… (和, 都, 于, 向,
# 时, 来, 全, 相, 应, 查, 管, 从, 公, 但, 由, 干).
_SURNAMES = ("王李张刘陈杨黄赵周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许邓冯韩曹曾彭萧肖蔡潘田董袁叶蒋杜苏魏程吕丁沈任"
             "姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎闫薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严赖覃洪武"
             "莫孔汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童"
             "凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农司卓古吉缪简车项连芦麦"
             "褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池麻"
             "苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖"
             "练廉禹井祖漆巴丰支卿国狄平计索宣晋初门云容敬扈晁芮普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿鲜印"
             "逯隆茹诸战慕危玉银亢嵇哈湛宾戎勾茅利呼居揭尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭")
# Characters that end a name: function words, time words, verbs, body and hospital words. Names with them exist,
# but after "我是", "患者", "妈妈" these are far more often the rest of the sentence ("我妈妈今年", "患者术后").
_NOT_NAME = ("的了是在有和与及或也都就还又再才很太更最不没无未别非说讲问想要会能可该得着过把被让给跟同从对向往于等这"
             "那哪谁什么怎吗呢吧啊呀啦哦嗯您你我他她它们每天年月日号时分秒次岁周今昨前后上下中里外内去来到回出进起开做"
             "吃喝用服打看查住转移植肾肝心肺血尿糖压病症药术医院科室患者家属男女人口个些点多少几十百千万零老师子生已经"
             "现刚正将需但而因为所以如果虽然并且请谢麻烦好先士")
_NAME_CHAR = rf"(?:(?![{_NOT_NAME}])[\u4e00-\u9fff])"
_NAME = rf"""(?P<name> (?:{'|'.join(_COMPOUND_SURNAMES)}|[{_SURNAMES}])
                       (?: {_NAME_CHAR}[\u4e00-\u9fff](?![\u4e00-\u9fff]) | {_NAME_CHAR}{{1,2}} (?!{_NAME_CHAR}) ) )"""
# Words that start like a surname and a given name: places, times, illnesses ("我是江苏人", "患者高烧").
_NOT_NAME_WORDS = """江苏 江西 安徽 吉林 宁夏 宁波 甘肃 云南 海南 常州 温州 苏州 徐州 郑州 杭州 兰州 柳州 金华 唐山
    邢台 包头 武汉 成都 沈阳 许昌 周口 商丘 鞍山 秦皇 黄山 黄石 南京 南昌 南宁 南通 南方 北京 燕郊 高血 高烧 高热 高兴
    高龄 高中 高铁 白天 白细 白血 白蛋 黄疸 黄色 方便 方法 方面 周末 周岁 马上 常常 常规 常见 万一 金额 安全 安排 安心
    安静 文化 文件 程度 程序 任何 任务 范围 毕业 单位 单独 单纯 单抗 牛奶 牛肉 包括 包子 关于 关系 关注 关心 温度 温水
    康复 华山 华西 严重 严格 费用 连续 左边 左侧 谢谢 毛病 汤药 平时 平常 平均 国家 国外 国内 明白 明显 元旦 利尿 利妥
    普通 原因 原来 原发 齐全 简单 成功 成人 成年 宫颈 花费 强烈 信息 容易 海鲜 云南 乐观 门诊 初次 初诊 计划 支付
    宣传 展开 智能 富含 伊曲 阿司 石榴 柚子 苏打 麦片 米饭 米粥 玉米 豆腐 豆浆 豆奶 豆类 豆制 鲜奶 车上 路上
    桂林 常德 岳阳 邵阳 衡阳 衡水 安阳 安庆 南阳 南充 信阳 焦作 梅州 惠州 湛江 连云 宿迁 宁德 龙岩 景德 吉安 齐齐
    晋城 乐山 银川 乌鲁 哈密 海口 黄冈 荆州 娄底 呼和 盘锦 马鞍 江门 玉林 贺州"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


def _name_replacer(weak: bool) -> Callable[[re.Match[str]], str | None]:
    """The cue and a placeholder for the name after it; a weak cue's placeholder is marked unsure."""
    def replace(match: re.Match[str]) -> str | None:
        if match["name"][:2] in _NOT_NAMES:
            return None
        return match["cue"] + (_WEAK if weak else "") + "[姓名已隐去]"
    return replace


_KIN = ("爸爸|妈妈|父亲|母亲|老公|丈夫|妻子|老婆|爱人|儿子|女儿|哥哥|姐姐|弟弟|妹妹|爷爷|奶奶|外公|外婆"
        "|姥姥|姥爷|公公|婆婆|岳父|岳母|舅舅|姑姑|叔叔|伯伯|孙子|孙女|爸|妈|哥|姐|弟|妹")
_NAME_LABEL = r"(?:患者|病人|家属|联系人)?(?:姓名|名字)|联系人|收件人|收货人|户名|持卡人"
_NAME_GATE = re.compile(rf"叫|{_NAME_LABEL}")
_Gate = re.Pattern[str] | None


# Personal data that must never reach a published post or the admins' unmatched list. Order matters: e-mail
# first ("13812345678@163.com" is one address), ID-card and card numbers before phones (they contain
# phone-like runs), labels after, for what no shape above caught, then addresses and names. Without a label,
# separators are allowed only between the parts people group a number in, so a list of lab values does not read
# as one long number. A callable returning None keeps the match, and matching resumes one character later.
# Each pattern has a gate, a cheap search that must succeed before the pattern is worth running.
_DIGIT = re.compile(r"\d")
_SCRUB_PATTERNS: tuple[tuple[_Gate, re.Pattern[str], _Replacement], ...] = (
    # Spaces around "@" or "。" for "." still make an address; so does a big provider without ".com".
    # The look-behind starts the name only where a run of its characters starts: no retrying inside it.
    (re.compile("@"), _rx(r"""(?<![A-Za-z0-9._%+-]) [A-Za-z0-9._%+-]+ [ \t]*@[ \t]*
             (?: [A-Za-z0-9-]+ (?:[.。][A-Za-z0-9-]+)* [.。][A-Za-z]{2,}
               | (?:qq|163|126|139|yeah|sina|sohu|foxmail|gmail|hotmail|outlook) (?![A-Za-z0-9]) )""",
         re.IGNORECASE), "[邮箱已隐去]"),
    # "zhangsan at 163 dot com", "zhangsan (at) qq.com": spelt out to dodge filters; a domain is required.
    (re.compile(r"[ \t(\[（]at[ \t)\]）]", re.IGNORECASE),
     _rx(r"""(?<![A-Za-z0-9._%+-]) [A-Za-z0-9._%+-]+ (?: [ \t]+at[ \t]+ | [ \t]*[(\[（]at[)\]）][ \t]* )
             [A-Za-z0-9-]+ (?: (?:[ \t]*[.。][ \t]*|[ \t]+dot[ \t]+|[ \t]*[(\[（]dot[)\]）][ \t]*) [A-Za-z0-9-]+ )*?
             (?:[ \t]*[.。][ \t]*|[ \t]+dot[ \t]+|[ \t]*[(\[（]dot[)\]）][ \t]*)
             (?:com|cn|net|org|edu|gov|info|me|io|hk|tw) (?![A-Za-z0-9])""", re.IGNORECASE), "[邮箱已隐去]"),
    # ID card after "身份证": 18 characters (or an old card's 15 digits) grouped any way.
    (_DIGIT, _rx(r"""(身份证(?:号码?)? <is>) \d (?:≈?\d){14} (?:≈?\d ≈?\d ≈?[\dXx])? (?![0-9A-Za-z])"""),
     r"\g<1>[身份证号已隐去]"),
    # ID card without a label: province, birth date YYYYMMDD, sequence, check digit; typed whole, grouped by
    # these parts (6-8-4, 6-4-4-4, 3-3-4-4-4, 6-6-6: a separator inside MMDD only after YYYYMM) or in fours;
    # or any 17 digits and an X, a mistyped one.
    (_DIGIT, _rx(r"""(?<![0-9A-Za-z])
             (?: <area>\d ~ \d{3} ~ <year> (?: ~ <mm><dd> | <mm> ~ <dd> ) ~ \d{3} ~ [\dXx]
               | <area>\d\d ~ \d\d(?:19|20) ~ \d\d<mm> ~ <dd>\d\d ~ \d[\dXx]
               | \d{17}[Xx] )
             (?![0-9A-Za-z])"""), "[身份证号已隐去]"),
    # Bank and insurance cards: 16-19 digits, or in fours (see _card) but not in a list of values.
    (_DIGIT, _rx(r"(?<!\d) (?: \d{16,19} | <alone> \d{4} (?:~\d{4}){3} (?:~\d{3})? </alone> ) (?!\d)"), _card),
    # Old 15-digit ID cards: province, YYMMDD, sequence; typed whole or as 6-6-3 (other groupings only after
    # "身份证": in fours they are too often lab values, "1205 1180 1103 980").
    (_DIGIT, _rx(r"(?<![0-9A-Za-z]) <area>\d{4} ~ \d\d<mm><dd> ~ \d{3} (?![0-9A-Za-z])"), "[身份证号已隐去]"),
    # Mobiles: 11 digits, or 3-4-4 / 4-3-4 after +86 / 0086 / (+86). Landlines: area code (maybe bracketed, or
    # after +86 without its 0; never 00…, the international prefix), then 7-8 digits, maybe as 3-4 + 4; not in
    # a list of values. Extensions go too.
    (_DIGIT, _rx(rf"""(?<!\d)
             (?: [(（]?(?:\+|00)?86[)）]?~ 1[3-9]\d (?: ~\d{{4}}~\d{{4}} | \d~\d{{3}}~\d{{4}} )
               | 1[3-9]\d{{9}}
               | <alone> (?: [(（]~0[1-9]\d{{1,2}}~[)）] | 0[1-9]\d{{1,2}} | (?:\+|00)86~[(（]?0?[1-9]\d{{1,2}}[)）]? )
                 ~ (?:\d{{7,8}} | \d{{3,4}}~\d{{4}}) </alone> )
             {_EXT} (?!\d)"""), "[电话已隐去]"),
    # A mobile grouped 3-4-4 or 4-3-4 without +86: guarded like a landline, and see _spaced_mobile.
    (_DIGIT, _rx(rf"(?<!\d) <alone> 1[3-9]\d (?: ~\d{{4}}~\d{{4}} | \d~\d{{3}}~\d{{4}} ) </alone> {_EXT} (?!\d)"),
     _spaced_mobile),
    # Passports and permits after their label: up to two letters and 7-10 digits ("港澳通行证 C1234567").
    (_DIGIT, _rx(r"""((?:护照|通行证|回乡证|台胞证|旅行证|证件)(?:号码?)? <is>)
                      [A-Za-z]{0,2}\d{7,10} (?![0-9A-Za-z])""", re.IGNORECASE), r"\g<1>[证件号已隐去]"),
    # Without a label only Chinese passports' own shapes, E or G and 8 digits (see _passport), or E, a letter,
    # 7 digits; other letters and 8 digits are as often sample or lot numbers ("S20240312 标本").
    (_DIGIT, _rx(r"(?<![0-9A-Za-z]) (?: [EG]\d{8} | E[A-Z]\d{7} ) (?![0-9A-Za-z])", re.IGNORECASE), _passport),
    # After "电话", "手机"…: digits in groups of three or more, or one at a time ("1 3 8 1 2 …"; see _labeled_phone).
    (_DIGIT, _rx(rf"""((?:电话|手机|座机|联系方式)(?:号码?)? <is>) (?: \d{{3,}}(?:≈\d{{3,}})* | \d(?:≈\d){{6,}} )
                      {_EXT} (?!\d)"""), _labeled_phone),
    # A WeChat id has its own shape even without a label.
    (re.compile("wxid_", re.IGNORECASE), _rx(r"(?<![A-Za-z0-9_-]) wxid_[A-Za-z0-9_-]{4,}", re.IGNORECASE),
     "[号码已隐去]"),
    # Hospital, card and account numbers known by their label, which stays so the question still reads.
    # At least five characters, or groups of three or more digits, so "医保卡 2024年办的" stays.
    (_DIGIT, _rx(r"""((?: (?:住院|病历|病案|门诊|急诊|就诊|就诊卡|诊疗卡|医保卡?|社保卡?|银行卡|卡|身份证|护照|通行证
                         |(?:移植)?登记|患者编|病人编)号码?
               | (?:就诊|诊疗|门诊|医保|社保|银行)卡 ) <is>)
             (?: [A-Za-z0-9][A-Za-z0-9_-]{4,}(?:~\d{3,})* | \d{3,4}(?:~\d{3,})+ ) (?!\d)""", re.IGNORECASE),
     r"\g<1>[号码已隐去]"),
    # Accounts: the same, but a value starting with letters needs a digit, "_" or "-" in it (WeChat ids do;
    # "微信 group" is a word). A Latin label must end a word ("idiopathic" is no ID, "wxbot" no wx).
    (re.compile(r"微信|qq|vx|wx|v信|id", re.IGNORECASE),
     _rx(r"""((?: 微信号?码? | (?<![A-Za-z])(?:QQ|vx|wx|v信|ID)(?![A-Za-z])号?码? ) <is>)
             (?: (?=[A-Za-z]*[\d_-]) [A-Za-z0-9][A-Za-z0-9_-]{4,}(?:~\d{3,})* | \d{3,4}(?:~\d{3,})+ ) (?!\d)""",
         re.IGNORECASE), r"\g<1>[号码已隐去]"),
    # Addresses down to a door (see _ADDRESS).
    (re.compile("[号栋幢单元室楼层户]"), _ADDRESS, _address),
    # Names after a label or "叫": the label stays ("我叫[姓名已隐去]"). After a label and a separator any two or
    # three name characters are a name; otherwise a surname is needed ("我叫了救护车", "联系人：周小红": 周 is
    # no name character, it is mostly "week").
    (_NAME_GATE,
     _rx(rf"""(?P<cue> (?:{_NAME_LABEL}) (?:\s*(?:是|为|叫|[:：])\s*|\s+) )
              (?P<name> {_NAME_CHAR}{{2,3}} (?!{_NAME_CHAR}) )"""), _name_replacer(weak=False)),
    (_NAME_GATE, _rx(rf"(?P<cue> (?:叫做? | {_NAME_LABEL}) (?:\s*[:：]\s*|\s+)? ) {_NAME}"),
     _name_replacer(weak=False)),
    # Names after "我是", "患者", "妈妈"…: a weaker cue, so the placeholder is marked for an editor to look at.
    (re.compile(rf"我是|本人|患者|病人|家属|{_KIN}"),
     _rx(rf"(?P<cue> (?:我是 | 本人是? | 患者 | 病人 | 家属 | {_KIN}) (?:[:：]\s*)? ) {_NAME}"),
     _name_replacer(weak=True)),
    # A name opening a patient's summary, before a sex: "范德龙，男，55岁". A guess too.
    (re.compile("[男女]"), _rx(rf"""(?P<cue>) (?<![\u4e00-\u9fff]) {_NAME}
                                 (?= [ \t]*[，,、 ][ \t]*[男女]性?[ \t]*(?:[，,、 ]|$) )"""),
     _name_replacer(weak=True)),
)


# Chinese input methods often type digits and Latin letters full-width ("１３８…"); fold those (and the
# characters numbers and e-mail addresses are written with) to ASCII, but keep Chinese punctuation. The weak
# marker is dropped from input so no follower can fake one.
_FOLD_FULL_WIDTH: dict[int, int | None] = {
    cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
                               0xFF20, 0xFF0B, 0xFF0D, 0xFF0E, 0xFF3F)} | {0x3000: 0x20, ord(_WEAK): None}
# Numbers spelt in Chinese numerals ("一三八…", "幺三八…", "一一〇一〇五…"): seven numerals or more in a run
# (maybe grouped by single spaces or hyphens), so "一天两次" and "三个月" never are.
_FOLD_NUMERALS = str.maketrans("〇零一二三四五六七八九幺两", "0012345678912")
_NUMERAL = "[0-9〇零一二三四五六七八九幺两]"
_NUMERAL_RUN = re.compile(rf"{_NUMERAL}(?:[ \-]?{_NUMERAL}){{6,}}")
_CHINESE_NUMERALS = re.compile("[〇零一二三四五六七八九幺两]{2}")


@dataclass(frozen=True, slots=True)
class Scrubbed:
    """Scrubbed text and the spans of it, [start, end), an editor should check by eye."""

    text: str
    unsure: tuple[tuple[int, int], ...] = ()


# What may still be personal in scrubbed text: a long number, a Latin name ("Zhang San"), a name after 叫/姓.
_UNSURE = re.compile(r"""(?<!\d)\d{6,}(?!\d) | (?<![A-Za-z])[A-Z][a-z]+[ \t]+[A-Z][a-z]+(?![A-Za-z])
                         | (?<=[叫姓])(?<!\[姓)[\u4e00-\u9fff]{2,3}""", re.VERBOSE)  # not inside "[姓名已隐去]"


def scrub(text: str) -> str:
    """A copy of follower text with personal numbers, e-mail, addresses and names hidden."""
    return scrub_report(text).text


def scrub_report(text: str) -> Scrubbed:
    """`scrub`, and where in its output something may still be personal or was hidden on a weak cue."""
    text = text.translate(_FOLD_FULL_WIDTH)
    # The patterns read numerals as digits on a same-length copy; `origin` maps the copy's characters back.
    copy = _NUMERAL_RUN.sub(_fold_run, text) if _CHINESE_NUMERALS.search(text) else text
    origin = list(range(len(text))) if copy != text else None
    out = copy
    for gate, pattern, replacement in _SCRUB_PATTERNS:
        if gate is None or gate.search(out):
            out, origin = _sub(pattern, replacement, out, origin)
    if origin is not None:  # what no pattern replaced reads as the follower typed it
        out = "".join(c if o < 0 else text[o] for c, o in zip(out, origin, strict=True))
    unsure: list[tuple[int, int]] = []
    if _WEAK in out:
        first, *rest = out.split(_WEAK)
        pieces = [first]
        size = len(first)
        for piece in rest:  # each starts with the placeholder the weak cue produced
            unsure.append((size, size + piece.index("]") + 1))
            pieces.append(piece)
            size += len(piece)
        out = "".join(pieces)
    for match in _UNSURE.finditer(out):
        if not any(s < match.end() and match.start() < e for s, e in unsure):
            unsure.append(match.span())
    return Scrubbed(out, tuple(sorted(unsure)))


def _fold_run(match: re.Match[str]) -> str:
    """A run of numerals as ASCII digits, the same length."""
    return match[0].translate(_FOLD_NUMERALS)


_PLACEHOLDER = re.compile(r"\[[^\[\]]{1,8}已隐去\]")


def clip(text: str, limit: int) -> str:
    """`text[:limit]`, cut before a placeholder rather than inside one ("[电话已")."""
    if len(text) <= limit:
        return text
    opening = text.rfind("[", max(0, limit - 12), limit)
    if opening != -1 and (found := _PLACEHOLDER.match(text, opening)) is not None and found.end() > limit:
        return text[:opening]
    return text[:limit]


def _sub(pattern: re.Pattern[str], replacement: _Replacement, text: str,
         origin: list[int] | None) -> tuple[str, list[int] | None]:
    """`pattern.sub`, but where a callable replacement returns None the text stays and the search goes on from
    the match's next character; `origin` (where each character came from, -1 for new ones) is kept up."""
    if isinstance(replacement, str) and origin is None:
        return pattern.sub(replacement, text), None
    parts: list[str] = []
    kept: list[int] | None = None if origin is None else []
    done = pos = 0
    while (match := pattern.search(text, pos)) is not None:
        new = match.expand(replacement) if isinstance(replacement, str) else replacement(match)
        if new is None:
            pos = match.start() + 1
            continue
        parts += (text[done:match.start()], new)
        if kept is not None and origin is not None:
            kept += origin[done:match.start()]
            kept += [-1] * len(new)
        done = pos = match.end()  # no pattern matches the empty string
    parts.append(text[done:])
    if kept is not None and origin is not None:
        kept += origin[done:]
    return "".join(parts), kept
