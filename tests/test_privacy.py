"""Scrubbing personal data before anything is published, and pseudonyms."""

from __future__ import annotations

import random

import pytest

from bot.questions.privacy import Pseudonymizer, Scrubbed, clip, scrub, scrub_report


@pytest.mark.parametrize(("text", "hidden", "placeholder"), [
    ("我的电话13812345678", "13812345678", "[电话已隐去]"),
    ("电话１３８１２３４５６７８，谢谢", "１３８１２３４５６７８", "[电话已隐去]"),
    ("+86 138-1234-5678", "1234", "[电话已隐去]"),
    ("座机021-64041990", "64041990", "[电话已隐去]"),
    ("身份证310101199001011234", "310101199001011234", "[身份证号已隐去]"),
    ("身份证110105 19491231 002X", "19491231", "[身份证号已隐去]"),
    ("身份证１１０１０５１９４９１２３１００２Ｘ", "１９４９", "[身份证号已隐去]"),
    ("邮箱 zhang.san@example.com", "zhang.san", "[邮箱已隐去]"),
    ("医保卡6222021234567890123", "6222021234567890123", "[卡号已隐去]"),
])
def test_scrub_hides_personal_numbers(text: str, hidden: str, placeholder: str) -> None:
    out = scrub(text)
    assert hidden not in out and placeholder in out


