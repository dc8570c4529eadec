"""Issue 4, publishing: through the fake WeChat server over HTTP, exactly once, resumable, errors visible."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from bot.api import HTTP_ERROR, MEANINGS, TIMEOUT, WeChatAPI
from bot.config import Config
from bot.digest import run_batch
from bot.fake_wechat import publish_event_xml
from bot.messages import PublishJobFinishEvent
from bot.posts import PostService
from bot.privacy import Pseudonymizer
from bot.publishing import LEASE_SECONDS, PUBLISH_STATUS
from bot.simulator import Account, message_xml, read_reply, signed_request
from bot.store import Store
from bot.wechat import parse_message
from tests.conftest import APP_SECRET, WeChat, wait_for


def ask(posts: PostService, openid: str, text: str, hours_ago: float = 1) -> str:
    asker = Pseudonymizer(posts.config.secret_key)(openid)
    now = datetime.now(UTC) - timedelta(hours=hours_ago)
    return posts.desk.receive(openid=openid, asker=asker, body=text, text=text, now=now).qid


def answered_post(posts: PostService, store: Store, *, answer_all: bool = True) -> str:
    """Two followers' questions batched into a draft post, the groups answered."""
    ask(posts, "o_ask_1", "肾移植后可以吃豆腐吗")
    ask(posts, "o_ask_2", "肾移植后可以吃豆腐吗？")
    ask(posts, "o_ask_3", "术后多久可以开车", hours_ago=0.5)
    result = run_batch(store, posts.qa, posts.title_for(datetime.now(UTC)), datetime.now(UTC))
    assert result.post
    for group in store.groups(result.post)[: None if answer_all else 1]:
        posts.answer(result.post, group["id"], "可以适量食用。\n具体请咨询您的随访医生。")
    return result.post


def calls(fake: Any, path: str) -> list[Any]:
    """The calls to `path` that WeChat accepted (recorded calls also include refused ones)."""
    return [c for c in fake.state.calls("/cgi-bin/" + path) if c.http_status == 200 and c.errcode == 0]


def status(store: Store, pid: str) -> str:
    post = store.post(pid)
    assert post is not None
    return post["status"]


def test_publish_by_polling_then_tell_each_asker(posts: PostService, store: Store, fake_wechat: Any) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    assert posts.tick(now)["started"] == 1
    post = store.post(pid)
    assert post and post["status"] == "publishing" and post["publish_id"] and post["draft_media_id"]
    [draft] = calls(fake_wechat, "draft/add")
    article = draft.body["articles"][0]
    assert article["thumb_media_id"] == post["cover_media_id"] and article["title"] == post["title"]
    assert "可以适量食用" in article["content"] and len(article["digest"]) <= 128

    posts.tick(now + timedelta(seconds=10))  # first poll: still publishing
    assert status(store, pid) == "publishing"
    posts.tick(now + timedelta(seconds=40))  # second poll: done
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"].startswith("https://mp.weixin.qq.com/s/")
    sent = {m.touser: m.body for m in fake_wechat.state.custom_messages()}
    assert set(sent) == {"o_ask_1", "o_ask_2", "o_ask_3"}
    assert all(b["msgtype"] == "news" and b["news"]["articles"][0]["url"] == post["url"] for b in sent.values())
    assert all(store.follower(Pseudonymizer(posts.config.secret_key)(o)) is None for o in sent)  # openids gone
    assert {q["status"] for q in (store.question(i) for i in store.post_question_ids(pid)) if q} == {"published"}
    assert store.latest_post() == {"post": pid, "title": post["title"], "url": post["url"],
                                   "cover": post["cover_url"], "published_at": post["published_at"]}
    posts.tick(now + timedelta(minutes=5))  # nothing more to do: nothing is sent twice
    assert len(fake_wechat.state.custom_messages()) == 3 and len(calls(fake_wechat, "freepublish/submit")) == 1


def test_publishjobfinish_event_finishes_the_post_and_tells_the_askers(app: Any, wechat: WeChat, store: Store,
                                                                        fake_wechat: Any, config: Config) -> None:
    fake_wechat.state.configure(publish_polls=-1)  # only the event can tell
    service: PostService = app.extensions["wxbot"].ctx.services["posts"]
    wechat.send("提问：移植后能喝咖啡吗", openid="o_ev_1")
    wechat.send("提问：移植后能喝咖啡吗？", openid="o_ev_2")
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "少量可以。")
    service.schedule(pid, service.clock())
    service.tick()
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    job = fake_wechat.state.finish_publish(publish_id)  # WeChat finishes the job
    urls = [i["article_url"] for i in job["article_detail"]["item"]]
    xml = publish_event_xml(config.account.original_id, publish_id, 0, job["article_id"], urls, [], int(time.time()))
    assert wechat.post(xml).data == b"success"
    wait_for(lambda: len(fake_wechat.state.custom_messages()) == 2)
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"] == urls[0]
    assert {m.touser for m in fake_wechat.state.custom_messages()} == {"o_ev_1", "o_ev_2"}
    wechat.post(xml.replace("<CreateTime>", "<CreateTime>1"))  # WeChat's push again (new CreateTime): no-op
    assert len(fake_wechat.state.custom_messages()) == 2


