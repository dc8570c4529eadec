"""`python -m scheduler` as its own process: starts with its jobs, stops cleanly, refuses bad config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.store import Store
from tests.conftest import ROOT


def scheduler_env(redis_url: str, prefix: str, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    env.update(REDIS_URL=redis_url, BOT_REDIS_PREFIX=prefix, BOT_CONFIG=str(config))
    return env


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_scheduler_starts_with_its_jobs_and_stops(redis_url: str, store: Store, signum: int) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env=scheduler_env(redis_url, store.prefix, ROOT / "config.yaml"))
    watchdog = threading.Timer(60, proc.kill)  # a hung start fails the test instead of hanging it
    watchdog.start()
    lines = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "Scheduler started" in line:
                break
        proc.send_signal(signum)  # at once: a stop during start-up must work too
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0, rest
        assert "scheduler stopped" in rest
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()  # reaped even after a failure (an unreaped Popen warns, failing a later test)
        if proc.stderr is not None:
            proc.stderr.close()
    log = "".join(lines)
    for job in ("deliver_outbox", "qa_batch", "qa_tick"):
        assert f'Added job "{job}"' in log, log


def test_scheduler_refuses_bad_config_naming_the_field(redis_url: str, store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text((ROOT / "config.yaml").read_text(encoding="utf-8").replace("timezone: Asia/Shanghai\n",
                                                                              "timezone: Mars/Base\n", 1),
                   encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "scheduler"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=scheduler_env(redis_url, store.prefix, bad))
    assert done.returncode == 2 and "account.timezone: unknown time zone" in done.stderr