@pytest.mark.parametrize(("text", "expected"), [
    # ID cards typed in parts, in fours, full-width, old 15-digit ones, and one with an impossible date
    ("身份证 110105 1949 1231 002X", "身份证 [身份证号已隐去]"),
    ("110105-1949-1231-002X，谢谢", "[身份证号已隐去]，谢谢"),
    ("身份证 1101 0519 4912 3100 2X", "身份证 [身份证号已隐去]"),
    ("身份证１１０１０５－１９４９－１２３１－００２Ｘ", "身份证[身份证号已隐去]"),
    ("老身份证110105491231002", "老身份证[身份证号已隐去]"),
    ("老身份证 110105 491231 002。", "老身份证 [身份证号已隐去]。"),
    ("身份证号11010519491331002X", "身份证号[身份证号已隐去]"),
    ("身份证号：110105194912310021", "身份证号：[身份证号已隐去]"),
    # ... as 6-6-6 and 3-3-4-4-4, with or without a label, and after "身份证" grouped any way, old ones too
    ("身份证 110105 199001 01123X", "身份证 [身份证号已隐去]"),
    ("110105 199001 01123X，谢谢", "[身份证号已隐去]，谢谢"),
    ("身份证 110 105 1990 0101 123X", "身份证 [身份证号已隐去]"),
    ("我的是110 105 1990 0101 123X", "我的是[身份证号已隐去]"),
    ("身份证 110 105 199 001 011 23X", "身份证 [身份证号已隐去]"),
    ("身份证：110105/19900101/123X。", "身份证：[身份证号已隐去]。"),
    ("老身份证 1101 0549 1231 002", "老身份证 [身份证号已隐去]"),
    # phones with brackets, dots, dashes, +86, and a local number named as a phone
    ("电话(010)12345678", "电话[电话已隐去]"),
    ("电话（010）1234-5678", "电话[电话已隐去]"),
    ("电话（０１０）１２３４－５６７８", "电话[电话已隐去]"),
    ("座机010-1234 5678", "座机[电话已隐去]"),
    ("手机138.1234.5678", "手机[电话已隐去]"),
    ("手机138。1234。5678。", "手机[电话已隐去]。"),
    ("手机138—1234—5678", "手机[电话已隐去]"),
    ("手机１３８　１２３４　５６７８", "手机[电话已隐去]"),
    ("(+86)138 1234 5678", "[电话已隐去]"),
    ("+86 10 6404 1990", "[电话已隐去]"),
    ("家里电话：6404 1990，谢谢", "家里电话：[电话已隐去]，谢谢"),
    # after a phone label also commas, slashes, middle dots, underscores, and one digit at a time
    ("手机138，1234，5678", "手机[电话已隐去]"),
    ("电话：138/1234/5678", "电话：[电话已隐去]"),
    ("手机 138,1234,5678", "手机 [电话已隐去]"),
    ("手机138·1234·5678", "手机[电话已隐去]"),
    ("电话 138_1234_5678", "电话 [电话已隐去]"),
    ("座机：010/6404/1990", "座机：[电话已隐去]"),
    ("手机 1 3 8 1 2 3 4 5 6 7 8", "手机 [电话已隐去]"),
    ("我手机是1 3 8 1 2 3 4 5 6 7 8", "我手机是[电话已隐去]"),
    ("电话 64041990，3次都没打通", "电话 [电话已隐去]，3次都没打通"),
    # hospital, card and account numbers after their label
    ("住院号：123456，想问复查", "住院号：[号码已隐去]，想问复查"),
    ("我的病历号是 ZY2024001", "我的病历号是 [号码已隐去]"),
    ("门诊号:0012 3456", "门诊号:[号码已隐去]"),
    ("就诊卡号 A12345678", "就诊卡号 [号码已隐去]"),
    ("医保卡号：1234567890", "医保卡号：[号码已隐去]"),
    ("社保卡号 ＳＢ１２３４５６７", "社保卡号 [号码已隐去]"),
    ("QQ 12345678", "QQ [号码已隐去]"),
    ("qq号:123 456 789", "qq号:[号码已隐去]"),
    ("微信号：zhang_san88", "微信号：[号码已隐去]"),
    ("加我vx abc12345", "加我vx [号码已隐去]"),
    ("微信 zhang-san", "微信 [号码已隐去]"),
    ("wx: li_si", "wx: [号码已隐去]"),
    # bank cards, whole, in fours, full-width
    ("银行卡 6222 0212 3456 7890 123", "银行卡 [卡号已隐去]"),
    ("卡号4111-1111-1111-1111", "卡号[卡号已隐去]"),
    ("６２２２０２１２３４５６７８９０１２３", "[卡号已隐去]"),
    # in fours: after a card label even with a wrong checksum; else with a card's prefix and checksum
    ("银行卡 4111 1111 1111 1112", "银行卡 [卡号已隐去]"),
    ("信用卡号：5555 5555 5555 4445", "信用卡号：[卡号已隐去]"),
    ("4111 1111 1111 1111", "[卡号已隐去]"),
    ("付款 5555-5555-5555-4444 失败", "付款 [卡号已隐去] 失败"),
    ("13812345678 6222 0212 3456 7890", "[电话已隐去] [卡号已隐去]"),
    # passports and travel permits
    ("护照E12345678", "护照[证件号已隐去]"),
    ("护照号 G12345678", "护照号 [证件号已隐去]"),
    ("新护照EA1234567，", "新护照[证件号已隐去]，"),
    ("护照Ｅ１２３４５６７８", "护照[证件号已隐去]"),
    ("港澳通行证 C1234567", "港澳通行证 [证件号已隐去]"),
    ("护照 12345678", "护照 [证件号已隐去]"),
    ("护照号码是 e12345678", "护照号码是 [证件号已隐去]"),
    ("台胞证：12345678", "台胞证：[证件号已隐去]"),
    ("G12345678", "[证件号已隐去]"),
    # e-mail with spaces around @, full-width, "。" for ".", a phone number as the name, no ".com"
    ("邮箱 zhang.san @ example.com", "邮箱 [邮箱已隐去]"),
    ("邮箱 ｚｈａｎｇ＿ｓａｎ＠１６３．ｃｏｍ", "邮箱 [邮箱已隐去]"),
    ("邮箱１２３４５６＠ｑｑ。ｃｏｍ。", "邮箱[邮箱已隐去]。"),
    ("13812345678@163.com", "[邮箱已隐去]"),
    ("123456@qq 谢谢", "[邮箱已隐去] 谢谢"),
])
def test_scrub_replaces_numbers_typed_every_way(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "他克莫司 1.5mg，每天2次",
    "肌酐 120 μmol/L",
    "血药浓度 8.5 ng/ml",
    "2024年3月5日复查",
    "2024-03-05 08:30 抽血",
    "2024.03.05 14:30",
    "术后3年，2019年做的移植",
    "蛋白尿 0.15 g/24h，下降了30%",
    "FK506、MMF 500mg、维生素D3、CD20、IL-2、COVID-19",
    "301医院 eGFR 45 ml/min/1.73m2",
    "血压 130/80，心率 72，体重 65.5kg",
    "肌酐 110 105 98 102 99",
    "尿量 2350 2420 3180 2900 ml",
    "2019 2020 2021 2022 每年体检",
    "医保卡 2024年办的",
    "我加了微信 2019年",
    "电话随访 2024-03-05",
    "打电话 120",
    "1.5mg @ 8am",
    "特发性膜性肾病 idiopathic MN，用过 wxbot 提问",
    # four-digit lab values: an old ID needs a province code and no grouping in fours, a card in fours a
    # label or a card's prefix (this one passes the checksum), a landline is not one value of a list
    "环孢素谷浓度 1205 1180 1103 980 ng/ml",
    "尿量 2400 2300 1210 800 ml",
    "尿量 1205 1180 1103 9800",
    "尿量 2595 1653 1294 1568 ml",
    "尿量 0950 2300 1200 1100 ml",
    "4111 1111 1111 1112",
    # ID shapes with no province code
    "编号 990105 1990 0101 1234",
    "批号 990105 491231 002",
    # commas only after a phone label; too few digits for a phone
    "尿量 150，1200，1300",
    "打电话 120，110 都没人接",
    # a word after 微信 is no WeChat id
    "我在微信 group 里看到",
    "vx abcdefgh",
    # without a label only E/G and 8 digits that are neither a date nor round, or E, a letter, 7 digits
    "E10000000 是什么",
    "E20240312 批号",
    "S20240312 标本",
    "P12345678",
])
def test_scrub_keeps_ordinary_medical_text(text: str) -> None:
    assert scrub(text) == text


