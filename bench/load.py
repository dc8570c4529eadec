"""A sustained run: the bot under gunicorn, driven as WeChat drives it, every question read back afterwards.

64 connections (threads) send signed pushes for 60 s, plaintext and AES alternately, in a mix of questions,
keywords and events; each push is retried as WeChat does (5 s timeout, 3 tries). Redis is a server of the
run's own over TCP (AOF everysec, as in production), or --redis-url with a key prefix of its own. Reports
throughput, latency, errors, questions lost or stored twice, and each process's peak memory and CPU time;
exits 1 on any error, loss or duplicate.

    .venv/bin/python bench/load.py [--duration 60] [--connections 64] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.webhook import free_port, start  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.store import Store, delete_prefix  # noqa: E402
from bot.wechat.load import Load, Push, stored_questions, tally  # noqa: E402
from bot.wechat.simulator import Account  # noqa: E402

MIX = (0.3, 0.5, 0.2)  # questions, keywords, events
TICK = os.sysconf("SC_CLK_TCK")


def own_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server), or pass --redis-url")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", "",
                             "--appendonly", "yes", "--appendfsync", "everysec"], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def usage(pid: int) -> tuple[float, float]:
    """Peak resident memory (VmHWM, MiB) and CPU seconds (user + system) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / TICK


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def problems(pushes: list[Push]) -> dict[str, int]:
    """Everything that is not a clean answer: a try that failed (WeChat would retry), a final error, a question
    the bot did not take."""
    return {
        "failed tries": sum(t.status is None or t.status >= 500 for p in pushes for t in p.tries),
        "final errors": sum(bool(p.error) for p in pushes),
        "unanswered": sum(p.reply is None for p in pushes),
        "questions not acknowledged": sum(p.kind == "question" and p.reply is not None and not p.qid
                                          for p in pushes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="default: 2 per core")
    ap.add_argument("--redis-url", default="", help="default: a redis-server of the run's own on a free port")
    args = ap.parse_args()

    config = load_config(ROOT / "config.yaml", env={})
    acct = Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                   config.account.original_id)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="wxload-"))
    redis_proc, url = (None, args.redis_url) if args.redis_url else own_redis(tmp)
    prefix = f"bench-load:{uuid.uuid4().hex[:8]}:"
    store = Store.from_url(url, prefix=prefix, timeout=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    env.update(REDIS_URL=url, BOT_REDIS_PREFIX=prefix, BOT_CONFIG=str(ROOT / "config.yaml"), LOG_LEVEL="WARNING")
    port = free_port()
    gunicorn = start("bot.wsgi:app", port, env, args.workers)
    target = f"http://127.0.0.1:{port}"
    try:
        Load([target], acct, "warm", connections=8, mix=(0, 1, 0)).start().stop_after(2.0)  # keywords only
        load = Load([target], acct, uuid.uuid4().hex[:8], connections=args.connections, mix=MIX, aes=None)
        started = time.monotonic()
        load.start().stop_after(args.duration)
        elapsed = time.monotonic() - started
        pids = {"gunicorn master": gunicorn.pid}
        pids.update({f"gunicorn worker {n + 1}": pid for n, pid in enumerate(sorted(children(gunicorn.pid)))})
        if redis_proc is not None:
            pids["redis-server"] = redis_proc.pid
        pids["load generator (this process)"] = os.getpid()
        use = {name: usage(pid) for name, pid in pids.items()}
        pushes = load.done()
        found = tally(pushes, [(q, t) for q, t in stored_questions(store) if t and load.run_id in t])
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        delete_prefix(store.redis, prefix)
        store.close()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    bad = problems(pushes)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; load before the run: "
          f"{load_before}")
    where = "own redis-server over TCP, AOF everysec" if redis_proc else url
    print(f"gunicorn {args.workers} sync workers; Redis {where}; "
          f"{args.connections} connections for {elapsed:.1f} s; plaintext and AES alternately")
    print("Command: .venv/bin/python bench/load.py " + " ".join(sys.argv[1:]))
    print("\n| kind | pushes | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for kind in ("all", "question", "keyword", "event"):
        these = [p.seconds * 1000 for p in pushes if kind in ("all", p.kind)]
        print(f"| {kind} | {len(these)} | {len(these) / elapsed:.0f} | {percentile(these, 0.5):.2f} | "
              f"{percentile(these, 0.99):.2f} |")
    print("\n| outcome | count |\n|---|---|")
    for name, count in bad.items():
        print(f"| {name} | {count} |")
    print(f"| questions acknowledged | {found.acked} |\n| questions stored | {found.stored} |")
    print(f"| acknowledged but lost | {len(found.lost) + len(found.misfiled)} |\n"
          f"| stored twice | {len(found.duplicated)} |")
    print("\n| process | peak RSS MiB | CPU s |\n|---|---|---|")
    for name, (rss, seconds) in use.items():
        print(f"| {name} | {rss:.1f} | {seconds:.1f} |")
    if any(bad.values()) or found.lost or found.misfiled or found.duplicated or found.errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
