"""Faults while publishing: the scheduler process killed at each step, and WeChat slow or failing mid-run.

A killed scheduler is a real `python -m scheduler` stopped with SIGKILL while the fake WeChat API holds the
step's request (a `delay` fault), so the kill lands exactly inside that call or right after the step before
it. A held request WeChat acts on once let go models a call that went through with its answer lost; one that
is answered with an HTTP error then models a call WeChat never acted on (the process died before making it).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.questions.posts import PostService
from bot.questions.privacy import Pseudonymizer
from bot.store import Store
from bot.wechat.api import HTTP_ERROR, MEANINGS, TIMEOUT
from tests.conftest import ROOT, service_env, wait_for
from tests.test_publishing import answered_post, calls, finish_by_event

ASKERS = ("o_ask_1", "o_ask_2", "o_ask_3")
HOLD = 60.0  # a held request waits at most this long; every test lets it go long before
UNKNOWN = "outcome unknown"


def fast_config(tmp_path: Path, api_timeout: int = 5) -> Path:
    """The sample config with a 1 s tick and 2 s leases, so a killed scheduler's post is resumed in seconds."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    for old, new in (("tick_seconds: 30 ", "tick_seconds: 1 "), ("lease_seconds: 600 ", "lease_seconds: 2 "),
                     ("notify_lease_seconds: 300 ", "notify_lease_seconds: 2 "),
                     ("api_timeout_seconds: 5\n", f"api_timeout_seconds: {api_timeout}\n")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Schedulers:
    """Starts `python -m scheduler` processes on the test's Redis prefix and fake WeChat; none outlives the test."""

    env: dict[str, str]
    log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as err:
            proc = subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=ROOT, env=self.env, stderr=err)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no shutdown code runs, nothing is recorded after the step it was in."""
        proc.kill()
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def schedulers(redis_url: str, store: Store, fake_wechat: Any, tmp_path: Path) -> Iterator[Schedulers]:
    env = service_env(redis_url, store, fake_wechat, BOT_CONFIG=str(fast_config(tmp_path)))
    found = Schedulers(env, tmp_path / "scheduler.log")
    try:
        yield found
    finally:
        found.stop_all()


def post_of(store: Store, pid: str) -> dict[str, str]:
    post = store.post(pid)
    assert post is not None
    return post


def told(fake: Any) -> Counter[str]:
    """How many customer-service messages each follower got."""
    return Counter(m.touser for m in fake.state.custom_messages())


def settled(store: Store, pid: str) -> bool:
    """Nothing left for any tick to do: published with every asker handled, or failed for an editor."""
    status = post_of(store, pid)["status"]
    if status == "failed":
        return True
    return status == "published" and store.notifications_left(pid) == 0 and pid not in store.finishing_posts()


def held(fake: Any, path: str) -> bool:
    return bool(fake.state.held().get("/cgi-bin/" + path))


@dataclass(frozen=True)
class Kill:
    """Where the scheduler is killed: the call held, whether WeChat acts on it once let go, what must be recorded."""

    path: str
    acted: bool  # False: answered 503 once let go, as if the dead process had never made the call
    recorded: str = ""  # a post field the step before must have stored first ("" for none)
    outcome: str = "published"  # or "unknown": the post left failed for an editor's check

    @property
    def polled(self) -> bool:
        """The scheduler itself must find the job done (its poll or its notifying is the step killed)."""
        return self.path in ("freepublish/get", "message/custom/send")


# Right after a step that calls WeChat is right before the next call: held, then never acted on. (A kill
# between two Redis writes with no call between, say after the draft is recorded and before the submit is
# marked, cannot be reached so; tests/test_publishing.py crashes the publisher there in process.)
KILLS = {
    "inside-cover-upload": Kill("material/add_material", acted=True),
    "after-cover-upload": Kill("draft/add", acted=False, recorded="cover_media_id"),
    "inside-draft-add": Kill("draft/add", acted=True, recorded="cover_media_id"),
    # The submit is marked on the post before it is made: from here on the outcome is unknown to a resumer.
    "after-draft-add-submit-not-taken": Kill("freepublish/submit", acted=False, recorded="draft_media_id",
                                             outcome="unknown"),
    "inside-submit-taken": Kill("freepublish/submit", acted=True, recorded="draft_media_id", outcome="unknown"),
    "after-submit": Kill("freepublish/get", acted=True, recorded="publish_id"),
    "inside-notification": Kill("message/custom/send", acted=True, recorded="url"),
    "notification-not-sent": Kill("message/custom/send", acted=False, recorded="url"),
}


@pytest.mark.parametrize("where", list(KILLS))
def test_scheduler_killed_at_each_step_publishes_once(where: str, schedulers: Schedulers, posts: PostService,
                                                      store: Store, fake_wechat: Any) -> None:
    """SIGKILL at a step, a new scheduler: published once (or failed for an editor), each asker told once."""
    kill = KILLS[where]
    state = fake_wechat.state
    # Where the kill is before the poll, the job's end comes as on a live account, by PUBLISHJOBFINISH to a web
    # instance (played by this test), racing the scheduler's ticks for the askers; no 5 s wait for a poll.
    state.configure(publish_polls=0 if kill.polled else -1)
    state.inject("/cgi-bin/" + kill.path, delay=HOLD, **({} if kill.acted else {"http_status": 503}))
    pid = answered_post(posts, store)
    posts.schedule(pid, datetime.now(UTC))

    first = schedulers.start()
    wait_for(lambda: held(fake_wechat, kill.path) and (not kill.recorded or post_of(store, pid).get(kill.recorded)),
             timeout=30)
    schedulers.kill(first)
    state.release_delays()  # WeChat answers the dead process's call (acting on it, or not)
    wait_for(lambda: not state.held())
    schedulers.start()
    if not kill.polled and kill.outcome == "published":
        finish_by_webhook(posts, store, fake_wechat, pid)
    wait_for(lambda: settled(store, pid), timeout=30)

    post = post_of(store, pid)
    submits = calls(fake_wechat, "freepublish/submit")
    if kill.outcome == "unknown":
        # The process died between marking the submit and recording its answer: nobody can know whether
        # WeChat took it, so the post waits for an editor's look at the published list, never resubmitted.
        assert post["status"] == "failed" and UNKNOWN in post["failure"] and "发表记录" in post["failure"]
        assert posts.show(pid).errors[-1]["step"] == "submit"
        assert len(submits) == int(kill.acted) and told(fake_wechat) == Counter()
        finish_after_the_editors_check(posts, store, fake_wechat, pid, live=kill.acted)
        post = post_of(store, pid)
    assert post["status"] == "published" and post["url"].startswith("https://mp.weixin.qq.com/s/")
    assert len(calls(fake_wechat, "freepublish/submit")) == 1  # WeChat took exactly one submit of the post
    assert {c.body["media_id"] for c in state.calls("/cgi-bin/freepublish/submit")} == {post["draft_media_id"]}
    expected = dict.fromkeys(ASKERS, 1)
    if where == "inside-notification":
        # The documented at-least-once window: killed inside the send (WeChat delivered it), that asker's claim
        # is re-driven after notify_lease_seconds and the link sent again; everyone else is told once.
        [held_send] = [c for c in state.calls("/cgi-bin/message/custom/send") if c.fault]
        expected[held_send.body["touser"]] = 2
    assert told(fake_wechat) == Counter(expected)
    # A call the dead process made and WeChat acted on leaves an unused cover or draft behind, nothing more.
    assert len(calls(fake_wechat, "draft/add")) == (2 if where == "inside-draft-add" else 1)
    assert len(calls(fake_wechat, "material/add_material")) == (2 if where == "inside-cover-upload" else 1)
    logged = schedulers.log.read_text(encoding="utf-8")
    assert "o_ask_" not in logged and "豆腐" not in logged  # neither openids nor question text in the log


def finish_by_webhook(posts: PostService, store: Store, fake: Any, pid: str) -> None:
    """Once the scheduler has recorded the submit, WeChat ends the job and pushes PUBLISHJOBFINISH."""
    publish_id = wait_for(lambda: post_of(store, pid).get("publish_id"), timeout=30)
    assert finish_by_event(posts, fake, posts.config, publish_id) == pid


def finish_after_the_editors_check(posts: PostService, store: Store, fake: Any, pid: str, live: bool) -> None:
    """What the failure tells the editor to do after looking at 发表记录; the running scheduler does the rest."""
    if live:  # the job is there: its link recorded, the askers then told by the scheduler's tick
        [job] = fake.state.snapshot()["publish_jobs"]
        done = fake.state.finish_publish(job["publish_id"])
        posts.mark_published(pid, done["article_detail"]["item"][0]["article_url"])
    else:  # not there: rescheduled, and the same draft is submitted
        posts.schedule(pid, datetime.now(UTC) - timedelta(seconds=1))
        finish_by_webhook(posts, store, fake, pid)
    wait_for(lambda: settled(store, pid) and post_of(store, pid)["status"] == "published", timeout=30)


# -- WeChat slow or failing mid-run ---------------------------------------------------------------------------
# The publisher in this process on the fake API, its clock moved on from tick to tick so backoffs of minutes
# pass at once; the client's own sleeps between retries are recorded instead of slept.

TICKS = (0, 10, 40, 61, 70, 100, 181, 200, 400, 800)  # seconds after the schedule: polls, retries, askers


@pytest.fixture
def sleeps(qa_api: Any) -> list[float]:
    """The backoffs the API client waited between retries of one call."""
    waited: list[float] = []
    qa_api.sleep = waited.append
    return waited


def run_until_settled(posts: PostService, store: Store, fake: Any, pid: str, start: datetime) -> dict[str, str]:
    """Ticks as the scheduler would make them, until nothing is left to do; the post then."""
    try:
        for offset in TICKS:
            posts.tick(start + timedelta(seconds=offset))
            if settled(store, pid):
                return post_of(store, pid)
    finally:
        fake.state.release_delays()  # a request the client gave up on answers now instead of holding the fake
    raise AssertionError(f"post {pid} not settled: {post_of(store, pid)}")


def requests_to(fake: Any, path: str, at_least: int = 0) -> list[Any]:
    """Every request to `path` that reached the fake, refused ones included (a held one counts once answered)."""
    fake.state.wait_calls(at_least, "/cgi-bin/" + path)
    return fake.state.calls("/cgi-bin/" + path)


def links(posts: PostService, store: Store, fake: Any) -> dict[str, int]:
    """Per asker: the post's link sent as a message, plus kept for their next reply (taken: asked once)."""
    pseudonym = Pseudonymizer(posts.config.secret_key)
    sent = told(fake)
    return {openid: sent[openid] + len(store.take_pending_links(pseudonym(openid))) for openid in ASKERS}


