"""`python -m bot run`: the whole service in the foreground (web, scheduler; in development Redis and fake WeChat)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from types import FrameType

import click

from bot.cli.common import config_or_exit
from bot.cli.web import check_redis, default_workers
from bot.config import Config


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _mode_line(config: Config, env: Mapping[str, str]) -> str:
    """The first line `make run` prints: which mode this is and what that means."""
    if config.mode == "production":
        return "Production mode."
    if config.mode == "staging":
        return (f"Staging mode: an AppSecret with the WeChat API on loopback ({config.wechat.api_base_url}); "
                f"{len(config.warnings)} setting(s) that production would refuse:")
    api = f"the WeChat API at {env['WECHAT_API_BASE_URL']}" if env.get("WECHAT_API_BASE_URL") else "our fake WeChat API"
    redis = "Redis at $REDIS_URL" if env.get("REDIS_URL") else "embedded Redis"
    return f"Development mode (not for production; the sample config's secrets are accepted): {api}, {redis}."


def _has_users(url: str) -> bool:
    from bot.store import Store

    store = Store.from_url(url)
    try:
        return bool(store.user_names())
    except Exception:  # Redis unreachable: the check above says so; no password is made up for it
        return True
    finally:
        store.close()


@click.command("run")
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="$HOST or 127.0.0.1")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")), show_default="$PORT or 8000")
@click.option("--workers", type=click.IntRange(1, 64), show_default="$WEB_CONCURRENCY or 2 per core",
              default=lambda: default_workers(os.environ))
def run_command(host: str, port: int, workers: int) -> None:
    """Start the web server (`python -m bot web`), the scheduler and, when needed, Redis and the fake WeChat API."""
    from bot.store import EmbeddedRedis

    config = config_or_exit()
    env = dict(os.environ)
    click.echo(_mode_line(config, env))
    for warning in config.warnings:
        click.echo(f"  warning: {warning}")
    children: list[subprocess.Popen[bytes]] = []
    embedded = None
    # Every child counts its metrics into files here; a fresh directory, so no earlier run's counts add in.
    metrics_dir = tempfile.mkdtemp(prefix="wxbot-metrics-")
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    notes = []
    if not env.get("REDIS_URL"):
        data_dir = env.get("BOT_DATA_DIR", "data")
        embedded = EmbeddedRedis(data_dir)
        env["REDIS_URL"] = embedded.url
        notes.append(f"Redis: embedded, persisted under {data_dir}/")
    else:
        notes.append("Redis: $REDIS_URL")
        check_redis(config, env["REDIS_URL"])  # before any child starts: production refuses a volatile one
    if config.mode == "development":  # what `python -m bot check` says, before anything is started
        from bot.checks import run_checks
        from bot.store import Store

        for finding in run_checks(env, lambda: Store.from_url(env["REDIS_URL"])):
            click.echo("  " + finding.line().replace("\n", "\n  "))
    console = f"Console: http://{host}:{port}/console/"
    if config.mode == "development" and not env.get("BOT_ADMIN_PASSWORD") and not _has_users(env["REDIS_URL"]):
        # A fresh machine has no console user yet: a first admin with a one-off password, shown here only.
        env["BOT_ADMIN_PASSWORD"] = secrets.token_urlsafe(12)
        console += f" (first admin: admin / {env['BOT_ADMIN_PASSWORD']}; development only, change it)"
    if config.mode == "development" and not env.get("WECHAT_API_BASE_URL"):
        fake_port = _free_port()
        env["WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{fake_port}"
        env["WECHAT_APP_SECRET"] = "fake-secret-for-local-runs"
        env["BOT_ENV"] = "development"  # the fake's secret must not make the children read as staging
        # The fake pushes as WeChat does for this account: signed with its token, and encrypted (safe mode)
        # when it has an EncodingAESKey. Secrets go through the fake's environment, not its visible argv.
        fake_env = {**env, "FAKE_WECHAT_TOKEN": config.wechat.token,
                    "FAKE_WECHAT_AES_KEY": config.wechat.encoding_aes_key}
        children.append(subprocess.Popen(
            [sys.executable, "-m", "bot", "fake-wechat", "--port", str(fake_port),
             "--appid", config.wechat.app_id, "--secret", env["WECHAT_APP_SECRET"],
             "--webhook-url", f"http://{host}:{port}/wechat"],
            env=fake_env))
        notes.append(f"WeChat API: our fake server at {env['WECHAT_API_BASE_URL']} (no WECHAT_APP_SECRET set)")
    # The production web server, as `python -m bot web` runs it (it replaces itself by the server).
    children.append(subprocess.Popen([sys.executable, "-m", "bot", "web", "--bind", f"{host}:{port}", "--workers",
                                      str(workers)], env=env))
    children.append(subprocess.Popen([sys.executable, "-m", "scheduler"], env=env))
    click.echo(f"Serving http://{host}:{port}/wechat ({workers} workers). " + "; ".join(notes) + ".")
    click.echo(console)
    click.echo("Try it: python -m bot simulate 问卷    (Ctrl-C stops everything)")

    class Stop(Exception):
        """Raised from the signal handler: os.wait() is otherwise resumed after a handled signal."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stop

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if any(c.pid == pid for c in children):
                code = os.waitstatus_to_exitcode(status) or 1
                click.echo(f"a service process exited (code {code}); stopping everything", err=True)
                break
    except Stop:
        click.echo("stopping")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C or TERM must not skip the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.exit(code)

