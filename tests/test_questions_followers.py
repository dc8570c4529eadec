"""Questions' life cycle against real Redis: the follower record (openid) through unsubscribes, repeats of
questions already dealt with, and batches finished by another process."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Config
from bot.questions.batching import run_batch
from bot.questions.desk import Received
from bot.questions.posts import PostService
from bot.questions.privacy import Pseudonymizer
from bot.store import Store

NOW = datetime.now(UTC)
OPENID = "o_comes_back"


def who(posts: PostService, openid: str = OPENID) -> str:
    return Pseudonymizer(posts.config.secret_key)(openid)


def ask(posts: PostService, text: str, hours_ago: float, openid: str = OPENID) -> Received:
    return posts.desk.receive(openid=openid, asker=who(posts, openid), body=text, text="提问：" + text,
                              now=NOW - timedelta(hours=hours_ago))


def batch(posts: PostService, store: Store, hours_ago: float) -> str:
    at = NOW - timedelta(hours=hours_ago)
    result = run_batch(store, posts.qa, posts.title_for(at), at)
    assert result.post
    return result.post


def publish(posts: PostService, store: Store, pid: str, hours_ago: float, answer_all: bool = True) -> dict[str, str]:
    """Answer the post's open groups (unless told not to), publish it through the fake WeChat, tell its askers."""
    for group in store.groups(pid):
        if answer_all and group["state"] == "open" and not group["answer"]:
            posts.answer(pid, group["id"], "请遵医嘱。")
            posts.confirm(pid, [group["id"]])  # an editor read the question text
    at = NOW - timedelta(hours=hours_ago)
    posts.schedule(pid, at)
    for step in range(10):  # publish, poll until the fake's job ends, tell the askers
        posts.publisher.tick(at + timedelta(minutes=step))  # not PostService.tick: no scheduled batch meanwhile
        post = store.post(pid)
        assert post is not None
        if post["status"] == "published" and store.notifications_left(pid) == 0:
            return post
    raise AssertionError(f"post {pid} is {post['status']}")


def links_sent(fake_wechat: Any, openid: str = OPENID) -> list[str]:
    return [m.body["news"]["articles"][0]["url"] for m in fake_wechat.state.custom_messages() if m.touser == openid]


def keys_holding(store: Store, text: str) -> list[str]:
    """Keys whose name or value contains `text` (the webhook's dedup replays aside)."""
    keys = [k.decode() for k in store.redis.scan_iter(match=store.prefix + "*")]
    return [k for k in keys if ":dedup:" not in k and (text in k or text.encode() in (store.redis.dump(k) or b""))]


# -- 1. an unsubscribe and a return: stale releases never touch the newer follower record ---------------


def test_a_follower_who_came_back_is_told_about_the_question_asked_since(posts: PostService, store: Store,
                                                                         fake_wechat: Any) -> None:
    q1 = ask(posts, "移植后能吃火锅吗", hours_ago=5)
    p1 = batch(posts, store, hours_ago=4.5)
    store.forget_follower(who(posts))  # unsubscribed (what the unsubscribe handler does) ...
    q2 = ask(posts, "术后多久可以游泳", hours_ago=4)  # ... came back, and asked again
    assert q1.outcome == q2.outcome == "new"

    first = publish(posts, store, p1, hours_ago=3)
    assert links_sent(fake_wechat) == [first["url"]]  # the same person: the link reaches them
    follower = store.follower(who(posts))  # post 1's handled entry did not take the record Q2 needs
    assert follower is not None and follower["openid"] == OPENID
    assert store.open_questions(who(posts)) == {q2.qid}
    assert store.pending_question_ids() == [q2.qid]

    p2 = batch(posts, store, hours_ago=2)
    second = publish(posts, store, p2, hours_ago=1)
    assert links_sent(fake_wechat) == [first["url"], second["url"]]
    assert store.follower(who(posts)) is None and not store.open_questions(who(posts))  # nothing needs it now
    assert keys_holding(store, OPENID) == []


def reject_pending(posts: PostService, store: Store, qid: str) -> None:
    posts.reject_question(qid)


def reject_batched(posts: PostService, store: Store, qid: str) -> None:
    posts.reject_question(qid)


def reject_group(posts: PostService, store: Store, qid: str) -> None:
    pid = store.question(qid)["post"]  # type: ignore[index]
    gid = next(g["id"] for g in store.groups(pid) if any(q == qid for q, _ in g["q"]))
    posts.reject(pid, gid)


