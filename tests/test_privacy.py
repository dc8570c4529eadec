"""Scrubbing personal data before anything is published, and pseudonyms."""

from __future__ import annotations

import pytest

from bot.privacy import Pseudonymizer, scrub


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


def test_scrub_keeps_medical_content_and_chinese_punctuation() -> None:
    text = "他克莫司每天2次，每次1mg，肌酐120μmol/L；术后3年！可以吗？"
    assert scrub(text) == text


def test_pseudonyms_are_stable_keyed_and_opaque() -> None:
    p, q = Pseudonymizer("k" * 32), Pseudonymizer("x" * 32)
    assert p("o_abc") == p("o_abc") != p("o_abd")
    assert p("o_abc") != q("o_abc") and "o_abc" not in p("o_abc") and p("o_abc").startswith("u_")
