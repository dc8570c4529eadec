"""Issue 4, publishing: through the fake WeChat server over HTTP, exactly once, resumable, errors visible."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from bot.config import Config
from bot.fake_wechat import publish_event_xml
from bot.questions.batching import run_batch
from bot.questions.posts import EditError, PostService
from bot.questions.privacy import Pseudonymizer
from bot.questions.publishing import LEASE_SECONDS, MASS_WAIT, MAX_POLLS, NOTIFY_LEASE, PUBLISH_STATUS
from bot.store import Store
from bot.wechat.api import HTTP_ERROR, MEANINGS, TIMEOUT, WeChatAPI
from bot.wechat.inbound import parse_message
from bot.wechat.messages import PublishJobFinishEvent
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from scheduler.jobs import deliver_outbox
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
        posts.confirm(result.post, [group["id"]])  # an editor read the question text
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
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    wechat.send("提问：移植后能喝咖啡吗", openid="o_ev_1")
    wechat.send("提问：移植后能喝咖啡吗？", openid="o_ev_2")
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "少量可以。")
    service.confirm(pid, ["g1"])  # an editor read the question text
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
    posts.confirm(pid, ["g1"])  # an editor read the question text
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


def crash_before_the_submit_is_recorded(posts: PostService, store: Store, now: datetime,
                                        monkeypatch: pytest.MonkeyPatch) -> str:
    """WeChat takes the job and the process dies before recording it; after the lease a tick resumes the post.

    Returns the job's publish_id, as the post's mapping (written right after the submit) names it.
    """
    real_update = store.update_post

    def dies_recording_the_publish_id(pid: str, *args: Any, **kwargs: Any) -> bool:
        if (kwargs.get("fields") or {}).get("publish_id"):
            raise Crash
        return real_update(pid, *args, **kwargs)

    monkeypatch.setattr(store, "update_post", dies_recording_the_publish_id)
    with pytest.raises(Crash):
        posts.tick(now)
    monkeypatch.setattr(store, "update_post", real_update)
    posts.tick(now + timedelta(seconds=LEASE_SECONDS + 1))
    [mapping] = store.redis.keys(store.key("publish", "*"))
    return str(mapping.decode().rsplit(":", 1)[1])


def test_crash_between_draft_and_submit_resumes_without_a_second_draft(posts: PostService, store: Store,
                                                                       fake_wechat: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    real_update = store.update_post
    died: list[bool] = []

    def dies_before_submit(pid: str, *args: Any, **kwargs: Any) -> bool:
        if (kwargs.get("fields") or {}).get("submitting") and not died:
            died.append(True)  # the draft is recorded; the process dies before it starts the submit
            raise Crash
        return real_update(pid, *args, **kwargs)

    monkeypatch.setattr(store, "update_post", dies_before_submit)
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


def test_crash_during_submit_never_submits_again_and_an_editor_records_the_live_post(
        posts: PostService, store: Store, fake_wechat: Any, qa_api: Any, config: Config, runner: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """WeChat took the job, then the process died before recording its publish_id: nobody can know it went live."""
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    real_post = qa_api.post
    taken: list[str] = []

    def dies_after_wechat_took_it(url: str, **kwargs: Any) -> Any:
        result = real_post(url, **kwargs)
        if url == "freepublish/submit" and not taken:
            taken.append(str(result["publish_id"]))
            raise Crash
        return result

    monkeypatch.setattr(qa_api, "post", dies_after_wechat_took_it)
    with pytest.raises(Crash):
        posts.tick(now)
    posts.tick(now + timedelta(seconds=LEASE_SECONDS + 1))  # resumed: the submit's outcome is unknown
    post = store.post(pid)
    assert post and post["status"] == "failed" and "outcome unknown" in post["failure"]
    assert "mark-published" in post["failure"] and show_error(posts, pid)["step"] == "submit"
    posts.tick(now + timedelta(hours=2))
    assert len(calls(fake_wechat, "freepublish/submit")) == 1  # never a second submit
    assert finish_by_event(posts, fake_wechat, config, taken[0]) is None  # its publish_id was never recorded
    assert status(store, pid) == "failed" and fake_wechat.state.custom_messages() == []
    url = fake_wechat.state.publish_job(taken[0])["article_detail"]["item"][0]["article_url"]

    assert "not the article's link" in runner.invoke(args=["posts", "mark-published", pid, "javascript:x"]).output
    out = runner.invoke(args=["posts", "mark-published", pid, url]).output
    assert f"post {pid} marked published" in out
    posts.tick(now + timedelta(hours=2, seconds=30))
    assert status(store, pid) == "published" and store.post(pid)["url"] == url  # type: ignore[index]
    assert {m.touser for m in fake_wechat.state.custom_messages()} == {"o_ask_1", "o_ask_2", "o_ask_3"}
    assert store.latest_post()["url"] == url  # type: ignore[index]
    with pytest.raises(EditError, match="only a failed post"):
        posts.mark_published(pid, url)


def test_lease_lost_right_after_submit_the_event_still_finishes_the_post(posts: PostService, store: Store,
                                                                          fake_wechat: Any, config: Config,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    publish_id = crash_before_the_submit_is_recorded(posts, store, now, monkeypatch)
    assert status(store, pid) == "failed" and len(calls(fake_wechat, "freepublish/submit")) == 1
    assert finish_by_event(posts, fake_wechat, config, publish_id) == pid
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"] and post["publish_id"]
    assert len(fake_wechat.state.custom_messages()) == 3


def test_an_answer_corrected_after_a_refused_submit_reaches_the_article(posts: PostService, store: Store,
                                                                       fake_wechat: Any) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", errcode=53503)  # the draft failed WeChat's check
    posts.tick(now)
    first = store.post(pid)
    assert first and first["status"] == "failed" and first["draft_media_id"]
    posts.answer(pid, "g1", "修改后的内容：请先咨询随访医生。")
    posts.schedule(pid, now)
    posts.tick(now + timedelta(seconds=1))
    drafts = calls(fake_wechat, "draft/add")
    assert len(drafts) == 2 and "修改后的内容" in drafts[1].body["articles"][0]["content"]
    post = store.post(pid)
    assert post and post["status"] == "publishing" and post["draft_media_id"] != first["draft_media_id"]
    assert [c.body for c in calls(fake_wechat, "freepublish/submit")] == [{"media_id": post["draft_media_id"]}]


def test_unchanged_post_reuses_its_draft_and_a_deleted_draft_is_made_again(posts: PostService, store: Store,
                                                                          fake_wechat: Any) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", errcode=48001)
    posts.tick(now)
    posts.schedule(pid, now)  # nothing changed: the draft is reused
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", errcode=40007)  # someone deleted it on the admin site
    posts.tick(now + timedelta(seconds=1))
    post = store.post(pid)
    assert post and post["status"] == "scheduled" and post["draft_media_id"] == ""  # retried with a new draft
    assert len(calls(fake_wechat, "draft/add")) == 1
    posts.tick(now + timedelta(seconds=62))
    assert len(calls(fake_wechat, "draft/add")) == 2 and len(calls(fake_wechat, "freepublish/submit")) == 1
    assert status(store, pid) == "publishing" and store.post(pid)["publish_id"]  # type: ignore[index]


def show_error(posts: PostService, pid: str) -> dict[str, Any]:
    view = posts.show(pid)
    assert view.errors, view.post
    return view.errors[-1]


@pytest.mark.parametrize(("path", "fault", "code", "step"), [
    ("draft/add", {"delay": 3.0, "times": 3}, TIMEOUT, "draft"),
    ("draft/add", {"http_status": 502, "times": 3}, HTTP_ERROR, "draft"),
    ("freepublish/submit", {"errcode": 45011, "times": 3}, 45011, "submit"),  # refused before acting: safe
    ("material/add_material", {"errcode": 45011, "times": 3}, 45011, "cover"),
])
def test_retryable_errors_are_recorded_and_retried_later(posts: PostService, store: Store, fake_wechat: Any,
                                                         path: str, fault: dict[str, Any], code: int,
                                                         step: str) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/" + path, **fault)
    try:
        posts.tick(now)
    finally:
        fake_wechat.state.release_delays()  # a delayed request answers now instead of holding the fake
    post = store.post(pid)
    assert post and post["status"] == "scheduled" and post["attempts"] == "1" and "retrying" in post["failure"]
    assert float(post["scheduled_at"]) == pytest.approx(now.timestamp() + 60)
    error = show_error(posts, pid)
    assert (error["code"], error["meaning"], error["step"]) == (code, MEANINGS[code], step)
    posts.tick(now + timedelta(seconds=30))  # backoff: not yet
    assert status(store, pid) == "scheduled"
    posts.tick(now + timedelta(seconds=61))
    assert status(store, pid) == "publishing" and store.post(pid)["publish_id"]  # type: ignore[index]
    drafts = [c for c in calls(fake_wechat, "draft/add") if c.fault is None]  # not those the client gave up on
    assert len(calls(fake_wechat, "freepublish/submit")) == len(drafts) == 1


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


def mass_event_xml(config: Config, msg_id: str, status: str, sent: int, errors: int, url: str = "") -> str:
    """WeChat's MASSSENDJOBFINISH push for one mass send (with ArticleUrlResult when `url` is given)."""
    urls = (f"<ArticleUrlResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>"
            f"<ArticleUrl><![CDATA[{url}]]></ArticleUrl></item></ResultList></ArticleUrlResult>") if url else ""
    return (f"<xml><ToUserName><![CDATA[{config.account.original_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[o_mphelper]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event>"
            f"<MsgID>{msg_id}</MsgID><Status><![CDATA[{status}]]></Status><TotalCount>{sent + errors}</TotalCount>"
            f"<FilterCount>{sent + errors}</FilterCount><SentCount>{sent}</SentCount><ErrorCount>{errors}</ErrorCount>"
            f"{urls}</xml>")