@pytest.mark.parametrize("reject", [reject_pending, reject_batched, reject_group])
def test_rejecting_a_question_asked_before_an_unsubscribe_keeps_the_newer_record(
        posts: PostService, store: Store, reject: Any) -> None:
    old = ask(posts, "移植后能吃火锅吗", hours_ago=5)
    if reject is not reject_pending:
        batch(posts, store, hours_ago=4.5)
    store.forget_follower(who(posts))
    new = ask(posts, "术后多久可以游泳", hours_ago=4)

    assert "text" not in store.question(old.qid)  # type: ignore[operator]  # its asker left: raw text gone
    assert store.question(new.qid)["text"] == "提问：术后多久可以游泳"  # type: ignore[index]
    reject(posts, store, old.qid)
    assert store.question(old.qid)["status"] == "rejected"  # type: ignore[index]
    follower = store.follower(who(posts))
    assert follower is not None and follower["openid"] == OPENID  # still needed for the new question
    assert store.open_questions(who(posts)) == {new.qid}

    posts.reject_question(new.qid)  # the last open question: the openid goes
    assert store.follower(who(posts)) is None and keys_holding(store, OPENID) == []
    assert keys_holding(store, "提问：") == []  # no text as received is left, only the scrubbed copies


@pytest.mark.parametrize("reject", [reject_pending, reject_batched, reject_group])
def test_a_rejected_question_keeps_only_its_scrubbed_text(posts: PostService, store: Store, reject: Any) -> None:
    asked = ask(posts, "我是王小明，电话13812345678，移植后能吃火锅吗", hours_ago=5)
    if reject is not reject_pending:
        batch(posts, store, hours_ago=4.5)
    reject(posts, store, asked.qid)
    q = store.question(asked.qid)
    assert q is not None and "text" not in q and "13812345678" not in q["public"]
    assert keys_holding(store, "13812345678") == []


def test_a_question_returned_unanswered_keeps_its_askers_record_until_told(posts: PostService, store: Store,
                                                                           fake_wechat: Any) -> None:
    fried = ask(posts, "移植后能吃油炸食品吗", hours_ago=5)
    ask(posts, "术后多久可以游泳", hours_ago=5, openid="o_other")
    p1 = batch(posts, store, hours_ago=4.5)
    swim = next(g for g in store.groups(p1) if g["text"].startswith("术后"))
    posts.answer(p1, swim["id"], "伤口愈合后。")  # the fried-food group stays unanswered: returned on publishing
    posts.confirm(p1, [swim["id"]])  # an editor read the question text
    store.forget_follower(who(posts))
    again = ask(posts, "移植后能吃火锅吗", hours_ago=4)

    publish(posts, store, p1, hours_ago=3, answer_all=False)
    assert store.question(fried.qid)["status"] == "new"  # type: ignore[index]
    assert store.open_questions(who(posts)) == {again.qid}  # only questions asked since the return are tracked

    p2 = batch(posts, store, hours_ago=2)
    second = publish(posts, store, p2, hours_ago=1)
    assert links_sent(fake_wechat) == [second["url"]]
    assert store.follower(who(posts)) is None


def test_no_openid_is_stored_when_askers_are_not_told(config: Config, store: Store, qa_api: Any) -> None:
    quiet = replace(config, questions=replace(config.questions, notify_askers=False))
    posts = PostService(quiet, store, qa_api, lambda: datetime.now(UTC))
    received = ask(posts, "移植后能喝豆浆吗", hours_ago=1)
    assert received.outcome == "new"
    assert store.question(received.qid)["asker"] == who(posts)  # type: ignore[index]
    assert store.follower(who(posts)) is None and not store.open_questions(who(posts))
    assert keys_holding(store, OPENID) == []
    assert "链接发给您" not in posts.desk.reply(received)
    assert ask(posts, "移植后能喝豆浆吗？", hours_ago=0.5).outcome == "dup"  # repeats still caught
    posts.reject_question(received.qid)  # nothing to release, nothing breaks
    assert store.follower(who(posts)) is None


# -- 3. repeats of questions already dealt with ------------------------------------------------------


