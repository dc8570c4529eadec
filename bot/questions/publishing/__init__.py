"""Publishing reply posts on WeChat exactly once, resuming after crashes, then telling the askers.

A post moves draft → scheduled → publishing → published | failed (`post_states`). Whoever moves it from
scheduled to publishing (a check-and-set in the store) holds a lease and alone runs the steps, one module
each: give unanswered questions back and make the draft (`drafting`: release, cover, draft/add), hand it
to WeChat (`handover`: freepublish/submit or message/mass/sendall, and what an error means for the
attempt), follow the job to its end (`job`: PUBLISHJOBFINISH confirmed by freepublish/get, or polling),
then tell the askers (`notify`). Each step's result is recorded on the post before the next, so a process
that dies mid-way is resumed, after its lease expires, from the recorded step: never a second draft or
post. Calls that are not idempotent (submit, sendall, customer-service sends) are never repeated after a
timeout or 5xx. Every WeChat error is recorded on the post with its meaning.
"""

from bot.questions.publishing.common import (
    FINAL_FAILURES,
    LEASE_SECONDS,
    MASS_WAIT,
    MAX_POLLS,
    NOTIFY_LEASE,
    POLL_DELAYS,
    PUBLISH_STATUS,
)
from bot.questions.publishing.job import mass_article_link
from bot.questions.publishing.publisher import Publisher

__all__ = ["FINAL_FAILURES", "LEASE_SECONDS", "MASS_WAIT", "MAX_POLLS", "NOTIFY_LEASE", "POLL_DELAYS",
           "PUBLISH_STATUS", "Publisher", "mass_article_link"]