def test_scrub_keeps_series_of_four_digit_values() -> None:
    """Urine volumes, drug levels…: 4-5 values between 0800 and 3200 are never a card, ID or phone."""
    rng = random.Random(20240312)
    for _ in range(2000):
        values = [f"{rng.randint(800, 3200):04d}" for _ in range(rng.choice((4, 5)))]
        text = "尿量 " + rng.choice((" ", "  ", "，", "、", "/")).join(values) + " ml"
        assert scrub(text) == text


def test_scrub_keeps_medical_content_and_chinese_punctuation() -> None:
    text = "他克莫司每天2次，每次1mg，肌酐120μmol/L；术后3年！可以吗？"
    assert scrub(text) == text


def test_pseudonyms_are_stable_keyed_and_opaque() -> None:
    p, q = Pseudonymizer("k" * 32), Pseudonymizer("x" * 32)
    assert p("o_abc") == p("o_abc") != p("o_abd")
    assert p("o_abc") != q("o_abc") and "o_abc" not in p("o_abc") and p("o_abc").startswith("u_")


def test_pseudonyms_stay_right_when_openids_alternate() -> None:
    """The pseudonymizer keeps the last answer: alternating followers must never get each other's."""
    fresh, reused = Pseudonymizer("k" * 16), Pseudonymizer("k" * 16)
    sequence = ["o_a", "o_a", "o_b", "o_a", "o_b", "o_b", ""]
    assert [reused(o) for o in sequence] == [Pseudonymizer("k" * 16)(o) for o in sequence]
    assert fresh("o_a") != fresh("o_b") and fresh("o_a").startswith("u_")


