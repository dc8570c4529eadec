"""The batcher's grouping on labelled question pairs: pair precision, recall and F1, a threshold sweep, the misses.

    .venv/bin/python bench/grouping.py [--pairs tests/data/question_pairs.tsv] [--misses 40]

Each pair goes through the real path: a leading marker is taken off as the question handlers do
(`question_body`), `bot.questions.desk.prepare` makes what intake stores (scrubbed copy, norm, compared
form, sketch, topic), and `group_questions` batches the two rows: the pair is "put together" when they
come out as one group. Precision: of the pairs put together, how many are truly the same question;
recall: of the truly same pairs, how many are put together. The merge score of the compared forms
(`bot.questions.similarity`) is printed beside each miss; the same decision without the candidate
index, and the grouper before (Jaccard ≥ 0.6 of the plain norms' bigrams), are printed for comparison.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bot.config import load_config  # noqa: E402
from bot.questions.batching import SIMILARITY, SUGGEST, Row, group_questions  # noqa: E402
from bot.questions.desk import Tagger, prepare, question_body  # noqa: E402
from bot.questions.similarity import features, opposed, similarity  # noqa: E402

PAIRS = ROOT / "tests" / "data" / "question_pairs.tsv"
HELD_OUT = ROOT / "tests" / "data" / "question_pairs_heldout.tsv"


@dataclass(frozen=True, slots=True)
class Pair:
    line: int
    a: str
    b: str
    same: bool
    note: str


@dataclass(frozen=True, slots=True)
class Scores:
    pairs: int
    true_pos: int
    false_pos: int
    false_neg: int

    @property
    def precision(self) -> float:
        return self.true_pos / (self.true_pos + self.false_pos or 1)

    @property
    def recall(self) -> float:
        return self.true_pos / (self.true_pos + self.false_neg or 1)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r or 1)


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    """The labelled pairs of a TSV file (``#`` lines and the column header skipped); a bad line raises."""
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#") or line.startswith("a\tb\t"):
            continue
        cells = line.split("\t")
        if len(cells) != 4 or cells[2] not in ("same", "different") or not cells[0] or not cells[1]:
            raise ValueError(f"{path.name} line {n}: want a<TAB>b<TAB>same|different<TAB>note")
        pairs.append(Pair(n, cells[0], cells[1], cells[2] == "same", cells[3]))
    return pairs


class PairJudge:
    """The real intake and grouping path for one pair of messages."""

    def __init__(self) -> None:
        config = load_config(ROOT / "config.yaml", env={})
        self.markers = config.questions.markers
        self.tagger = Tagger(config.articles)

    def row(self, text: str, qid: int) -> Row:
        body = question_body(text, self.markers) or text.strip()  # no marker: the unmatched-text path
        f = prepare(body, self.tagger)
        return Row(str(qid), f"u{qid}", f["public"], f["norm"], f["sketch"], f["topic"], float(qid), f["form"])

    def together(self, pair: Pair, threshold: float = SIMILARITY) -> bool:
        """Whether batching the two questions makes one group of them."""
        return len(group_questions([self.row(pair.a, 1), self.row(pair.b, 2)], threshold)) == 1

    def direct_together(self, pair: Pair) -> bool:
        """The same decision without the LSH candidate index: same topic, and the score reaches the threshold."""
        a, b = self.row(pair.a, 1), self.row(pair.b, 2)
        return a.topic == b.topic and (a.form == b.form
                                       or similarity(a.form, b.form, features(a.form), features(b.form)) >= SIMILARITY)

    def suggested(self, pair: Pair) -> bool:
        """Whether the second question's group lists the first as a possible merge."""
        groups = group_questions([self.row(pair.a, 1), self.row(pair.b, 2)])
        return len(groups) == 2 and any(g.get("suggest") for g in groups)

    def direct(self, pair: Pair) -> tuple[float, bool, str, str]:
        """The merge score of the compared forms, whether they are opposed, and the forms."""
        a, b = self.row(pair.a, 1), self.row(pair.b, 2)
        return similarity(a.form, b.form, features(a.form), features(b.form)), opposed(a.form, b.form), a.form, b.form


def baseline_together(judge: PairJudge, pair: Pair) -> bool:
    """The grouper before this work, for two questions: same topic and norm, or a shared sketch pair and
    a bigram Jaccard of the norms ≥ 0.6."""
    a, b = judge.row(pair.a, 1), judge.row(pair.b, 2)
    if a.topic != b.topic:
        return False

    def grams(norm: str) -> set[str]:
        return {norm} if len(norm) < 2 else {norm[i:i + 2] for i in range(len(norm) - 1)}

    def keys(norm: str) -> set[tuple[str, str]]:
        hashes = sorted({hashlib.blake2b(g.encode(), digest_size=6).hexdigest() for g in grams(norm)})[:4]
        return set(itertools.combinations(hashes, 2))

    # The old norm kept particles and had no synonym table: normalize_question is unchanged, so a.norm is it.
    if a.norm == b.norm:
        return True
    ga, gb = grams(a.norm), grams(b.norm)
    return bool(keys(a.norm) & keys(b.norm)) and len(ga & gb) / len(ga | gb) >= 0.6


def measure(pairs: Sequence[Pair], together: Callable[[Pair], bool]) -> tuple[Scores, list[tuple[Pair, bool]]]:
    """Pair scores of a same-group decision, and the pairs it got wrong (with what it decided)."""
    tp = fp = fn = 0
    wrong = []
    for p in pairs:
        decided = together(p)
        tp += decided and p.same
        fp += decided and not p.same
        fn += not decided and p.same
        if decided != p.same:
            wrong.append((p, decided))
    return Scores(len(pairs), tp, fp, fn), wrong


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")), "") if cpuinfo.exists() else ""
    return (f"{platform.platform()}, {model or platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}")


def _line(name: str, s: Scores) -> str:
    return (f"{name}: precision {s.precision:.3f} ({s.true_pos}/{s.true_pos + s.false_pos}), recall {s.recall:.3f} "
            f"({s.true_pos}/{s.true_pos + s.false_neg}), F1 {s.f1:.3f}")


def report(judge: PairJudge, path: Path, misses: int) -> None:
    pairs = load_pairs(path)
    same = sum(p.same for p in pairs)
    print(f"\n== {path.relative_to(ROOT)}: {len(pairs)} pairs, {same} same ({same / len(pairs):.0%}), "
          f"{len(pairs) - same} different")
    real, wrong = measure(pairs, judge.together)
    print(_line(f"grouping (threshold {SIMILARITY})", real))
    print(_line("direct score, no candidate index", measure(pairs, judge.direct_together)[0]))
    print(_line("baseline (before)", measure(pairs, lambda p: baseline_together(judge, p))[0]))
    suggested = [p for p in pairs if judge.suggested(p)]
    print(f"suggested as unsure merges (not merged, plain Dice ≥ {SUGGEST}): {len(suggested)} pairs, "
          f"{sum(p.same for p in suggested)} of them truly same")
    print("threshold sweep (real grouping):")
    for step in range(6, 17):
        t = step * 0.05
        s = measure(pairs, lambda p, t=t: judge.together(p, t))[0]
        print(f"  {t:.2f}  precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}")
    print(f"wrong decisions ({len(wrong)}; first {misses}):")
    for p, decided in wrong[:misses]:
        value, against, fa, fb = judge.direct(p)
        kind = "FALSE MERGE" if decided else "missed"
        print(f"  line {p.line} {kind}: {p.a} | {p.b}  [{fa} | {fb}] score {value:.2f}"
              f"{' opposed' if against else ''}{f'  ({p.note})' if p.note else ''}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, action="append", help="TSV files (default: the set and the held-out set)")
    parser.add_argument("--misses", type=int, default=40, help="wrong decisions to list per file")
    args = parser.parse_args(argv)
    print(f"command: {Path(sys.executable).name} bench/grouping.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; merge at score ≥ {SIMILARITY}, "
          f"suggest at plain Dice ≥ {SUGGEST}")
    judge = PairJudge()
    for path in args.pairs or [p for p in (PAIRS, HELD_OUT) if p.exists()]:
        report(judge, path.resolve(), args.misses)


if __name__ == "__main__":
    main()
