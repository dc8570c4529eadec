"""Run the scheduler process: `python -m scheduler` (started by `make run` beside the web server)."""

from __future__ import annotations

import logging
import os
import signal
import sys

from apscheduler.schedulers.background import BackgroundScheduler

from bot import build_bot, connect_store
from bot.config import ConfigError, load_config
from bot.logs import setup_logging
from scheduler import jobs


def main() -> int:
    try:
        setup_logging(os.environ, "%(asctime)s scheduler %(levelname)s %(name)s: %(message)s")
        config = load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Stop signals are taken synchronously by sigwait below, never by a handler: an exception raised into
    # whatever the main thread was doing can leave one of APScheduler's locks held and hang the shutdown.
    # Blocked before any thread starts, so every thread inherits the mask.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        bot = build_bot(config, connect_store(os.environ))
    except ConfigError as exc:  # the Redis server would lose questions (production)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sched = BackgroundScheduler(timezone=config.account.timezone,
                                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    sched.add_job(jobs.counted(jobs.deliver_outbox), "interval", seconds=30, args=[bot.store, bot.api],
                  kwargs={"keep": config.retention.outbox_max}, id="deliver_outbox")
    # Q&A reply posts: each schedule's batch on its cron, plus a tick that publishes due posts, polls running
    # jobs, tells askers and catches up a batch slot missed while no scheduler ran. Both are safe to run in
    # any number of processes (Redis claims), so a second scheduler never repeats them.
    posts = bot.ctx.services.posts
    for schedule in config.questions.schedules:
        sched.add_job(jobs.counted(jobs.qa_batch), schedule.trigger(), args=[posts, bot.ctx.clock],
                      id=f"qa_batch_{schedule.name}",
                      misfire_grace_time=3600)
    sched.add_job(jobs.counted(jobs.qa_tick), "interval", seconds=config.questions.tick_seconds,
                  args=[posts, bot.ctx.clock], id="qa_tick")
    log = logging.getLogger(__name__)
    sched.start()
    log.info("scheduler started")
    signum = signal.sigwait(stop_signals)
    log.info("stopping on %s; waiting for a running job to finish", signal.Signals(signum).name)
    sched.shutdown(wait=True)  # let a running job (a publishing step, say) finish
    bot.close()
    log.info("scheduler stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