@pytest.mark.parametrize(("text", "expected"), [
    # names after 叫, a label, 我是, 患者 or a relative; the lead word stays
    ("我叫张三", "我叫[姓名已隐去]"),
    ("我是王小明，想问复查", "我是[姓名已隐去]，想问复查"),
    ("患者李四，男，45岁", "患者[姓名已隐去]，男，45岁"),
    ("患者姓名：张三", "患者姓名：[姓名已隐去]"),
    ("姓名 张三 性别 男", "姓名 [姓名已隐去] 性别 男"),
    ("我妈妈陈秀英今年65岁", "我妈妈[姓名已隐去]今年65岁"),
    ("我老公欧阳明做了移植", "我老公[姓名已隐去]做了移植"),
    ("我爸叫刘建国", "我爸叫[姓名已隐去]"),
    # addresses down to a door
    ("上海市徐汇区枫林路180号3号楼502室", "[地址已隐去]"),
    ("寄到北京市朝阳区建国路88号", "寄到[地址已隐去]"),
    ("我住XX小区5栋2单元301，离医院远", "我住[地址已隐去]，离医院远"),
    ("家住在浙江省杭州市西湖区文三路100号", "家住在[地址已隐去]"),
    # numbers spelt in Chinese numerals, and digits and numerals mixed
    ("电话一三八一二三四五六七八", "电话[电话已隐去]"),
    ("幺三八 一二三四 五六七八 打这个", "[电话已隐去] 打这个"),
    ("身份证一一〇一〇五一九四九一二三一〇〇二X", "身份证[身份证号已隐去]"),
    ("13八一二三四五六七八", "[电话已隐去]"),
    # a mobile in 4-3-4, a bare WeChat id, registration numbers, spelt-out e-mail, extensions
    ("1381 234 5678", "[电话已隐去]"),
    ("加我 wxid_abc123def 谢谢", "加我 [号码已隐去] 谢谢"),
    ("登记号：TX2021-0456", "登记号：[号码已隐去]"),
    ("移植登记号 A20210456", "移植登记号 [号码已隐去]"),
    ("患者编号：P000123", "患者编号：[号码已隐去]"),
    ("邮箱 zhangsan at 163 dot com", "邮箱 [邮箱已隐去]"),
    ("zhangsan at qq.com", "[邮箱已隐去]"),
    ("li.si (at) gmail (dot) com", "[邮箱已隐去]"),
    ("0571-87654321转8021", "[电话已隐去]"),
    ("电话 0571-87654321 ext. 123，找护士站", "电话 [电话已隐去]，找护士站"),
    ("手机13812345678转2", "手机[电话已隐去]"),
    # names after a label and a separator with a surname no name character has (周), four-character ones,
    # recipients and account holders, "患者：", a last character that often ends a word, a sex after a name
    ("联系人：周小红，电话13912345678", "联系人：[姓名已隐去]，电话[电话已隐去]"),
    ("姓名 欧阳志远 性别 男", "姓名 [姓名已隐去] 性别 男"),
    ("收件人 吴丽 电话 15957112345", "收件人 [姓名已隐去] 电话 [电话已隐去]"),
    ("建行卡 6217002870012345678，户名张三", "建行卡 [卡号已隐去]，户名[姓名已隐去]"),
    ("患者：曾凡勇 住院号 20240312", "患者：[姓名已隐去] 住院号 [号码已隐去]"),
    ("我弟弟冯志刚，术后第 14 天", "我弟弟[姓名已隐去]，术后第 14 天"),
    ("我是沈浩然，家在上海", "我是[姓名已隐去]，家在上海"),
    ("我哥常建国住在这里", "我哥[姓名已隐去]住在这里"),
    ("范德龙，男，55岁", "[姓名已隐去]，男，55岁"),
    # 石家庄's 家, a Shanghai lane, a compound after a road number; a card number is no landline (no 00 code)
    ("家住河北省石家庄市长安区建设北大街100号院3号楼", "家住[地址已隐去]"),
    ("快递地址是上海市浦东新区张江路1000弄12号301室", "快递地址是[地址已隐去]"),
    ("地址：成都市武侯区科华北路65号华西小区3栋1单元502室", "地址：[地址已隐去]"),
    ("就诊卡号 000123456789", "就诊卡号 [号码已隐去]"),
])
def test_scrub_hides_names_addresses_and_spelt_numbers(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "我是肾移植患者", "我是第一次吃药", "患者术后", "我妈妈说", "我是不是要复查", "我在上海做的移植",
    "我是江苏人，术后两年", "我是高血压患者", "我妈妈都七十了", "我爸爸查出肌酐高", "我是张先生",
    "我叫了救护车", "患者家属", "上海市徐汇区", "住在3楼", "一天两次", "三个月复查一次", "一二三四五六七八九十",
    # three lab values are not a mobile in 3-4-4: after a measurement, or before a unit
    "尿量 150 1200 1300 ml", "三天尿量分别是 180 2100 1950", "肌酐 135 1200 1300", "尿量：150 1300 2100",
    "记录 150 1200 1300 毫升", "他克莫司 130 1200 1100 ng/ml", "血压 140 1000 1200", "150 1200 1300 次",
    "look at me",
    # what follows a relative or opens a clause before a sex is not always a name; nor is a city
    "我弟弟明天来，", "我姐姐常吃药，", "同样，男，45岁", "我是桂林人，", "我妈高血压，",
])
def test_scrub_keeps_ordinary_words_and_lab_series(text: str) -> None:
    assert scrub(text) == text