def test_end_to_end_over_http_with_gunicorn(live_server: str, fake_wechat: Any, store: Store, posts: PostService,
                                            base_config: Config) -> None:
    """Follower → webhook → batch → answer → schedule → publish tick → job ends → PUBLISHJOBFINISH → links sent."""
    fake_wechat.state.set_webhook(live_server + "/wechat", base_config.wechat.token)
    fake_wechat.state.configure(publish_polls=-1)
    acct = Account(base_config.wechat.token, base_config.wechat.app_id, base_config.wechat.encoding_aes_key,
                   base_config.account.original_id)
    for openid, text in (("o_http_1", "提问：移植后能跑马拉松吗"), ("o_http_2", "Q: 移植后能跑马拉松吗？")):
        query, body = signed_request(acct, message_xml(acct, openid, text=text), aes=True)
        reply = read_reply(acct, requests.post(live_server + "/wechat", params=query, data=body, timeout=10).text)
        assert "已收到您的问题" in reply.text
    pid = posts.run_digest().post
    assert pid and [g["askers"] for g in store.groups(pid)] == [2]
    posts.answer(pid, "g1", "循序渐进，先咨询医生。")
    posts.schedule(pid, posts.clock())
    posts.tick()
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    fake_wechat.state.finish_publish(publish_id)  # the job ends; the fake pushes PUBLISHJOBFINISH to gunicorn
    assert [p.http_status for p in fake_wechat.state.wait_pushes(1)] == [200]
    wait_for(lambda: len(fake_wechat.state.custom_messages()) == 2, timeout=20)
    post = store.post(pid)
    assert post and post["status"] == "published"
    assert {m.touser for m in fake_wechat.state.custom_messages()} == {"o_http_1", "o_http_2"}
    assert all(m.body["news"]["articles"][0]["url"] == post["url"] for m in fake_wechat.state.custom_messages())


def test_two_schedulers_racing_publish_once(posts: PostService, store: Store, fake_wechat: Any, config: Config,
                                            redis_url: str) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def scheduler() -> None:
        own = Store.from_url(redis_url, prefix=store.prefix)
        api = WeChatAPI(config.wechat.app_id, APP_SECRET, own, config.wechat.api_base_url, timeout=2.0)
        other = PostService(config, own, api, lambda: now)
        barrier.wait()
        try:
            other.tick(now)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        own.close()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [len(calls(fake_wechat, p)) for p in ("material/add_material", "draft/add", "freepublish/submit")] == [1, 1, 1]
    assert status(store, pid) == "publishing"


class Crash(BaseException):
    """The process dies here (not an error the code could handle)."""


