"""Issue 11, editor pages: the questions inbox and reply posts, as pages and as /api, for editors (Flask client,
real Redis, the fake WeChat API) and one browser run of answer → preview → schedule → published."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.questions.posts import PostService
from bot.store import Store
from tests.conftest import WeChat, wait_for
from tests.console import ADMIN, EDITOR, PASSWORD, browser_login, csrf_token

NOW = datetime.now(UTC)


def service(app: Flask) -> PostService:
    return app.extensions["wxbot"].ctx.services.posts


def ask(app: Flask, text: str, who: str, minutes: float = 0) -> str:
    """A question as intake stores it (the `wechat` fixture does the same through a signed push)."""
    received = service(app).desk.receive(openid=f"o_{who}", asker=who, body=text, text=text,
                                         now=NOW - timedelta(hours=2) + timedelta(minutes=minutes))
    assert received.qid
    return received.qid


def login(client: FlaskClient, name: str = EDITOR) -> dict[str, str]:
    """Log `client` in; returns the headers a cookie caller's state-changing API call needs."""
    token = csrf_token(client.get("/console/login").text)
    assert client.post("/console/login", data={"name": name, "password": PASSWORD, "csrf_token": token}
                       ).status_code == 303
    return {"X-CSRFToken": csrf_token(client.get("/console/").text)}


def form(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client.get("/console/").text)})


def audit(store: Store) -> list[dict[str, Any]]:
    return list(store.audit_entries())


# -- questions --------------------------------------------------------------------------------------