def test_a_repeat_of_a_question_still_in_progress_is_a_duplicate(posts: PostService, store: Store) -> None:
    first = ask(posts, "移植后能喝绿茶吗", hours_ago=5)
    assert ask(posts, "移植后能喝绿茶吗？", hours_ago=4.9) == Received("dup", first.qid, first.due)  # pending
    pid = batch(posts, store, hours_ago=4.5)
    assert ask(posts, "移植后能喝绿茶吗", hours_ago=4).outcome == "dup"  # batched
    posts.answer(pid, store.groups(pid)[0]["id"], "淡茶可以。")
    posts.confirm(pid, [store.groups(pid)[0]["id"]])  # an editor read the question text
    assert ask(posts, "移植后能喝绿茶吗", hours_ago=3.5).outcome == "dup"  # answered
    assert store.pending_count() == 0


def test_a_repeat_of_a_rejected_question_is_stored_as_new(posts: PostService, store: Store) -> None:
    first = ask(posts, "移植后能喝绿茶吗", hours_ago=5)
    posts.reject_question(first.qid)
    again = ask(posts, "移植后能喝绿茶吗？", hours_ago=4)
    assert again.outcome == "new" and again.qid != first.qid
    assert store.pending_question_ids() == [again.qid]
    assert store.open_questions(who(posts)) == {again.qid}
    assert ask(posts, "移植后能喝绿茶吗", hours_ago=3).outcome == "dup"  # the new one is now the original
    assert "已收到您的问题" in posts.desk.reply(again)


def test_a_repeat_of_a_published_question_is_stored_as_new(posts: PostService, store: Store, fake_wechat: Any) -> None:
    first = ask(posts, "移植后能喝绿茶吗", hours_ago=5)
    merged = ask(posts, "术后多久可以开车", hours_ago=5, openid="o_driver")
    pid = batch(posts, store, hours_ago=4.5)
    tea, drive = (next(g for g in store.groups(pid) if g["text"].startswith(t)) for t in ("移植", "术后"))
    posts.merge(pid, drive["id"], tea["id"])  # one answer for both
    publish(posts, store, pid, hours_ago=3)
    assert store.question(first.qid)["status"] == "published"  # type: ignore[index]
    assert store.question(merged.qid)["status"] == "merged"  # type: ignore[index]
    assert keys_holding(store, "提问：") == []  # published: only the scrubbed text stays

    again = ask(posts, "移植后能喝绿茶吗", hours_ago=2)
    assert again.outcome == "new" and again.qid != first.qid
    also = ask(posts, "术后多久可以开车", hours_ago=2, openid="o_driver")  # answered within a published group
    assert also.outcome == "new" and also.qid != merged.qid
    assert store.pending_question_ids() == [again.qid, also.qid]


# -- 4. a batch another process finished takes no more questions ---------------------------------------


def test_questions_are_not_moved_into_a_post_that_is_no_longer_batching(posts: PostService, store: Store) -> None:
    early = ask(posts, "移植后能喝绿茶吗", hours_ago=5)
    at = (NOW - timedelta(hours=4)).timestamp()
    pid = store.begin_batch(now=at, cutoff=at, slot="")
    assert pid
    assert store.finish_batch(pid, [], {"title": "finished elsewhere"})  # another process finished it meanwhile
    assert store.move_to_post(pid, at, 100) is None
    assert store.pending_question_ids() == [early.qid] and store.post_question_ids(pid) == []
    assert store.question(early.qid)["status"] == "new"  # type: ignore[index]
    assert store.post(pid)["status"] == "draft"  # type: ignore[index]


def test_a_batch_run_that_lost_its_post_leaves_the_questions_pending(posts: PostService, store: Store) -> None:
    class FinishedMeanwhile(Store):
        """The batch lock expired and another process finished this post just before our move."""

        def move_to_post(self, pid: str, cutoff: float, count: int) -> int | None:
            assert self.finish_batch(pid, [], {"title": "finished elsewhere"})
            return super().move_to_post(pid, cutoff, count)

    late = ask(posts, "移植后能喝绿茶吗", hours_ago=5)
    racing = FinishedMeanwhile(store.redis, store.prefix)
    at = NOW - timedelta(hours=4)
    result = run_batch(racing, posts.qa, posts.title_for(at), at)
    assert result.post and result.questions == 0 and "finished by another process" in result.skipped
    assert store.pending_question_ids() == [late.qid] and store.post_question_ids(result.post) == []
    assert store.question(late.qid)["status"] == "new"  # type: ignore[index]
    assert store.batching_posts() == []
