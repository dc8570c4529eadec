"""`python -m bot web`: the production web server alone, as production and `make run` start it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from bot.config import Config
from bot.store import Store
from bot.wechat.simulator import Account, message_xml, signed_request
from tests.conftest import ROOT, gunicorn_process, wait_for


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_", "REDIS_URL"))}
    return {**env, "BOT_CONFIG": str(ROOT / "config.yaml"), **extra}


def test_a_bind_that_is_no_address_is_refused_naming_the_option() -> None:
    out = subprocess.run([sys.executable, "-m", "bot", "web", "--bind", "8000"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--bind" in out.stderr and "HOST:PORT" in out.stderr


def test_without_redis_url_development_serves_with_an_embedded_redis_and_stops_it(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "bot", "web", "--bind", f"fd://{listener.fileno()}",
                                 "--workers", "1", "--log-level", "warning"], cwd=ROOT,
                                env=_env(BOT_DATA_DIR=str(tmp_path)), pass_fds=(listener.fileno(),),
                                stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/healthz"

    def up() -> bool:
        assert proc.poll() is None, "the server exited"
        try:
            return requests.get(url, timeout=1).json() == {"status": "ok", "redis": True}
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, timeout=60)
        redis_servers = [p for p in psutil.process_iter(["cmdline", "cwd"])
                         if "redis" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in (p.info["cwd"] or "")]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Redis: embedded" in out
    assert redis_servers and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in redis_servers)
    assert any(tmp_path.iterdir())  # persisted under BOT_DATA_DIR


@pytest.mark.parametrize("stop", ["SIGTERM to the server", "Ctrl-C (SIGINT to its whole process group)"])
def test_stopping_lets_an_accepted_push_finish(redis_url: str, store: Store, base_config: Config, stop: str) -> None:
    """A push the server has accepted when it is told to stop is still answered (a graceful stop), whether by
    SIGTERM (systemd, docker) or by a terminal's Ctrl-C, which gunicorn alone treats as a quick shutdown."""
    acct = Account(base_config.wechat.token, base_config.wechat.app_id, base_config.wechat.encoding_aes_key,
                   base_config.account.original_id)
    query, body = signed_request(acct, message_xml(acct, "o_graceful", text="问卷", msg_id=7_700_000_001))
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    env = _env(REDIS_URL=redis_url, BOT_REDIS_PREFIX=store.prefix)
    with gunicorn_process(env, workers=1, own_group=True) as (url, proc):
        port = int(url.rsplit(":", 1)[1])
        [worker] = psutil.Process(proc.pid).children()
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (f"POST /wechat?{qs} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        conn.sendall(head + body[:10])  # the worker now waits for the rest of the body

        def taken() -> bool:  # the worker holds our connection: it has accepted the push
            return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
                       for c in worker.net_connections("tcp"))

        wait_for(taken, timeout=30)
        if stop.startswith("SIGTERM"):
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        conn.sendall(body[10:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        conn.close()
        proc.wait(timeout=60)
    assert answer.startswith(b"HTTP/1.1 200") and b"<MsgType><![CDATA[" in answer  # the survey's reply
    assert proc.returncode == 0 and store.outcome("m:7700000001") is not None
