"""The scrubber over a corpus of realistic follower messages: PII gone, clinical values kept, output as expected."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.questions.privacy import scrub

CORPUS = Path(__file__).resolve().parent / "data" / "privacy_corpus.tsv"
PLACEHOLDERS = frozenset({"[电话已隐去]", "[身份证号已隐去]", "[卡号已隐去]", "[邮箱已隐去]", "[号码已隐去]",
                          "[证件号已隐去]", "[地址已隐去]", "[姓名已隐去]"})
KNOWN_MISS = "known-miss"


@dataclass(frozen=True, slots=True)
class Case:
    """One corpus line: the message, its ideal scrubbed copy, spans that must go and spans that must stay."""

    line: int
    text: str
    expected: str
    pii: tuple[str, ...]
    kept: tuple[str, ...]
    known_miss: bool


def load_corpus(path: Path = CORPUS) -> list[Case]:
    """The corpus's cases; a malformed line raises, naming it."""
    cases = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        columns = raw.split("\t")
        if len(columns) != 5 or columns[4] not in ("", KNOWN_MISS):
            raise ValueError(f"{path.name}:{number}: want 5 tab-separated columns, the last empty or {KNOWN_MISS}")
        text, expected, pii, kept, status = columns
        cases.append(Case(number, text, expected, tuple(s for s in pii.split("|") if s),
                          tuple(s for s in kept.split("|") if s), status == KNOWN_MISS))
    return cases


CASES = load_corpus()


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason="known miss, see the corpus")] if case.known_miss else []
    return pytest.param(case, id=f"line{case.line}", marks=marks)


def test_corpus_is_large_mixed_and_consistent() -> None:
    """At least 200 messages, both kinds of span, few known misses; each annotation agrees with its line."""
    assert len(CASES) >= 200
    assert sum(len(c.pii) for c in CASES) >= 150 and sum(len(c.kept) for c in CASES) >= 150
    assert sum(bool(c.pii and c.kept) for c in CASES) >= 40  # PII and clinical values in one message
    assert sum(c.known_miss for c in CASES) <= 5
    assert len({c.text for c in CASES}) == len(CASES)
    for c in CASES:
        where = f"line {c.line}"
        assert all(s in c.text and s not in c.expected for s in c.pii), where
        assert all(s in c.text and s in c.expected for s in c.kept), where
        assert set(re.findall(r"\[[^\[\]]+已隐去\]", c.expected)) <= PLACEHOLDERS, where
        assert c.expected != c.text or not c.pii, where


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_scrub_gives_the_expected_copy(case: Case) -> None:
    out = scrub(case.text)
    assert [s for s in case.pii if s in out] == []
    assert [s for s in case.kept if s not in out] == []
    assert out == case.expected


@pytest.mark.parametrize("case", [pytest.param(c, id=f"line{c.line}") for c in CASES if c.known_miss])
def test_known_misses_still_keep_the_clinical_values(case: Case) -> None:
    """A known miss is about PII left in: it must never cost a clinical value."""
    out = scrub(case.text)
    assert [s for s in case.kept if s not in out] == []


def test_a_malformed_line_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.tsv"
    bad.write_text("# comment\n电话13812345678\t电话[电话已隐去]\t13812345678\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"corpus\.tsv:2"):
        load_corpus(bad)