def test_mass_send_mode(mass: tuple[PostService, WeChat, Config], store: Store, fake_wechat: Any) -> None:
    posts, wechat, config = mass
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    post = store.post(pid)
    assert post and post["status"] == "publishing" and post["msg_id"]  # until WeChat reports the send
    [send] = calls(fake_wechat, "message/mass/sendall")
    assert send.body["mpnews"] == {"media_id": post["draft_media_id"]} and send.body["filter"] == {"is_to_all": True}
    assert send.body["clientmsgid"].startswith(f"wxbot-post-{pid}-")
    posts.tick(now + timedelta(minutes=5))
    assert status(store, pid) == "publishing" and len(calls(fake_wechat, "message/mass/sendall")) == 1
    assert wechat.post(mass_event_xml(config, "999", "send success", 10, 0)).data == b"success"  # not ours
    assert status(store, pid) == "publishing"
    url = "https://mp.weixin.qq.com/s/mass-sent-post"
    assert wechat.post(mass_event_xml(config, post["msg_id"], "send success", 98, 2, url)).data == b"success"
    wait_for(lambda: status(store, pid) == "published")
    post = store.post(pid)
    assert post and (post["mass_status"], post["mass_sent"], post["mass_errors"]) == ("send success", "98", "2")
    assert post["url"] == url
    wait_for(lambda: (store.latest_post() or {}).get("url") == url)  # "答疑" now answers with it
    assert wechat.send("答疑").articles[0][2] == url
    error = show_error(posts, pid)
    assert error["step"] == "mass send" and "2 failed" in error["meaning"]
    assert calls(fake_wechat, "freepublish/submit") == [] and fake_wechat.state.custom_messages() == []
    wait_for(lambda: store.follower(Pseudonymizer(config.secret_key)("o_ask_1")) is None)  # pushed to all: released
    posts.tick(now + timedelta(minutes=5))
    assert len(calls(fake_wechat, "message/mass/sendall")) == 1