def test_inbox_filters_pages_with_a_cursor_and_says_who_is_told(client: FlaskClient, app: Flask, wechat: WeChat,
                                                                console_users: Any) -> None:
    for i in range(5):
        wechat.send(f"提问：肾移植后第{i + 1}个月可以游泳吗", openid=f"o_swim_{i}")
    ask(app, "我叫 Zhang Wei，术后多久可以上班", "u_work")
    headers = login(client)
    first = client.get("/api/questions?limit=2").json
    assert [q["id"] for q in first["items"]] == ["6", "5"] and first["next_cursor"] == "5"
    seen = [q["id"] for q in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/questions?limit=2&cursor={cursor}").json
        seen += [q["id"] for q in page["items"]]
        cursor = page["next_cursor"]
    assert seen == ["6", "5", "4", "3", "2", "1"]  # every question once, newest first

    work = client.get("/api/questions/6").json
    assert work["status"] == "new" and work["status_words"] == "待整理"
    assert work["notify"] == "after_publish" and work["notify_words"] == "发表后告知"
    assert not work["asker"].startswith("o_")  # a pseudonym, never the openid
    start, end = work["unsure"][0]
    assert work["text"][start:end] == "Zhang Wei"  # the scrubber's unsure spot, as a span of the shown text

    topic = work["topic"]
    same = client.get("/api/questions", query_string={"topic": topic}).json["items"]
    assert "6" in [q["id"] for q in same] and all(q["topic"] == topic for q in same)
    today = datetime.now(service(app).tz).date()
    assert client.get("/api/questions", query_string={"until": str(today - timedelta(days=3))}).json["items"] == []
    assert len(client.get("/api/questions", query_string={"since": str(today - timedelta(days=1)),
                                                          "status": "new"}).json["items"]) == 6

    html = client.get("/console/questions").text
    assert '<mark class="unsure" title="请核对是否含个人信息">Zhang Wei</mark>' in html
    assert "发表后告知" in html and "o_swim" not in html
    assert client.get("/console/questions?status=nonsense").status_code == 200  # a bad filter: an error, shown
    assert "筛选条件无效" in client.get("/console/questions?since=yesterday").text
    assert headers


def test_reject_all_that_match_the_filter_not_only_one_page(client: FlaskClient, app: Flask, store: Store,
                                                            console_users: Any) -> None:
    ids = [ask(app, f"第{i}个问题：移植后能不能养猫养狗{i}", f"u_pet{i}", i) for i in range(1, 8)]
    keep = ask(app, "术后多久可以开车", "u_drive", 9)
    headers = login(client)
    pet_topic = client.get(f"/api/questions/{ids[0]}").json["topic"]
    drive_topic = client.get(f"/api/questions/{keep}").json["topic"]
    if pet_topic == drive_topic:  # both fell in the catch-all topic: the filter separates them by topic below
        client.post("/api/questions/topic", json={"ids": [keep], "topic": "出行"}, headers=headers)
    assert client.get("/api/questions", query_string={"topic": pet_topic, "limit": 2}).json["next_cursor"]

    done = client.post("/api/questions/reject", headers=headers,
                       json={"filter": {"topic": pet_topic, "status": "new"}, "reason": "与移植无关"}).json
    assert sorted(done["done"], key=int) == ids and done["skipped"] == []
    for qid in ids:
        q = client.get(f"/api/questions/{qid}").json
        assert q["status"] == "rejected" and q["reason"] == "与移植无关" and q["notify_words"] == "不告知"
    assert client.get(f"/api/questions/{keep}").json["status"] == "new"
    entry = next(e for e in audit(store) if e["action"] == "questions.reject")
    assert entry["actor"] == EDITOR and entry["after"]["count"] == 7 and entry["after"]["reason"] == "与移植无关"
    assert "理由：与移植无关" in client.get("/console/questions?status=rejected").text

    again = client.post("/api/questions/reject", headers=headers, json={"ids": [ids[0]]}).json
    assert again["done"] == [] and again["skipped"][0]["id"] == ids[0]  # already rejected: skipped, says why


def test_merge_and_topic_on_pending_questions_shape_the_next_post(client: FlaskClient, app: Flask, store: Store,
                                                                  console_users: Any) -> None:
    a = ask(app, "移植后可以喝豆浆吗", "u_a", 1)
    b = ask(app, "豆制品每天吃多少合适", "u_b", 2)
    c = ask(app, "术后多久能坐飞机", "u_c", 3)
    d = ask(app, "黄豆芽能吃吗", "u_d", 4)
    login(client)
    form(client, "/console/questions/action", {"action": "merge", "q": [d], "into": b})
    resp = form(client, "/console/questions/action", {"action": "merge", "q": [b], "into": a, "scope": "selected"})
    assert resp.status_code == 303 and "已合并 1 个问题" in client.get(resp.headers["Location"]).text
    assert client.get(f"/api/questions/{d}").json["into"] == a  # merged into b, it follows b into a
    form(client, "/console/questions/action", {"action": "topic", "q": [c], "new_topic": "出行"})
    assert client.get(f"/api/questions/{b}").json["into"] == a
    assert client.get(f"/api/questions/{c}").json["topic"] == "出行"
    refused = form(client, "/console/questions/action", {"action": "topic", "q": [b], "new_topic": "饮食"})
    assert "请改问题 " in client.get(refused.headers["Location"]).text  # a merged question follows its target
    form(client, "/console/questions/action", {"action": "topic", "q": [a], "new_topic": "饮食"})
    assert {client.get(f"/api/questions/{q}").json["topic"] for q in (a, b, d)} == {"饮食"}

    pid = service(app).run_digest().post
    assert pid
    groups = store.groups(pid)
    together = next(g for g in groups if any(q == a for q, _ in g["q"]))
    assert sorted(q for q, _ in together["q"]) == sorted([a, b, d]) and together["askers"] == 3  # one answer, all told
    assert next(g for g in groups if any(q == c for q, _ in g["q"]))["topic"] == "出行"
    actions = {(e["action"], e["actor"]) for e in audit(store)}
    assert {("questions.merge", EDITOR), ("questions.topic", EDITOR)} <= actions

    headers = {"X-CSRFToken": csrf_token(client.get("/console/").text)}
    late = client.post("/api/questions/topic", headers=headers, json={"ids": [a], "topic": "饮食"}).json
    assert late["done"] == [] and "only pending" in late["skipped"][0]["reason"]  # batched: change it in the post


def test_questions_api_refuses_bad_input_and_strangers(client: FlaskClient, app: Flask, console_users: Any) -> None:
    qid = ask(app, "移植后可以喝茶吗", "u_tea")
    assert client.get("/api/questions").status_code == 401
    assert client.post("/api/questions/reject", json={"ids": [qid]}).status_code == 401
    headers = login(client)
    assert client.get("/api/questions?status=lost").status_code == 422
    assert client.get("/api/questions?cursor=abc").json["error"]["field"] == "cursor"
    assert client.get("/api/questions/abc").status_code == 422
    assert client.get("/api/questions/999").status_code == 404
    both = client.post("/api/questions/reject", headers=headers, json={"ids": [qid], "filter": {}})
    assert both.status_code == 422
    assert client.post("/api/questions/reject", headers=headers, json={"ids": [qid], "reason": "x" * 201}
                       ).json["error"]["field"] == "reason"
    assert client.post("/api/questions/merge", headers=headers, json={"ids": [qid], "into": "999"}).status_code == 404
    assert client.post("/api/questions/reject", json={"ids": [qid]}).status_code == 403  # no CSRF header
    assert client.get(f"/api/questions/{qid}").json["status"] == "new"  # nothing changed


def test_cli_rejects_with_a_reason_on_the_same_service(runner: Any, app: Flask, store: Store) -> None:
    qid = ask(app, "移植后能喝酒吗", "u_wine")
    out = runner.invoke(args=["questions", "reject", qid, "--reason", "重复提问"]).output
    assert f"question {qid} rejected" in out
    assert store.question(qid)["reason"] == "重复提问"  # type: ignore[index]
    assert audit(store)[0]["actor"] == "cli" and audit(store)[0]["action"] == "question.reject"


# -- reply posts ------------------------------------------------------------------------------------

@pytest.fixture
def drafted(app: Flask) -> str:
    ask(app, "肾移植后可以吃豆腐吗", "u_a", 0)
    ask(app, "肾移植后可以吃豆腐吗？", "u_b", 1)
    ask(app, "术后多久可以开车", "u_c", 2)
    ask(app, "术后多久能骑自行车呢", "u_d", 3)
    pid = service(app).run_digest().post
    assert pid
    return pid


def test_post_api_answers_merges_schedules_and_publishes(client: FlaskClient, app: Flask, store: Store,
                                                         fake_wechat: Any, drafted: str, console_users: Any) -> None:
    headers = login(client)
    pid = drafted
    assert [p["id"] for p in client.get("/api/posts").json] == [pid]
    post = client.get(f"/api/posts/{pid}").json
    assert post["status"] == "draft" and post["status_words"] == "草稿" and not post["outcome_unknown"]
    tofu, drive, ride = (g["id"] for g in post["groups_detail"])
    call = lambda path, body=None: client.post(f"/api/posts/{pid}/{path}", json=body or {}, headers=headers)  # noqa: E731

    answered = call("answer", {"group": tofu, "answer": "可以适量吃。"}).json
    assert answered["unconfirmed"] == [tofu]
    assert call("schedule", {"at": "now"}).status_code == 409  # its question text is not confirmed yet
    assert call("confirm", {"groups": [tofu]}).json["unconfirmed"] == []
    merged = call("merge", {"group": ride, "into": drive}).json
    assert {g["id"]: g["state"] for g in merged["groups_detail"]}[ride] == "merged"
    assert call("reject", {"group": drive}).status_code == 200

    later = (datetime.now(service(app).tz) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert call("schedule", {"at": later}).json["status"] == "scheduled"
    assert call("unschedule").json["status"] == "draft"
    published = call("publish").json
    assert published["started"] and published["post"]["status"] in ("publishing", "published")
    assert [c.body for c in fake_wechat.state.calls("/cgi-bin/freepublish/submit")]
    assert call("publish").status_code == 409  # being published: no second time

    actions = [(e["action"], e["actor"]) for e in audit(store) if e["target"].startswith(f"post:{pid}")]
    for action in ("post.answer", "post.confirm", "post.merge", "post.reject", "post.schedule", "post.unschedule"):
        assert (action, EDITOR) in actions
    answer_entry = next(e for e in audit(store) if e["action"] == "post.answer")
    assert answer_entry["before"] == {"answer": ""} and answer_entry["after"] == {"answer": "可以适量吃。"}


def test_after_publishing_each_asker_reads_as_told(client: FlaskClient, app: Flask, wechat: WeChat,
                                                   store: Store, console_users: Any) -> None:
    wechat.send("提问：移植后能喝咖啡吗", openid="o_cup_1")
    wechat.send("提问：移植后能喝咖啡吗？", openid="o_cup_2")
    svc = service(app)
    pid = svc.run_digest().post
    assert pid
    svc.answer(pid, "g1", "少量可以。")
    svc.confirm(pid, ["g1"])
    svc.schedule(pid, svc.clock())
    for step in range(6):
        if store.post(pid)["status"] == "published" and not store.notifications_left(pid):  # type: ignore[index]
            break
        svc.tick(datetime.now(UTC) + timedelta(minutes=step))
    login(client)
    rows = client.get("/api/questions").json["items"]
    assert {q["status"] for q in rows} == {"published"} and {q["notify_words"] for q in rows} == {"已告知"}


def test_post_api_maps_every_refusal_to_a_clear_status(client: FlaskClient, drafted: str,
                                                       console_users: Any) -> None:
    pid = drafted
    assert client.get(f"/api/posts/{pid}").status_code == 401
    headers = login(client)
    call = lambda path, body=None: client.post(f"/api/posts/{pid}/{path}", json=body or {}, headers=headers)  # noqa: E731
    assert client.get("/api/posts/abc").status_code == 422
    assert client.get("/api/posts/999").status_code == 404
    assert client.post("/api/posts/999/unschedule", headers=headers).status_code == 409  # nothing to unschedule
    assert call("answer", {"group": "g99", "answer": "x"}).status_code == 404
    assert call("answer", {"group": "g1", "answer": ""}).json["error"]["field"] == "answer"
    assert call("answer", {"group": "x1", "answer": "y"}).json["error"]["field"] == "group"
    assert call("merge", {"group": "g1", "into": "g1"}).status_code == 422
    assert call("schedule", {"at": "tomorrow-ish"}).status_code == 422
    assert call("schedule", {"at": "now"}).status_code == 409  # nothing answered
    assert call("mark-published", {"url": "https://mp.weixin.qq.com/s/x"}).status_code == 409
    assert call("mark-published", {"url": "javascript:alert(1)"}).status_code in (409, 422)
    assert call("mark-not-published").status_code == 409
    assert client.get(f"/api/posts/{pid}").json["status"] == "draft"


def test_post_pages_autosave_preview_sandboxed_and_explain_errors(client: FlaskClient, app: Flask, store: Store,
                                                                  console_users: Any) -> None:
    ask(app, "豆浆能喝吗", "u_a", 0)
    ask(app, "豆浆不能喝吗", "u_b", 1)  # alike to the letter, yet the opposite: an unsure merge, suggested
    pid = service(app).run_digest().post
    assert pid
    login(client)
    html = client.get(f"/console/posts/{pid}").text
    assert 'hx-post="/console/posts/' in html
    assert "可能与 <a href=\"#g1\">g1</a> 是同一个问题" in html and 'name="into" value="g1"' in html
    token = csrf_token(html)
    saved = client.post(f"/console/posts/{pid}/groups/g1/answer", data={"answer": "可以。", "csrf_token": token},
                        headers={"HX-Request": "true"})
    assert saved.status_code == 200 and "已保存" in saved.text and "<html" not in saved.text
    empty = client.post(f"/console/posts/{pid}/groups/g1/answer", data={"answer": " ", "csrf_token": token},
                        headers={"HX-Request": "true"})
    assert "未保存：回答不能为空" in empty.text
    assert client.post(f"/console/posts/{pid}/groups/g1/answer", data={"answer": "x"}).status_code == 400  # CSRF

    preview = client.get(f"/console/posts/{pid}/preview")
    csp = preview.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert "可以。" in preview.text and preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert '<iframe class="preview-frame"' in client.get(f"/console/posts/{pid}").text

    done = client.post(f"/console/posts/{pid}/action", data={"action": "schedule", "at": "2020-13-40T99:00",
                                                             "csrf_token": token})
    assert done.status_code == 303 and "时间格式应为" in client.get(done.headers["Location"]).text
    assert client.get("/console/posts/999").status_code == 404
    assert client.get("/console/posts/..%2Fx").status_code == 404
    assert pid in client.get("/console/posts").text


def test_unknown_outcome_asks_the_editor_to_check_the_published_list(client: FlaskClient, app: Flask,
                                                                     store: Store, fake_wechat: Any, drafted: str,
                                                                     console_users: Any) -> None:
    pid = drafted
    svc = service(app)
    svc.answer(pid, "g1", "可以适量吃。")
    svc.confirm(pid, ["g1"])
    fake_wechat.state.inject("/cgi-bin/freepublish/submit", http_status=502)
    svc.publish_now(pid)
    if store.post(pid)["status"] != "failed":  # type: ignore[index]
        svc.tick(datetime.now(UTC) + timedelta(hours=1))
    login(client)
    detail = client.get(f"/api/posts/{pid}").json
    assert detail["status"] == "failed" and detail["outcome_unknown"]
    assert any(e["step_words"] and "错误码" in e["words"] for e in detail["errors"])
    html = client.get(f"/console/posts/{pid}").text
    assert "发表记录" in html and 'value="mark-published"' in html and 'value="mark-not-published"' in html
    token = csrf_token(html)
    bad = client.post(f"/console/posts/{pid}/action", data={"action": "mark-published", "url": "http://x",
                                                            "csrf_token": token})
    assert "链接应为文章地址" in client.get(bad.headers["Location"]).text
    client.post(f"/console/posts/{pid}/action", data={"action": "mark-not-published", "csrf_token": token})
    assert not client.get(f"/api/posts/{pid}").json["outcome_unknown"]
    assert any(e["action"] == "post.mark_not_published" and e["actor"] == EDITOR for e in audit(store))


def test_editor_and_admin_may_use_both_pages(client: FlaskClient, app: Flask, console_users: Any) -> None:
    ask(app, "移植后可以喝茶吗", "u_tea")
    for name in (EDITOR, ADMIN):
        login(client, name)
        assert client.get("/console/questions").status_code == 200
        assert client.get("/console/posts").status_code == 200
        assert client.get("/api/questions").status_code == 200
        nav = client.get("/console/").text
        assert 'href="/console/questions"' in nav and 'href="/console/posts"' in nav
    ops = client.get("/api/openapi.json").json["paths"]
    assert {"/api/questions", "/api/questions/reject", "/api/posts/{post_id}/mark-published"} <= ops.keys()


# -- the proof, in a browser ---------------------------------------------------------------------

@pytest.mark.browser
def test_an_editor_answers_previews_and_schedules_and_it_is_published(
        live_server: str, store: Store, posts: PostService, fake_wechat: Any, console_users: Any,
        page: Any) -> None:
    posts.desk.receive(openid="o_b1", asker="u_b1", body="肾移植后可以喝咖啡吗", text="肾移植后可以喝咖啡吗",
                       now=NOW - timedelta(hours=1))
    pid = posts.run_digest().post
    assert pid
    page.set_viewport_size({"width": 375, "height": 800})
    browser_login(page, live_server, EDITOR)
    page.goto(f"{live_server}/console/posts/{pid}")
    page.fill("#g1 textarea[name=answer]", "少量可以，注意与药物间隔。")
    page.wait_for_selector("#g1 .save-state:has-text('已保存 ')")  # htmx saved it, no button pressed
    page.click("#g1 button[value=confirm]")
    page.wait_for_selector("text=问题文字已确认")
    frame = page.frame_locator("iframe.preview-frame")
    assert "少量可以" in frame.locator("body").inner_text()
    page.click("button[value=schedule]")
    page.wait_for_selector("#post-status:has-text('已定时')")
    assert store.post(pid)["status"] == "scheduled"  # type: ignore[index]

    posts.tick(datetime.now(UTC) + timedelta(minutes=1))  # the scheduler's job, against the same store
    wait_for(lambda: [c for c in fake_wechat.state.calls("/cgi-bin/freepublish/submit") if c.errcode == 0])
    for step in range(1, 5):
        if store.post(pid)["status"] == "published":  # type: ignore[index]
            break
        posts.tick(datetime.now(UTC) + timedelta(minutes=1 + step))
    page.reload()
    assert page.inner_text("#post-status") == "已发表"
    assert page.console_errors == []  # nothing refused by the Content-Security-Policy
    assert re.search(r"https://mp\.weixin\.qq\.com/s/", store.post(pid)["url"])  # type: ignore[index]