def test_crash_between_draft_and_submit_resumes_without_a_second_draft(posts: PostService, store: Store,
                                                                       fake_wechat: Any, qa_api: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    real_post = qa_api.post
    died: list[bool] = []

    def dies_before_submit(url: str, **kwargs: Any) -> Any:
        if url == "freepublish/submit" and not died:
            died.append(True)
            raise Crash
        return real_post(url, **kwargs)

    monkeypatch.setattr(qa_api, "post", dies_before_submit)
    with pytest.raises(Crash):
        posts.tick(now)
    post = store.post(pid)
    assert post and post["status"] == "publishing" and post["draft_media_id"] and not post.get("publish_id")

    posts.tick(now + timedelta(seconds=60))  # the dead process's lease still holds: nobody touches it
    assert calls(fake_wechat, "freepublish/submit") == []
    posts.tick(now + timedelta(seconds=LEASE_SECONDS + 1))  # lease expired: resumed from the recorded draft
    assert len(calls(fake_wechat, "draft/add")) == 1 and len(calls(fake_wechat, "material/add_material")) == 1
    [submit] = calls(fake_wechat, "freepublish/submit")
    assert submit.body == {"media_id": post["draft_media_id"]}
    assert store.post(pid)["publish_id"]  # type: ignore[index]


def show_error(posts: PostService, pid: str) -> dict[str, Any]:
    view = posts.show(pid)
    assert view.errors, view.post
    return view.errors[-1]


@pytest.mark.parametrize(("path", "fault", "code", "step"), [
    ("draft/add", {"delay": 3.0, "times": 3}, TIMEOUT, "draft"),
    ("draft/add", {"http_status": 502, "times": 3}, HTTP_ERROR, "draft"),
    ("freepublish/submit", {"errcode": -1, "times": 3}, -1, "submit"),
    ("material/add_material", {"errcode": 45011, "times": 3}, 45011, "cover"),
])
def test_retryable_errors_are_recorded_and_retried_later(posts: PostService, store: Store, fake_wechat: Any,
                                                         path: str, fault: dict[str, Any], code: int,
                                                         step: str) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/" + path, **fault)
    posts.tick(now)
    post = store.post(pid)
    assert post and post["status"] == "scheduled" and post["attempts"] == "1" and "retrying" in post["failure"]
    assert float(post["scheduled_at"]) == pytest.approx(now.timestamp() + 60)
    error = show_error(posts, pid)
    assert (error["code"], error["meaning"], error["step"]) == (code, MEANINGS[code], step)
    posts.tick(now + timedelta(seconds=30))  # backoff: not yet
    assert status(store, pid) == "scheduled"
    posts.tick(now + timedelta(seconds=61))
    assert status(store, pid) == "publishing" and store.post(pid)["publish_id"]  # type: ignore[index]
    assert len(calls(fake_wechat, "freepublish/submit")) == len(calls(fake_wechat, "draft/add")) == 1


@pytest.mark.parametrize(("path", "fault", "code", "step"), [
    ("draft/add", {"errcode": 40001, "times": 3}, 40001, "draft"),
    ("draft/add", {"errcode": 45009}, 45009, "draft"),
    ("material/add_material", {"errcode": 48001}, 48001, "cover"),
    ("freepublish/submit", {"errcode": 48001}, 48001, "submit"),
    ("freepublish/submit", {"errcode": 53503}, 53503, "submit"),
])
def test_other_errors_mark_the_post_failed_with_the_meaning(posts: PostService, store: Store, fake_wechat: Any,
                                                            runner: Any, app: Any, path: str, fault: dict[str, Any],
                                                            code: int, step: str) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/" + path, **fault)
    posts.tick(now)
    post = store.post(pid)
    assert post and post["status"] == "failed" and f"WeChat error {code}" in post["failure"]
    assert MEANINGS[code] in post["failure"]
    error = show_error(posts, pid)
    assert (error["code"], error["meaning"], error["step"]) == (code, MEANINGS[code], step)
    shown = runner.invoke(args=["posts", "show", pid]).output
    assert f"post {pid}: failed" in shown and f"in {step}: {code} {MEANINGS[code]}" in shown
    posts.tick(now + timedelta(hours=2))
    assert status(store, pid) == "failed"  # failed stays failed until an editor reschedules
    assert calls(fake_wechat, "freepublish/submit") == []

    posts.schedule(pid, now)  # the editor retries once the cause is fixed
    posts.tick(now + timedelta(hours=2))
    assert status(store, pid) == "publishing" and len(calls(fake_wechat, "draft/add")) == 1  # the draft is reused


@pytest.mark.parametrize("publish_status", [2, 3, 4])
def test_publish_job_failures_mark_the_post_failed(posts: PostService, store: Store, fake_wechat: Any,
                                                   publish_status: int) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", publish_status=publish_status, fail_idx=[1])
    posts.tick(now)
    posts.tick(now + timedelta(seconds=10))
    posts.tick(now + timedelta(seconds=40))
    post = store.post(pid)
    assert post and post["status"] == "failed" and post["publish_status"] == str(publish_status)
    assert PUBLISH_STATUS[publish_status] in post["failure"]
    error = show_error(posts, pid)
    assert error["step"] == "publish job" and error["code"] == publish_status
    assert fake_wechat.state.custom_messages() == []  # nobody is told about a post that is not there
    posts.schedule(pid, now)  # a retry needs a new draft: the failed job used the old one up
    assert not store.post(pid)["publish_id"]  # type: ignore[index]


def test_retries_end_in_failed_after_max_attempts(config: Config, store: Store, qa_api: Any, fake_wechat: Any) -> None:
    two = replace(config, questions=replace(config.questions, publishing=replace(config.questions.publishing,
                                                                                 max_attempts=2)))
    posts = PostService(two, store, qa_api, lambda: datetime.now(UTC))
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/draft/add", http_status=503, times=-1)
    posts.tick(now)
    assert status(store, pid) == "scheduled"
    posts.tick(now + timedelta(seconds=61))
    post = store.post(pid)
    assert post and post["status"] == "failed" and post["attempts"] == "2" and "HTTP error" in post["failure"]
    assert [e["code"] for e in posts.show(pid).errors] == [HTTP_ERROR, HTTP_ERROR]


def test_mass_send_mode(config: Config, store: Store, qa_api: Any, fake_wechat: Any) -> None:
    mass = replace(config, questions=replace(config.questions, publishing=replace(config.questions.publishing,
                                                                                  mode="mass_send")))
    posts = PostService(mass, store, qa_api, lambda: datetime.now(UTC))
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    post = store.post(pid)
    assert post and post["status"] == "published" and post["msg_id"]
    [send] = calls(fake_wechat, "message/mass/sendall")
    assert send.body["mpnews"] == {"media_id": post["draft_media_id"]} and send.body["filter"] == {"is_to_all": True}
    assert send.body["clientmsgid"].startswith(f"wxbot-post-{pid}-")
    assert calls(fake_wechat, "freepublish/submit") == [] and fake_wechat.state.custom_messages() == []
    assert store.follower(Pseudonymizer(config.secret_key)("o_ask_1")) is None  # pushed to all: openids released
    posts.tick(now + timedelta(minutes=5))
    assert len(calls(fake_wechat, "message/mass/sendall")) == 1


def test_refused_link_is_kept_and_added_to_the_next_reply(app: Any, wechat: WeChat, store: Store, fake_wechat: Any,
                                                          config: Config) -> None:
    service: PostService = app.extensions["wxbot"].ctx.services["posts"]
    wechat.send("提问：移植后能泡温泉吗", openid="o_win_1")
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "伤口愈合后可以，注意卫生。")
    now = service.clock()
    service.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=45015)
    for later in (0, 10, 40):
        service.tick(now + timedelta(seconds=later))
    post = store.post(pid)
    assert post and post["status"] == "published" and fake_wechat.state.custom_messages() == []
    asker = Pseudonymizer(config.secret_key)("o_win_1")
    assert store.follower(asker) is None  # told (as far as WeChat allows): the openid is gone
    reply = wechat.send("提问：那能蒸桑拿吗", openid="o_win_1")
    assert "已收到您的问题" in reply.text and post["url"] in reply.text and post["title"] in reply.text
    assert post["url"] not in wechat.send("提问：还能游泳吗", openid="o_win_1").text  # only once