def test_a_failed_mass_send_is_recorded_on_the_post(mass: tuple[PostService, WeChat, Config], store: Store,
                                                    fake_wechat: Any) -> None:
    posts, wechat, config = mass
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    msg_id = store.post(pid)["msg_id"]  # type: ignore[index]
    assert wechat.post(mass_event_xml(config, msg_id, "err(30003)", 0, 0)).data == b"success"
    wait_for(lambda: status(store, pid) == "failed")
    post = store.post(pid)
    assert post and "err(30003)" in post["failure"] and post["mass_status"] == "err(30003)"
    assert show_error(posts, pid)["step"] == "mass send"
    assert store.follower(Pseudonymizer(config.secret_key)("o_ask_1")) is not None  # nobody was told anything


def test_a_mass_send_without_a_report_is_settled_after_a_day(mass: tuple[PostService, WeChat, Config],
                                                             store: Store, fake_wechat: Any) -> None:
    posts, _, _ = mass
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    posts.tick(now + timedelta(seconds=MASS_WAIT - 60))
    assert status(store, pid) == "publishing"
    posts.tick(now + timedelta(seconds=MASS_WAIT + 1))
    post = store.post(pid)
    assert post and post["status"] == "published" and "no result reported" in post["mass_status"]
    assert len(calls(fake_wechat, "message/mass/sendall")) == 1


def test_refused_link_is_kept_and_added_to_the_next_reply(app: Any, wechat: WeChat, store: Store, fake_wechat: Any,
                                                          config: Config) -> None:
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    wechat.send("提问：移植后能泡温泉吗", openid="o_win_1")
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "伤口愈合后可以，注意卫生。")
    service.confirm(pid, ["g1"])  # an editor read the question text
    now = service.clock()
    service.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/message/custom/send", errcode=45015)
    for later in (0, 10, 40):
        service.tick(now + timedelta(seconds=later))
    post = store.post(pid)
    assert post and post["status"] == "published" and fake_wechat.state.custom_messages() == []
    assert (show_error(service, pid)["step"], show_error(service, pid)["code"]) == ("notify", 45015)
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
    posts.confirm(pid, ["g1"])  # an editor read the question text
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    for later in (0, 10, 40):
        posts.tick(now + timedelta(seconds=later))
    assert status(store, pid) == "published" and calls(fake_wechat, "message/custom/send") == []
    asker = Pseudonymizer(posts.config.secret_key)("o_old")
    assert store.take_pending_links(asker) == [{"title": store.post(pid)["title"],  # type: ignore[index]
                                                "url": store.post(pid)["url"]}]  # type: ignore[index]


def test_any_message_reopens_the_48_hour_window(app: Any, wechat: WeChat, store: Store, fake_wechat: Any) -> None:
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    ask(service, "o_back", "移植后多久可以出国旅行", hours_ago=60)
    assert wechat.send("干细胞", openid="o_back").kind == "news"  # a keyword, not a question, 60 h later
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "病情稳定后可以。")
    service.confirm(pid, ["g1"])  # an editor read the question text
    now = datetime.now(UTC)
    service.schedule(pid, now)
    for later in (0, 10, 40):
        service.tick(now + timedelta(seconds=later))
    assert [m.touser for m in fake_wechat.state.custom_messages()] == ["o_back"]


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


