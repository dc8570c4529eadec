"""Batching benchmark: 100,000 pending questions into one draft reply post; wall time and peak memory.

    .venv/bin/python bench/batch.py [--questions 100000] [--unique] [--redis-url URL]

The questions go in through the real intake code (`QuestionDesk.receive`: normalise, scrub, tag,
sketch, one Lua call each) from 25,000 followers. By default they are realistic: most are rewordings
of a few hundred common questions (punctuation, particles, small changes), so merging has work to do;
`--unique` makes nearly every question different (the most groups). The batch then runs in a fresh
child process, so its time and peak RSS (getrusage) are the batch's own. Target: < 10 s, < 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.questions.desk import QuestionDesk  # noqa: E402
from bot.store import Store  # noqa: E402

SUBJECTS = ["他克莫司", "环孢素", "吗替麦考酚酯", "激素", "豆浆", "豆腐", "咖啡", "绿茶", "柚子", "运动", "游泳",
            "开车", "怀孕", "疫苗", "拔牙", "旅行", "饮酒", "感冒药", "干细胞", "停药", "复查", "肌酐", "尿蛋白",
            "血压", "血糖", "尿酸", "骨密度", "睡眠", "皮肤", "头发", "体重", "口腔溃疡", "腹泻", "贫血"]
ASKS = ["{s}可以吗", "能不能{s}", "{s}需要注意什么", "{s}有什么影响", "{s}多久一次合适", "{s}偏高怎么办",
        "{s}和免疫抑制剂有冲突吗", "术后多久可以{s}", "每天{s}多少合适", "{s}会引起排斥反应吗"]
WHO = ["", "我父亲", "我妈妈", "我爱人", "移植三年了", "移植半年", "请问医生", "医生您好"]
TAILS = ["", "？", "??", "。", "，谢谢", "，麻烦解答一下", "！"]


def question(rnd: random.Random, unique: bool, i: int) -> str:
    s, ask = rnd.choice(SUBJECTS), rnd.choice(ASKS)
    text = rnd.choice(WHO) + ask.format(s=s) + rnd.choice(TAILS)
    if unique:
        extra = "".join(rnd.choice("的了在是有和与及或吗呢吧啊哦嗯") for _ in range(3))
        text = f"{rnd.choice(SUBJECTS)}{extra}{text}第{i}例"
    elif rnd.random() < 0.1:  # some mention a phone number, which the public copy must not keep
        text += f"我的电话13{rnd.randrange(100000000, 999999999)}"
    return text


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def fill(store: Store, n: int, unique: bool) -> float:
    config = load_config(ROOT / "config.yaml", env={})
    desk = QuestionDesk(config.questions, config.articles, store, config.account.tz)
    rnd = random.Random(4)
    start = datetime.now(UTC) - timedelta(days=6)
    began = time.perf_counter()
    stored = 0
    for i in range(n * 2):
        who = i % 25_000
        received = desk.receive(openid=f"o_bench_{who}", asker=f"u_bench{who:05d}", body=question(rnd, unique, i),
                                text="", now=start + timedelta(seconds=i * 2))
        stored += received.outcome == "new"
        if stored == n:
            break
    return time.perf_counter() - began


def child(url: str, prefix: str) -> None:
    """Run one batch and print its numbers as JSON."""
    from bot.questions.batching import run_batch

    config = load_config(ROOT / "config.yaml", env={})
    store = Store.from_url(url, prefix=prefix, timeout=30)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    result = run_batch(store, config.questions, "答疑", datetime.now(UTC))
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024,
                      "post": result.post, "questions": result.questions, "groups": result.groups}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100_000)
    parser.add_argument("--unique", action="store_true", help="nearly every question different (worst case)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--child", nargs=2, metavar=("URL", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    prefix = f"bench:batch:{uuid.uuid4().hex[:8]}:"
    store = Store.from_url(args.redis_url, prefix=prefix, timeout=30)
    try:
        fill_seconds = fill(store, args.questions, args.unique)
        pending = store.pending_count()
        out = subprocess.run([sys.executable, __file__, "--child", args.redis_url, prefix], check=True,
                             capture_output=True, text=True).stdout
        numbers = json.loads(out.strip().splitlines()[-1])
        assert numbers["questions"] == pending and store.pending_count() == 0, numbers
        redis_version = store.redis.info("server")["redis_version"]
        print(f"command: {' '.join([Path(sys.executable).name, 'bench/batch.py', *sys.argv[1:]])}")
        print(f"machine: {machine()}; Redis {redis_version} at {args.redis_url}")
        print(f"intake:  {pending} questions stored through QuestionDesk.receive in {fill_seconds:.1f} s "
              f"({fill_seconds / pending * 1e6:.0f} µs each)")
        print(f"batch:   {numbers['questions']} questions -> {numbers['groups']} groups in post {numbers['post']} "
              f"in {numbers['seconds']:.2f} s; peak RSS {numbers['peak_rss_mb']:.0f} MB "
              f"({numbers['rss_before_mb']:.0f} MB before the batch)")
    finally:
        keys = list(store.redis.scan_iter(match=prefix + "*", count=10_000))
        for i in range(0, len(keys), 10_000):
            store.redis.unlink(*keys[i:i + 10_000])
        store.close()


if __name__ == "__main__":
    main()