def test_outside_the_48_hour_window_nothing_is_sent_and_the_link_waits(posts: PostService, store: Store,
                                                                       fake_wechat: Any) -> None:
    ask(posts, "o_old", "移植后多久可以出国旅行", hours_ago=60)
    pid = posts.run_digest().post
    assert pid
    posts.answer(pid, "g1", "病情稳定后可以。")
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    for later in (0, 10, 40):
        posts.tick(now + timedelta(seconds=later))
    assert status(store, pid) == "published" and calls(fake_wechat, "message/custom/send") == []
    asker = Pseudonymizer(posts.config.secret_key)("o_old")
    assert store.take_pending_links(asker) == [{"title": store.post(pid)["title"],  # type: ignore[index]
                                                "url": store.post(pid)["url"]}]  # type: ignore[index]


def test_unanswered_groups_go_back_to_the_queue_and_unsubscribed_askers_are_not_messaged(
        posts: PostService, store: Store, fake_wechat: Any) -> None:
    pid = answered_post(posts, store, answer_all=False)  # g1 (tofu, two askers) answered, g2 (driving) not
    store.forget_follower(Pseudonymizer(posts.config.secret_key)("o_ask_2"))  # unsubscribed meanwhile
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    for later in (0, 10, 40):
        posts.tick(now + timedelta(seconds=later))
    assert status(store, pid) == "published"
    assert [m.touser for m in fake_wechat.state.custom_messages()] == ["o_ask_1"]
    [back] = [store.question(q) for q in store.pending_question_ids()]
    assert back and back["public"] == "术后多久可以开车" and back["status"] == "new" and not back["post"]
    assert [g["state"] for g in store.groups(pid)] == ["open", "returned"]
    assert store.follower(Pseudonymizer(posts.config.secret_key)("o_ask_3")) is not None  # still to be told
    nxt = posts.run_digest().post
    assert nxt and [len(g["q"]) for g in store.groups(nxt)] == [1]


def test_an_event_without_the_article_url_asks_freepublish_get(posts: PostService, store: Store, fake_wechat: Any,
                                                                config: Config) -> None:
    fake_wechat.state.configure(publish_polls=-1)
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    job = fake_wechat.state.finish_publish(publish_id)
    bare = publish_event_xml(config.account.original_id, publish_id, 0, job["article_id"], [], [], int(time.time()))
    event = parse_message(bare.encode())
    assert isinstance(event, PublishJobFinishEvent) and event.articles == ()
    assert posts.publisher.on_event(event) == pid
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"] == job["article_detail"]["item"][0]["article_url"]
    assert len(fake_wechat.state.custom_messages()) == 3