def finish_by_event(posts: PostService, fake: Any, config: Config, publish_id: str, status: int = 0) -> str | None:
    """WeChat ends the job and pushes PUBLISHJOBFINISH (handed to the publisher directly)."""
    job = fake.state.finish_publish(publish_id, status)
    urls = [i["article_url"] for i in (job.get("article_detail") or {}).get("item", [])]
    xml = publish_event_xml(config.account.original_id, publish_id, status, job.get("article_id", ""), urls,
                            job.get("fail_idx", []), int(time.time()))
    event = parse_message(xml.encode())
    assert isinstance(event, PublishJobFinishEvent)
    return posts.publisher.on_event(event)


@pytest.mark.parametrize("fault", [{"errcode": 45009}, {"errcode": 53502}, {"errcode": 40001, "times": 3},
                                   {"http_status": 502, "times": 3}])
def test_poll_errors_never_end_a_submitted_post(posts: PostService, store: Store, fake_wechat: Any, config: Config,
                                                fault: dict[str, Any]) -> None:
    fake_wechat.state.configure(publish_polls=-1)
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    fake_wechat.state.inject("/cgi-bin/freepublish/get", **fault)
    posts.tick(now + timedelta(seconds=10))
    post = store.post(pid)
    assert post and post["status"] == "publishing" and post["publish_id"] == publish_id and post["polls"] == "1"
    error = show_error(posts, pid)
    assert error["step"] == "poll" and error["code"] == (fault.get("errcode") or HTTP_ERROR)
    with pytest.raises(EditError, match="is publishing"):  # the job is WeChat's: no second draft or submit
        posts.schedule(pid, now)
    posts.tick(now + timedelta(seconds=40))  # polled again later, and the job is still running
    assert status(store, pid) == "publishing" and store.post(pid)["polls"] == "2"  # type: ignore[index]
    assert finish_by_event(posts, fake_wechat, config, publish_id) == pid
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"]
    assert len(fake_wechat.state.custom_messages()) == 3
    assert len(fake_wechat.state.calls("/cgi-bin/freepublish/submit")) == 1


def test_a_post_failed_by_a_poll_error_before_still_takes_its_jobs_end(posts: PostService, store: Store,
                                                                       fake_wechat: Any, config: Config) -> None:
    """Data left by the earlier version: failed on a poll error, no final status; the event still publishes it."""
    fake_wechat.state.configure(publish_polls=-1)
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    assert store.update_post(pid, ("publishing",), "failed", now=now.timestamp(), fields={"failure": "poll: 45009"})
    with pytest.raises(EditError, match="may be live"):
        posts.schedule(pid, now)
    finish_by_event(posts, fake_wechat, config, publish_id)
    assert status(store, pid) == "published" and len(fake_wechat.state.custom_messages()) == 3


