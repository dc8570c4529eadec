"""Run the scheduler process: `python -m scheduler` (started by `make run` beside the web server)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from apscheduler.schedulers.blocking import BlockingScheduler

from bot import build_bot, connect_store
from bot.config import ConfigError, load_config
from scheduler import jobs


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s scheduler %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bot = build_bot(config, connect_store(os.environ))
    sched = BlockingScheduler(timezone=config.account.timezone,
                              job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    sched.add_job(jobs.deliver_outbox, "interval", seconds=30, args=[bot.store, bot.api], id="deliver_outbox")
    logging.getLogger(__name__).info("scheduler started")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        sched.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