PUBLISH_FAULTS = {
    # name: (path, fault, requests that reach the fake, client backoffs, post status, error code recorded)
    "draft-timeout-once": ("draft/add", {"delay": 2.0}, 2, [0.5], "published", None),
    "draft-5xx-every-try": ("draft/add", {"http_status": 502, "times": 3}, 4, [0.5, 1.0], "published", HTTP_ERROR),
    "cover-busy-once": ("material/add_material", {"errcode": -1}, 2, [0.5], "published", None),
    "submit-token-expired": ("freepublish/submit", {"errcode": 40001}, 2, [], "published", None),
    "submit-busy-per-minute": ("freepublish/submit", {"errcode": 45011}, 2, [0.5], "published", None),
    "submit-daily-quota": ("freepublish/submit", {"errcode": 45009}, 1, [], "failed", 45009),
    "submit-timeout": ("freepublish/submit", {"delay": 2.0}, 1, [], "failed", TIMEOUT),
    "submit-5xx": ("freepublish/submit", {"http_status": 503}, 1, [], "failed", HTTP_ERROR),
    "submit-system-busy": ("freepublish/submit", {"errcode": -1}, 1, [], "failed", -1),
    "poll-5xx-every-try": ("freepublish/get", {"http_status": 502, "times": 3}, 5, [0.5, 1.0], "published",
                           HTTP_ERROR),
    "poll-timeouts": ("freepublish/get", {"delay": 2.0, "times": 3}, 5, [0.5, 1.0], "published", TIMEOUT),
}