def test_two_schedulers_do_not_poll_the_same_job_at_once(posts: PostService, store: Store, fake_wechat: Any,
                                                          qa_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_wechat.state.configure(publish_polls=-1)
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    later = now + timedelta(seconds=10)
    real_post = qa_api.post
    second: list[bool] = []

    def get_while_another_polls(url: str, **kwargs: Any) -> Any:
        if url == "freepublish/get" and not second:
            second.append(posts.publisher.poll(pid, later))  # another scheduler's tick, mid-poll
        return real_post(url, **kwargs)

    monkeypatch.setattr(qa_api, "post", get_while_another_polls)
    assert posts.publisher.poll(pid, later)
    assert second == [False] and len(fake_wechat.state.calls("/cgi-bin/freepublish/get")) == 1
    post = store.post(pid)
    assert post and post["owner"] == "" and float(post["lease_until"]) <= later.timestamp()  # lease handed back
    assert posts.publisher.poll(pid, later + timedelta(seconds=30))


@pytest.mark.parametrize(("fault", "code"), [({"delay": 3.0}, TIMEOUT), ({"http_status": 502}, HTTP_ERROR),
                                             ({"errcode": -1}, -1)])
def test_submit_with_unknown_outcome_is_never_repeated(posts: PostService, store: Store, fake_wechat: Any,
                                                       fault: dict[str, Any], code: int) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", **fault)
    try:
        posts.tick(now)
    finally:
        fake_wechat.state.release_delays()
    submits = fake_wechat.state.wait_calls(1, "/cgi-bin/freepublish/submit")
    post = store.post(pid)
    assert post and post["status"] == "failed" and post["draft_media_id"] and not post.get("publish_id")
    assert "outcome unknown" in post["failure"] and "发表记录" in post["failure"]
    assert show_error(posts, pid)["code"] == code
    posts.tick(now + timedelta(hours=2))
    assert status(store, pid) == "failed" and len(submits) == len(fake_wechat.state.calls("/cgi-bin/freepublish/submit")) == 1
    if code == TIMEOUT:  # WeChat took it after all: an editor's reschedule reuses the draft, which WeChat used up
        posts.schedule(pid, now)
        posts.tick(now + timedelta(hours=2))
        post = store.post(pid)
        assert post and post["status"] == "failed" and "the draft is gone" in post["failure"]
        assert len(calls(fake_wechat, "freepublish/submit")) == 1


def test_merged_questions_of_an_unanswered_group_go_back_to_the_queue(posts: PostService, store: Store,
                                                                      fake_wechat: Any, config: Config) -> None:
    ask(posts, "o_m_1", "肾移植后可以吃豆腐吗")
    ask(posts, "o_m_2", "术后多久可以开车")
    ask(posts, "o_m_3", "移植后能养狗吗")
    pid = posts.run_digest().post
    assert pid
    g = {grp["text"]: grp["id"] for grp in store.groups(pid)}
    posts.answer(pid, g["肾移植后可以吃豆腐吗"], "可以。")
    posts.confirm(pid, [g["肾移植后可以吃豆腐吗"]])  # an editor read the question text
    posts.merge(pid, g["移植后能养狗吗"], g["术后多久可以开车"])  # merged into a group nobody answers
    moved = store.groups(pid)[[x["id"] for x in store.groups(pid)].index(g["术后多久可以开车"])]["q"]
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    for later in (0, 10, 40):
        posts.tick(now + timedelta(seconds=later))
    assert status(store, pid) == "published"
    back = [store.question(q) for q, _ in moved]
    assert [(q["status"], q["post"], q["into"]) for q in back if q] == [("new", "", ""), ("new", "", "")]
    assert sorted(store.pending_question_ids()) == sorted(q for q, _ in moved)
    for openid in ("o_m_2", "o_m_3"):  # still to be told, with the next post
        assert store.follower(Pseudonymizer(config.secret_key)(openid)) is not None
    nxt = posts.run_digest().post
    assert nxt and sum(len(grp["q"]) for grp in store.groups(nxt)) == 2


def test_a_crash_mid_notification_tells_the_asker_on_a_later_tick(posts: PostService, store: Store,
                                                                  fake_wechat: Any, qa_api: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    real_send = qa_api.send_custom
    died: list[bool] = []

    def dies_before_sending(body: dict[str, Any]) -> None:
        if not died:
            died.append(True)
            raise Crash
        real_send(body)

    monkeypatch.setattr(qa_api, "send_custom", dies_before_sending)
    posts.tick(now + timedelta(seconds=10))
    with pytest.raises(Crash):
        posts.tick(now + timedelta(seconds=40))  # published; the process dies telling the first asker
    assert status(store, pid) == "published" and fake_wechat.state.custom_messages() == []
    posts.tick(now + timedelta(seconds=60))  # the others are told; the dead process's claim still holds
    assert len(fake_wechat.state.custom_messages()) == 2
    posts.tick(now + timedelta(seconds=41 + NOTIFY_LEASE))  # claim expired: re-driven
    assert {m.touser for m in fake_wechat.state.custom_messages()} == {"o_ask_1", "o_ask_2", "o_ask_3"}
    assert all(store.follower(Pseudonymizer(posts.config.secret_key)(o)) is None
               for o in ("o_ask_1", "o_ask_2", "o_ask_3"))
    assert store.notifications_left(pid) == 0 and pid not in store.finishing_posts()
    posts.tick(now + timedelta(seconds=60 + 2 * NOTIFY_LEASE))
    assert len(fake_wechat.state.custom_messages()) == 3


def test_a_long_round_of_sends_is_not_taken_over_by_another_scheduler(posts: PostService, store: Store,
                                                                      fake_wechat: Any, qa_api: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each asker's claim carries the time it was made: after minutes of sending, the newest is still fresh."""
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    job = fake_wechat.state.finish_publish(publish_id, 0)
    url = job["article_detail"]["item"][0]["article_url"]
    assert posts.publisher.finish(pid, publish_id, 0, job["article_id"], url, now + timedelta(seconds=10))
    minutes = [0.0]
    monkeypatch.setattr(posts.publisher, "elapsed", lambda: minutes[0])
    real_send = qa_api.send_custom
    other: list[int] = []

    def slow_send(body: dict[str, Any]) -> None:
        real_send(body)
        if other:
            return  # the other scheduler's sends are quick
        minutes[0] += 200  # this round's are slow today
        if len(fake_wechat.state.custom_messages()) == 2:  # another scheduler's tick, 400 s into this round
            other.append(0)
            other[0] = posts.publisher.follow_up(pid, now + timedelta(seconds=10 + 400))

    monkeypatch.setattr(qa_api, "send_custom", slow_send)
    posts.publisher.follow_up(pid, now + timedelta(seconds=10))
    assert other == [1]  # it took the one asker nobody had claimed yet, no other
    assert sorted(m.touser for m in fake_wechat.state.custom_messages()) == ["o_ask_1", "o_ask_2", "o_ask_3"]


def test_polling_stops_after_a_day_and_a_late_event_still_publishes(posts: PostService, store: Store,
                                                                    fake_wechat: Any, config: Config) -> None:
    fake_wechat.state.configure(publish_polls=-1)  # the job never ends by itself
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    at = now
    for _ in range(MAX_POLLS):
        at += timedelta(seconds=1800)
        assert posts.publisher.poll(pid, at)
    post = store.post(pid)
    assert post and post["status"] == "failed" and "no final status" in post["failure"]
    assert len(fake_wechat.state.calls("/cgi-bin/freepublish/get")) == MAX_POLLS
    posts.tick(at + timedelta(hours=1))
    assert len(fake_wechat.state.calls("/cgi-bin/freepublish/get")) == MAX_POLLS  # no more polls
    with pytest.raises(EditError, match="may be live"):
        posts.schedule(pid, at)
    assert finish_by_event(posts, fake_wechat, config, publish_id) == pid
    assert status(store, pid) == "published" and len(fake_wechat.state.custom_messages()) == 3


@pytest.mark.parametrize(("fault", "kept"), [({"errcode": 45009}, True), ({"errcode": 48001}, True),
                                             ({"delay": 3.0}, True), ({"errcode": 43004}, False),
                                             ({"errcode": 40003}, False)])
def test_a_link_wechat_did_not_take_waits_unless_the_follower_is_gone(posts: PostService, store: Store,
                                                                      fake_wechat: Any, fault: dict[str, Any],
                                                                      kept: bool) -> None:
    ask(posts, "o_link", "移植后多久可以出国旅行")
    pid = posts.run_digest().post
    assert pid
    posts.answer(pid, "g1", "病情稳定后可以。")
    posts.confirm(pid, ["g1"])  # an editor read the question text
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    posts.tick(now + timedelta(seconds=10))
    fake_wechat.state.inject("/cgi-bin/message/custom/send", **fault)
    try:
        posts.tick(now + timedelta(seconds=40))
    finally:
        fake_wechat.state.release_delays()
    post = store.post(pid)
    assert post and post["status"] == "published"
    assert len(fake_wechat.state.wait_calls(1, "/cgi-bin/message/custom/send")) == 1  # never sent twice
    asker = Pseudonymizer(posts.config.secret_key)("o_link")
    expected = [{"title": post["title"], "url": post["url"]}] if kept else []
    assert store.take_pending_links(asker) == expected
    assert show_error(posts, pid)["step"] == "notify"


@pytest.mark.parametrize(("fault", "requeued"), [({"delay": 3.0}, False), ({"http_status": 502}, False),
                                                 ({"errcode": -1}, False), ({"errcode": 40001, "times": 4}, True)])
def test_late_replies_are_retried_only_when_wechat_certainly_did_not_send_them(
        store: Store, qa_api: Any, fake_wechat: Any, fault: dict[str, Any], requeued: bool) -> None:
    store.push_outbox({"body": {"touser": "o_late", "msgtype": "text", "text": {"content": "迟到的回复"}},
                       "attempts": 0})
    fake_wechat.state.inject("/cgi-bin/message/custom/send", **fault)
    try:
        assert deliver_outbox(store, qa_api) == 0
    finally:
        fake_wechat.state.release_delays()
    assert store.outbox_size() == int(requeued)
    if requeued:
        assert deliver_outbox(store, qa_api) == 1 and len(fake_wechat.state.custom_messages()) == 1


def test_an_unexpected_failure_mid_publish_is_shown_to_editors(posts: PostService, store: Store, fake_wechat: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("bot.questions.publishing.drafting.render_post", broken)
    assert posts.tick(now).get("started", 0) == 0  # the tick goes on with the other posts
    assert status(store, pid) == "publishing"  # resumed after the lease, once the cause is gone
    error = show_error(posts, pid)
    assert error["step"] == "render" and "internal error (RuntimeError)" in error["meaning"]
    monkeypatch.undo()
    posts.tick(now + timedelta(seconds=LEASE_SECONDS + 1))
    assert store.post(pid)["publish_id"]  # type: ignore[index]


# -- found in review: the paths that could publish twice or strand a post ------------------------


def test_a_mass_send_retried_after_an_edit_is_never_sent_twice(mass: tuple[PostService, WeChat, Config],
                                                               store: Store, fake_wechat: Any) -> None:
    posts, _, _ = mass
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/message/mass/sendall", delay=3.0)  # sent, but the answer comes too late
    try:
        posts.tick(now)
    finally:
        fake_wechat.state.release_delays()
    fake_wechat.state.wait_calls(1, "/cgi-bin/message/mass/sendall")
    assert status(store, pid) == "scheduled"  # retried later with the same clientmsgid (WeChat refuses a repeat)
    posts.answer(pid, "g1", "更正：可以少量食用。")  # an editor fixes a typo meanwhile
    posts.tick(now + timedelta(seconds=61))
    post = store.post(pid)
    assert post and post["status"] == "failed" and "handed to WeChat" in post["failure"]
    assert len(fake_wechat.state.snapshot()["mass_sends"]) == 1 and len(calls(fake_wechat, "draft/add")) == 1


def test_a_late_event_of_a_retired_job_does_not_touch_the_next_attempt(posts: PostService, store: Store,
                                                                      fake_wechat: Any, config: Config,
                                                                      qa_api: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", publish_status=3)  # job 1 fails
    posts.tick(now)
    first = store.post(pid)["publish_id"]  # type: ignore[index]
    fake_wechat.state.finish_publish(first)
    posts.tick(now + timedelta(seconds=10))  # the poll finds it failed
    assert status(store, pid) == "failed"
    posts.schedule(pid, now + timedelta(seconds=20))  # a final failure: the editor tries again
    real_post = qa_api.post

    def late_push_during_submit(url: str, **kwargs: Any) -> Any:
        if url == "freepublish/submit":  # job 1's PUBLISHJOBFINISH, repeated late, arrives meanwhile
            assert posts.publisher.on_event(job_event(config, first, 3)) is None
        return real_post(url, **kwargs)

    monkeypatch.setattr(qa_api, "post", late_push_during_submit)
    posts.tick(now + timedelta(seconds=20))
    post = store.post(pid)
    assert post and post["status"] == "publishing" and post["publish_id"] not in ("", first)
    assert finish_by_event(posts, fake_wechat, config, post["publish_id"]) == pid
    assert status(store, pid) == "published" and len(calls(fake_wechat, "freepublish/submit")) == 2


@pytest.mark.parametrize("how", ["mapped only", "after max polls"])
def test_an_event_without_the_article_list_still_publishes_a_failed_post(posts: PostService, store: Store,
                                                                         fake_wechat: Any, config: Config,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         how: str) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    if how == "mapped only":
        publish_id = crash_before_the_submit_is_recorded(posts, store, now, monkeypatch)
    else:
        fake_wechat.state.configure(publish_polls=-1)
        posts.tick(now)
        publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
        at = now
        for _ in range(MAX_POLLS):
            at += timedelta(hours=1)
            posts.publisher.poll(pid, at)
    assert status(store, pid) == "failed"
    job = fake_wechat.state.finish_publish(publish_id, 0)
    assert posts.publisher.on_event(job_event(config, publish_id, 0, job["article_id"])) == pid  # no article list
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"] == job["article_detail"]["item"][0]["article_url"]


def test_after_an_unknown_submit_an_edit_waits_for_the_editors_check(posts: PostService, store: Store,
                                                                     fake_wechat: Any, runner: Any) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", http_status=502)  # WeChat did not take it, as it happens
    posts.tick(now)
    assert "outcome unknown" in store.post(pid)["failure"]  # type: ignore[index]
    posts.answer(pid, "g1", "更正：请先咨询随访医生。")
    posts.schedule(pid, now)
    posts.tick(now + timedelta(seconds=1))
    post = store.post(pid)
    assert post and post["status"] == "failed" and "mark-not-published" in post["failure"]
    assert len(calls(fake_wechat, "freepublish/submit")) == 0  # the 502 was not accepted; nothing else was sent
    out = runner.invoke(args=["posts", "mark-not-published", pid]).output  # checked 发表记录: not there
    assert f"post {pid}: marked not published" in out
    posts.schedule(pid, now)
    posts.tick(now + timedelta(seconds=2))
    drafts = calls(fake_wechat, "draft/add")
    assert len(drafts) == 2 and "更正" in drafts[1].body["articles"][0]["content"]
    assert status(store, pid) == "publishing" and len(calls(fake_wechat, "freepublish/submit")) == 1
    with pytest.raises(EditError, match="only a failed post"):
        posts.mark_not_published(pid)


def test_claims_of_every_post_in_a_tick_carry_the_time_they_are_made(posts: PostService, store: Store,
                                                                     fake_wechat: Any, qa_api: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    first = answered_post(posts, store)  # three askers
    ask(posts, "o_b_1", "移植后能养猫吗")
    second = posts.run_digest().post
    assert second
    posts.answer(second, "g1", "可以，注意卫生。")
    posts.confirm(second, ["g1"])  # an editor read the question text
    for pid in (first, second):
        posts.schedule(pid, now)
        posts.publisher.publish(pid, now)
        publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
        job = fake_wechat.state.finish_publish(publish_id, 0)
        assert posts.publisher.finish(pid, publish_id, 0, job["article_id"],
                                      job["article_detail"]["item"][0]["article_url"], now)
    seconds = [0.0]
    monkeypatch.setattr(posts.publisher, "elapsed", lambda: seconds[0])
    real_send = qa_api.send_custom
    other: list[int] = []

    def slow_send(body: dict[str, Any]) -> None:
        real_send(body)
        if other:
            return
        seconds[0] += 200  # this tick's sends are slow
        if body["touser"] == "o_b_1":  # the second post's asker, 800 s into the tick: another scheduler ticks
            other.append(posts.publisher.follow_up(second, now + timedelta(seconds=seconds[0])))

    monkeypatch.setattr(qa_api, "send_custom", slow_send)
    posts.publisher.tick(now)
    assert other == [0]  # the claim made 800 s into the tick was fresh: nobody told that asker again
    touched = [m.touser for m in fake_wechat.state.custom_messages()]
    assert sorted(touched) == ["o_ask_1", "o_ask_2", "o_ask_3", "o_b_1"]


def test_only_the_followers_own_messages_reopen_the_48_hour_window(app: Any, wechat: WeChat, store: Store,
                                                                  config: Config) -> None:
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    ask(service, "o_win", "移植后多久可以出国旅行", hours_ago=60)
    asker = Pseudonymizer(config.secret_key)("o_win")
    before = float(store.follower(asker)["last_seen"])  # type: ignore[index]
    wechat.event("CLICK", "MENU_ARTICLES", openid="o_win")
    wechat.event("subscribe", openid="o_win")
    assert float(store.follower(asker)["last_seen"]) == before  # type: ignore[index]  # events do not
    wechat.send("答疑", openid="o_win")  # a message handled off the fast path still counts
    assert float(store.follower(asker)["last_seen"]) > before + 59 * 3600  # type: ignore[index]


def job_event(config: Config, publish_id: str, status: int, article_id: str = "") -> PublishJobFinishEvent:
    """PUBLISHJOBFINISH as WeChat may push it: without the article list."""
    xml = publish_event_xml(config.account.original_id, publish_id, status, article_id, [], [], int(time.time()))
    event = parse_message(xml.encode())
    assert isinstance(event, PublishJobFinishEvent)
    return event


def test_a_retired_jobs_late_event_never_attaches_to_a_later_unknown_attempt(
        posts: PostService, store: Store, fake_wechat: Any, config: Config,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The editor follows every failure message in turn; an old job's event must not reopen the post."""
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    old_job = crash_before_the_submit_is_recorded(posts, store, now, monkeypatch)  # job X: outcome unknown
    later = now + timedelta(seconds=LEASE_SECONDS + 1)
    posts.schedule(pid, later)
    posts.tick(later + timedelta(seconds=1))  # the same draft again: WeChat says it is gone
    posts.mark_not_published(pid)  # the editor looked: X is not (yet) in the published list
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", delay=3.0)  # the next job is taken, its answer lost
    try:
        posts.schedule(pid, later)
        posts.tick(later + timedelta(seconds=2))
    finally:
        fake_wechat.state.release_delays()
    fake_wechat.state.wait_calls(2, "/cgi-bin/freepublish/submit")
    pinned = store.post(pid)["submitted_draft"]  # type: ignore[index]
    assert pinned
    fake_wechat.state.finish_publish(old_job, 3)  # X fails after all, and its event arrives late
    posts.publisher.on_event(job_event(config, old_job, 3))
    post = store.post(pid)
    assert post and post["status"] == "failed" and not post.get("publish_id") and post["submitted_draft"] == pinned
    posts.schedule(pid, later)  # a reschedule reuses the pinned draft, which WeChat refuses as used: never doubled
    posts.tick(later + timedelta(seconds=3))
    assert status(store, pid) == "failed" and len(calls(fake_wechat, "freepublish/submit")) == 2  # X and the second


def test_an_event_without_any_article_link_does_not_finish_the_post(posts: PostService, store: Store,
                                                                    fake_wechat: Any, config: Config,
                                                                    qa_api: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    posts.tick(now)
    publish_id = store.post(pid)["publish_id"]  # type: ignore[index]
    real_post = qa_api.post

    def no_links(url: str, **kwargs: Any) -> Any:
        result = real_post(url, **kwargs)
        return {k: v for k, v in result.items() if k != "article_detail"} if url == "freepublish/get" else result

    fake_wechat.state.finish_publish(publish_id, 0)
    monkeypatch.setattr(qa_api, "post", no_links)
    assert posts.publisher.on_event(job_event(config, publish_id, 0)) == pid
    assert status(store, pid) == "publishing" and fake_wechat.state.custom_messages() == []
    monkeypatch.setattr(qa_api, "post", real_post)
    posts.tick(now + timedelta(seconds=10))  # the poll gets the link: published, and the askers told
    assert status(store, pid) == "published" and len(fake_wechat.state.custom_messages()) == 3


def test_a_final_job_failure_unpins_the_draft(posts: PostService, store: Store, fake_wechat: Any) -> None:
    pid = answered_post(posts, store)
    now = datetime.now(UTC)
    posts.schedule(pid, now)
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", publish_status=3)
    posts.tick(now)
    fake_wechat.state.finish_publish(store.post(pid)["publish_id"])  # type: ignore[index]
    posts.tick(now + timedelta(seconds=10))
    post = store.post(pid)
    assert post and post["status"] == "failed" and post["publish_status"] == "3" and not post["submitted_draft"]
    with pytest.raises(EditError, match="only a failed post whose publishing outcome is unknown"):
        posts.mark_published(pid, "https://mp.weixin.qq.com/s/not-live")
