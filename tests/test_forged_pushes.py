"""Signed pushes that lie about a reply post: what followers are sent and shown comes from WeChat's own record."""

from __future__ import annotations

import time
from typing import Any

from bot.config import Config
from bot.fake_wechat import publish_event_xml
from bot.questions.posts import PostService
from bot.store import Store
from tests.conftest import WeChat, wait_for
from tests.test_publishing import mass_event_xml, status

EVIL = "https://evil.example/phish"


def submitted(app: Any, wechat: WeChat, store: Store) -> tuple[PostService, str, str]:
    """Two followers asked, the post answered and submitted to WeChat; (service, post id, publish_id)."""
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    wechat.send("提问：移植后能喝咖啡吗", openid="o_forge_1")
    wechat.send("提问：移植后能喝咖啡吗？", openid="o_forge_2")
    pid = service.run_digest().post
    assert pid
    service.answer(pid, "g1", "少量可以。")
    service.confirm(pid, ["g1"])  # an editor read the question text
    service.schedule(pid, service.clock())
    service.tick()
    post = store.post(pid)
    assert post and post["publish_id"]
    return service, pid, post["publish_id"]


def test_a_forged_link_never_reaches_followers(app: Any, wechat: WeChat, store: Store, fake_wechat: Any,
                                               config: Config) -> None:
    fake_wechat.state.configure(publish_polls=-1)  # only the push says the job ended
    service, pid, publish_id = submitted(app, wechat, store)
    job = fake_wechat.state.finish_publish(publish_id)
    real = job["article_detail"]["item"][0]["article_url"]
    forged = publish_event_xml(config.account.original_id, publish_id, 0, job["article_id"], [EVIL], [],
                               int(time.time()))
    assert wechat.post(forged).data == b"success"
    wait_for(lambda: len(fake_wechat.state.custom_messages()) == 2)
    post = store.post(pid)
    assert post and post["status"] == "published" and post["url"] == real
    assert all(m.body["news"]["articles"][0]["url"] == real for m in fake_wechat.state.custom_messages())
    assert wechat.send("答疑").articles[0][2] == real
    [error] = [e for e in service.show(pid).errors if "disagreed" in e["meaning"]]
    assert EVIL in error["meaning"] and real in error["meaning"]


def test_a_forged_published_while_the_job_still_runs_changes_nothing(app: Any, wechat: WeChat, store: Store,
                                                                    fake_wechat: Any, config: Config) -> None:
    fake_wechat.state.configure(publish_polls=-1)
    _, pid, publish_id = submitted(app, wechat, store)
    forged = publish_event_xml(config.account.original_id, publish_id, 0, "A_FORGED", [EVIL], [], int(time.time()))
    assert wechat.post(forged).data == b"success"
    wait_for(lambda: any("disagreed" in e["meaning"] for e in store.post_errors(pid)))
    assert status(store, pid) == "publishing" and fake_wechat.state.custom_messages() == []
    assert store.latest_post() is None and "url" not in (store.post(pid) or {})


def test_a_forged_failure_does_not_fail_a_published_job(app: Any, wechat: WeChat, store: Store, fake_wechat: Any,
                                                       config: Config) -> None:
    fake_wechat.state.configure(publish_polls=-1)
    _, pid, publish_id = submitted(app, wechat, store)
    job = fake_wechat.state.finish_publish(publish_id)
    forged = publish_event_xml(config.account.original_id, publish_id, 3, "", [], [1], int(time.time()))
    assert wechat.post(forged).data == b"success"
    wait_for(lambda: status(store, pid) == "published")
    assert store.post(pid)["url"] == job["article_detail"]["item"][0]["article_url"]  # type: ignore[index]


def test_a_mass_send_report_only_names_wechats_own_links(mass: tuple[PostService, WeChat, Config], store: Store,
                                                         fake_wechat: Any) -> None:
    from tests.test_publishing import answered_post

    posts, wechat, config = mass
    pid = answered_post(posts, store)
    posts.schedule(pid, posts.clock())
    posts.tick()
    msg_id = store.post(pid)["msg_id"]  # type: ignore[index]
    assert wechat.post(mass_event_xml(config, msg_id, "send success", 10, 0, EVIL)).data == b"success"
    wait_for(lambda: status(store, pid) == "published")
    assert "url" not in (store.post(pid) or {}) and store.latest_post() is None
    assert any("not a WeChat article" in e["meaning"] for e in store.post_errors(pid))