@pytest.mark.parametrize("name", list(PUBLISH_FAULTS))
def test_wechat_failing_while_publishing(name: str, posts: PostService, store: Store, fake_wechat: Any,
                                         sleeps: list[float]) -> None:
    """Retried with backoff within limits; published once, or failed with the reason shown; askers told once."""
    path, fault, reached, backoffs, status, code = PUBLISH_FAULTS[name]
    pid = answered_post(posts, store)
    start = datetime.now(UTC)
    posts.schedule(pid, start)
    fake_wechat.state.inject("/cgi-bin/" + path, **fault)
    post = run_until_settled(posts, store, fake_wechat, pid, start)

    assert len(requests_to(fake_wechat, path, reached)) == reached and sleeps == backoffs
    errors = posts.show(pid).errors
    assert [e["code"] for e in errors] == ([code] if code is not None else [])
    if code is not None:
        assert errors[0]["meaning"] == MEANINGS[code]
    assert post["status"] == status
    if status == "published":
        assert len(calls(fake_wechat, "freepublish/submit")) == len(fake_wechat.state.snapshot()["publish_jobs"]) == 1
        assert links(posts, store, fake_wechat) == dict.fromkeys(ASKERS, 1)
        return
    assert MEANINGS[code] in post["failure"]
    if code != 45009:  # WeChat may have taken it: never submitted again by us, an editor checks 发表记录
        assert UNKNOWN in post["failure"] and "发表记录" in post["failure"]
    assert len(requests_to(fake_wechat, "freepublish/submit")) == 1 and told(fake_wechat) == Counter()