def test_spaced_and_unspaced_mobiles_without_a_label() -> None:
    """A 3-4-4 group alone is still a phone; eleven digits are one even after a measurement."""
    assert scrub("138 1234 5678") == "[电话已隐去]"
    assert scrub("打 150 1200 1300 找我") == "打 [电话已隐去] 找我"
    assert scrub("尿量 13812345678") == "尿量 [电话已隐去]"
    assert scrub("尿量 150 1200 1300 1100 ml") == "尿量 150 1200 1300 1100 ml"  # not alone in a series


def test_numerals_are_restored_where_nothing_matched() -> None:
    """Numerals are read as digits only to match: an unmatched run stays as the follower typed it."""
    assert scrub("一二三四五六七八九 电话一三八一二三四五六七八") == "一二三四五六七八九 电话[电话已隐去]"


@pytest.mark.parametrize(("text", "out", "spans"), [
    ("我是王小明", "我是[姓名已隐去]", [(2, 9)]),  # a weak cue: the placeholder is unsure
    ("我叫张三", "我叫[姓名已隐去]", []),  # a strong one is not
    ("XX小区5栋2单元301", "[地址已隐去]", [(0, 7)]),  # no city, no road: a guess
    ("北京市朝阳区建国路88号", "[地址已隐去]", []),
    ("编号 12345678", "编号 12345678", [(3, 11)]),  # a long number left
    ("Zhang San 想问", "Zhang San 想问", [(0, 9)]),  # a Latin name
    ("他叫小明，她姓欧阳", "他叫小明，她姓欧阳", [(2, 4), (7, 9)]),  # no surname known, but after 叫/姓
    ("尿量 2000ml", "尿量 2000ml", []),
])
def test_scrub_report_marks_what_an_editor_should_check(text: str, out: str, spans: list[tuple[int, int]]) -> None:
    report = scrub_report(text)
    assert report == Scrubbed(out, tuple(spans)) and scrub(text) == out
    assert "\ue000" not in report.text


def test_a_faked_weak_marker_is_dropped() -> None:
    assert scrub_report("\ue000[姓名已隐去]") == Scrubbed("[姓名已隐去]", ())


def test_clip_never_splits_a_placeholder() -> None:
    text = scrub("嗯" * 8 + "13812345678 好")
    assert clip(text, 10) == "嗯" * 8 and clip(text, 15) == text[:15] == "嗯" * 8 + "[电话已隐去]"
    assert clip(text, 100) == text and clip("[abc]" * 3, 7) == "[abc][a"  # only placeholders are kept whole
