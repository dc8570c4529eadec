"""`python -m bot web`: the production web server alone (no scheduler, no fake WeChat API).

What production runs (the systemd unit, the container) and what `python -m bot run` starts for its web part.
With `REDIS_URL` the server replaces this process (it receives the service manager's signals itself); without
it, one embedded Redis is started under `data/` for the server's lifetime (a single host).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import FrameType

import click

from bot.cli.common import config_or_exit
from bot.config import Config, ConfigError

_BIND = re.compile(r"(?:\[[0-9a-fA-F:.]+\]|[\w.-]+):\d{1,5}|unix:/\S+|fd://\d+")


def server_argv(bind: str, workers: int, log_level: str = "info") -> list[str]:
    """The WSGI server's command line: gunicorn, sync workers (one request each; slow handlers on threads)."""
    # --timeout: a worker stuck this long is replaced; the webhook itself answers within its 4 s deadline.
    # --graceful-timeout: on SIGTERM, and on SIGINT by the hooks, workers finish the requests they accepted
    # (up to 10 s).
    return [sys.executable, "-m", "gunicorn", "bot.wsgi:app", "--bind", bind, "--workers", str(workers),
            "--worker-class", "sync", "--timeout", "30", "--graceful-timeout", "10", "--log-level", log_level,
            "--no-control-socket", "--config", "python:bot.web.gunicorn_hooks"]


def default_workers(env: Mapping[str, str]) -> int:
    """$WEB_CONCURRENCY, else two sync workers per core (one waits on Redis while the other computes)."""
    return int(env.get("WEB_CONCURRENCY", "0") or 0) or 2 * (os.cpu_count() or 1)


def check_redis(config: Config, url: str) -> None:
    """Stop with the reason when this Redis would lose accepted questions and the mode does not allow that."""
    from bot.checks import check_store
    from bot.store import Store

    store = Store.from_url(url)
    try:
        check_store(config, store)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@click.command("web")
@click.option("--bind", default=lambda: os.environ.get("BIND", "127.0.0.1:8000"),
              show_default="$BIND or 127.0.0.1:8000", help="HOST:PORT, unix:/PATH or fd://N.")
@click.option("--workers", type=click.IntRange(1, 64), default=lambda: default_workers(os.environ),
              show_default="$WEB_CONCURRENCY or 2 per core")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True, help="The server's own log lines (the bot's follow LOG_LEVEL).")
def web_command(bind: str, workers: int, log_level: str) -> None:
    """Run the web server (the webhook, the console and its API) in the foreground; Ctrl-C or SIGTERM stops it."""
    if not _BIND.fullmatch(bind):
        raise click.BadParameter(f"{bind!r} is not HOST:PORT, unix:/PATH or fd://N", param_hint="--bind")
    config = config_or_exit()  # a config error is one line naming the field, before any worker starts
    argv = server_argv(bind, workers, log_level)
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        check_redis(config, url)
        os.execv(sys.executable, argv)  # the server is now this process: signals and exit codes are its own
    _serve_with_embedded_redis(argv)


def _serve_with_embedded_redis(argv: list[str]) -> None:
    """Without REDIS_URL: one embedded Redis under data/ for all workers, for as long as the server runs."""
    from bot.store import EmbeddedRedis

    data_dir = os.environ.get("BOT_DATA_DIR", "data")
    embedded = EmbeddedRedis(data_dir)
    try:  # not checked here: it is append-only by construction, and each worker checks its store at start-up
        click.echo(f"Redis: embedded, persisted under {data_dir}/ (one host only; set REDIS_URL to scale out).")
        # Its own session: a terminal's Ctrl-C reaches only us, and gunicorn gets TERM (graceful) rather than
        # INT (its quick shutdown, which would drop requests it accepted).
        fds = tuple(int(a[len("fd://"):]) for a in argv if a.startswith("fd://"))  # a socket handed to us
        server = subprocess.Popen(argv, env={**os.environ, "REDIS_URL": embedded.url}, start_new_session=True,
                                  pass_fds=fds)

        def forward(signum: int, frame: FrameType | None) -> None:
            server.send_signal(signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        code = server.wait()
    finally:
        embedded.close()
    sys.exit(code)