NOTIFY_FAULTS = {
    # name: (fault on the first asker's send, requests to custom/send, backoffs, the first asker's messages,
    #        their link kept for their next reply, error recorded on the post)
    "token-expired": ({"errcode": 40001}, 4, [], 1, False, None),  # refused before sending: again, new token
    "per-minute-limit": ({"errcode": 45011, "times": 3}, 6, [0.5, 1.0], 1, False, 45011),  # on a later tick
    "daily-quota": ({"errcode": 45009}, 3, [], 0, True, 45009),
    # The outcome unknown: never sent again, the link kept for their next reply. Here WeChat had sent it
    # (the fake acts once the client gave up), so the follower sees the link twice: at least once, as documented.
    "timeout": ({"delay": 2.0}, 3, [], 1, True, TIMEOUT),
    "5xx": ({"http_status": 502}, 3, [], 0, True, HTTP_ERROR),
    "system-busy": ({"errcode": -1}, 3, [], 0, True, -1),
}


@pytest.mark.parametrize("name", list(NOTIFY_FAULTS))
def test_wechat_failing_while_telling_the_askers(name: str, posts: PostService, store: Store, fake_wechat: Any,
                                                 sleeps: list[float]) -> None:
    """Each asker gets the link once: as a message, or with their next reply when WeChat may have sent it."""
    fault, reached, backoffs, messages, kept, code = NOTIFY_FAULTS[name]
    pid = answered_post(posts, store)
    start = datetime.now(UTC)
    posts.schedule(pid, start)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", **fault)
    post = run_until_settled(posts, store, fake_wechat, pid, start)

    sends = requests_to(fake_wechat, "message/custom/send", reached)
    assert post["status"] == "published" and len(sends) == reached and sleeps == backoffs
    assert len(calls(fake_wechat, "freepublish/submit")) == 1
    first = next(c for c in sends if c.fault).body["touser"]  # the asker whose send met the fault
    assert told(fake_wechat) == Counter({**dict.fromkeys(ASKERS, 1), first: messages})
    assert links(posts, store, fake_wechat) == {**dict.fromkeys(ASKERS, 1), first: messages + int(kept)}
    errors = posts.show(pid).errors
    assert [(e["step"], e["code"]) for e in errors] == ([("notify", code)] if code is not None else [])


def test_a_real_scheduler_rides_out_wechat_failing_at_every_step(schedulers: Schedulers, posts: PostService,
                                                                 store: Store, fake_wechat: Any,
                                                                 tmp_path: Path) -> None:
    """One `python -m scheduler`, WeChat failing once at each call (its real backoffs): published once, told once."""
    state = fake_wechat.state
    state.configure(publish_polls=0)
    schedulers.env["BOT_CONFIG"] = str(fast_config(tmp_path, api_timeout=1))  # a held request times out in 1 s
    faults: list[tuple[str, dict[str, Any]]] = [
        ("material/add_material", {"errcode": -1}), ("draft/add", {"http_status": 502}),
        ("freepublish/submit", {"errcode": 40001}), ("freepublish/get", {"delay": HOLD}),
        ("message/custom/send", {"errcode": 45011}), ("message/custom/send", {"errcode": 45009})]
    for path, fault in faults:
        state.inject("/cgi-bin/" + path, **fault)
    pid = answered_post(posts, store)
    posts.schedule(pid, datetime.now(UTC))
    schedulers.start()
    try:
        wait_for(lambda: settled(store, pid), timeout=40)
    finally:
        state.release_delays()

    post = post_of(store, pid)
    assert post["status"] == "published" and post["attempts"] == "0"  # every failure ridden out within its call
    for path, reached in (("material/add_material", 2), ("draft/add", 2), ("freepublish/submit", 2),
                          ("freepublish/get", 2), ("message/custom/send", 4)):
        assert len(requests_to(fake_wechat, path, reached)) == reached, path
    assert len(calls(fake_wechat, "freepublish/submit")) == 1 and len(state.snapshot()["publish_jobs"]) == 1
    refused_submit = next(c for c in state.calls("/cgi-bin/freepublish/submit") if c.fault)
    assert state.calls("/cgi-bin/stable_token", since=refused_submit.seq)  # a new token, then the submit again
    quota = next(c for c in state.calls("/cgi-bin/message/custom/send") if c.errcode == 45009).body["touser"]
    assert told(fake_wechat) == Counter({a: 1 for a in ASKERS if a != quota})
    assert links(posts, store, fake_wechat) == dict.fromkeys(ASKERS, 1)  # the quota-hit asker's with their next reply
    assert [(e["step"], e["code"]) for e in posts.show(pid).errors] == [("notify", 45009)]
