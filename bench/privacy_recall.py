"""The scrubber over tests/data/privacy_corpus.tsv: PII recall, clinical retention, exact matches, throughput.

Run from the project root: `.venv/bin/python bench/privacy_recall.py [--runs 20]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from bot.questions.privacy import scrub  # noqa: E402
from tests.test_privacy_corpus import CORPUS, load_corpus  # noqa: E402  (one reader of the corpus format)


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")), "") if cpuinfo.exists() else ""
    return (f"{platform.platform()}, {model or platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed passes over the whole corpus")
    args = parser.parse_args(argv)
    cases = load_corpus()
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; corpus: {CORPUS.relative_to(ROOT)}, {len(cases)} messages")

    outputs = [scrub(c.text) for c in cases]
    pii = [(c, s, s not in out) for c, out in zip(cases, outputs, strict=True) for s in c.pii]
    kept = [(c, s, s in out) for c, out in zip(cases, outputs, strict=True) for s in c.kept]
    exact = sum(out == c.expected for c, out in zip(cases, outputs, strict=True))
    removed, present = sum(ok for *_, ok in pii), sum(ok for *_, ok in kept)
    print(f"PII recall: {removed}/{len(pii)} spans removed = {removed / len(pii):.1%}")
    print(f"clinical retention: {present}/{len(kept)} spans kept = {present / len(kept):.1%}")
    print(f"exact matches: {exact}/{len(cases)} = {exact / len(cases):.1%}")
    for c, s, ok in pii + kept:
        if not ok:
            print(f"  line {c.line}{' (known miss)' if c.known_miss else ''}: {s!r} "
                  f"{'left in' if s in c.pii else 'lost'}")
    known = [c for c in cases if c.known_miss]
    print(f"known misses: {len(known)}")
    for c, out in zip(cases, outputs, strict=True):
        if c.known_miss or out != c.expected:
            label = "known miss" if c.known_miss else "UNEXPECTED"
            print(f"  line {c.line} ({label}): {c.text}\n    got:  {out}\n    want: {c.expected}")

    texts = [c.text for c in cases]
    for text in texts:  # warm up: compiled patterns, caches
        scrub(text)
    rates = []
    for _ in range(args.runs):
        began = time.perf_counter()
        for text in texts:
            scrub(text)
        rates.append(len(texts) / (time.perf_counter() - began))
    print(f"throughput: {statistics.median(rates):,.0f} messages/s median of {args.runs} passes "
          f"(best {max(rates):,.0f}, worst {min(rates):,.0f}; "
          f"{1e6 / statistics.median(rates):.0f} µs per message)")


if __name__ == "__main__":
    main()
