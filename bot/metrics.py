"""Prometheus metrics, counted in every process: the web workers, the scheduler, the CLI.

Like loggers, the metrics are process-wide: each process counts into its own memory, or, when
PROMETHEUS_MULTIPROC_DIR is set (`bot run` and the deploy files set it), into files there that any
process's `/metrics` adds up. The scheduler writes into the same directory, so its runs appear on the web's
`/metrics` (one host). Labels are bounded sets (kinds, outcomes, rule ids, errcodes), never follower data.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.registry import REGISTRY

PUSHES = Counter("wxbot_pushes", "Pushes answered, by message kind and outcome (replayed: a dedup hit)",
                 ["kind", "outcome"])
PUSH_SECONDS = Histogram("wxbot_push_seconds", "Time from a push's arrival to its reply",
                         buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.0, 5.0))
LATE_REPLIES = Counter("wxbot_late_replies", "Replies sent after the push was answered, through the "
                       "customer-service API: sent, queued (to retry) or dropped", ["result"])
QUESTIONS = Counter("wxbot_questions", "Followers' questions: stored (new), repeats (dup), over the daily limit",
                    ["outcome"])
RULE_HITS = Counter("wxbot_rule_hits", "Messages a keyword rule answered, by rule id", ["rule"])
TOKEN_REFRESHES = Counter("wxbot_token_refreshes", "Access tokens fetched from WeChat by this deployment")
API_ERRORS = Counter("wxbot_wechat_api_errors", "WeChat API calls that failed, by errcode (-1: no answer)",
                     ["errcode"])
POSTS = Counter("wxbot_posts", "Reply posts that ended published or failed", ["status"])
JOB_RUNS = Counter("wxbot_scheduler_runs", "Scheduler job runs, by job and result (ok, error)", ["job", "result"])
JOB_SECONDS = Histogram("wxbot_scheduler_run_seconds", "How long a scheduler job's run took", ["job"],
                        buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0))


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format: all processes' when multiprocess mode is on, else this one's."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
