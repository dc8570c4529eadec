"""Issue 4, editing: the editors' service and CLI, and the article HTML (follower text always escaped)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.questions.batching import run_batch
from bot.questions.posts import EditError, PostService
from bot.questions.render import CONTENT_MAX_CHARS, DIGEST_MAX, TITLE_MAX
from bot.store import Store

NOW = datetime.now(UTC)


def ask(posts: PostService, text: str, who: str, minutes: float = 0) -> str:
    received = posts.desk.receive(openid=f"o_{who}", asker=who, body=text, text=text,
                                  now=NOW - timedelta(hours=2) + timedelta(minutes=minutes))
    return received.qid


def draft(posts: PostService, store: Store) -> str:
    result = run_batch(store, posts.qa, posts.title_for(NOW), NOW)
    assert result.post
    return result.post


@pytest.fixture
def pid(posts: PostService, store: Store) -> str:
    ask(posts, "肾移植后可以吃豆腐吗", "u_a", 0)
    ask(posts, "肾移植后可以吃豆腐吗？", "u_b", 1)
    ask(posts, "术后多久可以开车", "u_c", 2)
    ask(posts, "术后多久能骑自行车呢", "u_d", 3)
    ask(posts, "<script>alert('x')</script>]]><b>移植后能养狗吗</b>", "u_e", 4)
    return draft(posts, store)


def test_answer_reject_merge_update_groups_and_questions(posts: PostService, store: Store, pid: str) -> None:
    g = {grp["text"][:6]: grp for grp in store.groups(pid)}
    tofu, drive, hostile = g["肾移植后可以"], g["术后多久可以"], g["<scrip"]
    posts.answer(pid, tofu["id"], "可以适量吃。\n注意总蛋白摄入。", question="移植后能吃豆腐吗？")
    assert {store.question(q)["status"] for q, _ in tofu["q"]} == {"answered"}  # type: ignore[index]

    posts.reject(pid, hostile["id"])
    [(rejected_q, rejected_asker)] = hostile["q"]
    assert store.question(rejected_q)["status"] == "rejected"  # type: ignore[index]
    assert store.follower(rejected_asker) is None  # nothing left to tell them: the openid is gone

    # Driving and cycling are two questions to the grouper; an editor who answers them together merges them.
    drive_too = g["术后多久能骑"]
    assert drive["q"] == [[drive["q"][0][0], "u_c"]] and drive_too["q"] == [[drive_too["q"][0][0], "u_d"]]
    posts.merge(pid, drive_too["id"], drive["id"])
    moved = drive_too["q"][0][0]
    assert store.question(moved)["status"] == "merged" and store.question(moved)["into"] == drive["id"]  # type: ignore[index]
    after = {grp["id"]: grp for grp in store.groups(pid)}
    assert after[drive_too["id"]]["state"] == "merged" and after[drive_too["id"]]["q"] == []
    merged = after[drive["id"]]
    assert merged["askers"] == 2 and merged["q"] == [*drive["q"], *drive_too["q"]] and merged["merged"] == [moved]
    with pytest.raises(EditError, match="is merged"):
        posts.answer(pid, drive_too["id"], "合并后的组不能单独回答")

    with pytest.raises(EditError, match="is rejected"):
        posts.answer(pid, hostile["id"], "不应成功")
    with pytest.raises(EditError, match="no group g99"):
        posts.answer(pid, "g99", "x")
    with pytest.raises(EditError, match="into itself"):
        posts.merge(pid, tofu["id"], tofu["id"])


def test_rendered_article_escapes_follower_text_and_keeps_wechat_limits(posts: PostService, store: Store,
                                                                        pid: str) -> None:
    hostile = next(grp for grp in store.groups(pid) if grp["text"].startswith("<script>"))
    posts.answer(pid, hostile["id"], "可以，但要注意卫生。<img src=x onerror=alert(1)>")
    posts.edit(pid, title="肾移植答疑 · 特别长的标题也不能超过三十二个字符")
    rendered = posts.preview(pid)
    html = rendered.html
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "]]&gt;" in html and "&lt;img src=x" in html
    assert posts.qa.publishing.disclaimer in html
    tags = re.findall(r"<[^>]*>", html)
    assert tags and not [t for t in tags if re.search(r"\s(class|id|on\w+)=", t)]  # inline styles only
    assert len(rendered.title) <= TITLE_MAX and len(rendered.digest) <= DIGEST_MAX
    assert len(html) < CONTENT_MAX_CHARS
    with pytest.raises(EditError, match="1 to 32 characters"):
        posts.edit(pid, title="长" * 33)


def test_digest_and_title_are_clipped(posts: PostService, store: Store) -> None:
    topics = ["他克莫司血药浓度偏低", "吗替麦考酚酯引起腹泻", "移植肾彩超显示阻力指数升高", "尿蛋白两个加号",
              "血糖控制不好要打胰岛素", "骨密度下降需要补钙", "巨细胞病毒核酸阳性", "皮肤长了很多疣",
              "想去高原地区旅游", "睡眠不好能否吃安眠药", "牙龈增生要不要手术", "贫血需要用促红素"]
    for i, topic in enumerate(topics):
        ask(posts, f"{topic}该怎么处理，需要多久复查一次？", f"u_{i}", i)
    p = draft(posts, store)
    for grp in store.groups(p):
        posts.answer(p, grp["id"], "请遵医嘱。")
    rendered = posts.preview(p)
    assert len(rendered.digest) == DIGEST_MAX and rendered.digest.endswith("…") and rendered.groups == 12


def test_schedule_needs_an_answer_and_edits_stop_while_publishing(posts: PostService, store: Store, pid: str) -> None:
    with pytest.raises(EditError, match="no question group has an answer"):
        posts.schedule(pid, NOW)
    first = store.groups(pid)[0]["id"]
    posts.answer(pid, first, "答复。")
    with pytest.raises(EditError, match=f"group\\(s\\) {first} has not been confirmed by an editor"):
        posts.schedule(pid, NOW + timedelta(days=1))
    posts.confirm(pid, [first])
    posts.schedule(pid, NOW + timedelta(days=1))
    assert store.post(pid)["status"] == "scheduled"  # type: ignore[index]
    posts.unschedule(pid)
    assert store.post(pid)["status"] == "draft"  # type: ignore[index]
    with pytest.raises(EditError, match="not scheduled"):
        posts.unschedule(pid)
    with pytest.raises(EditError, match="time zone"):
        posts.schedule(pid, datetime(2026, 12, 4, 18, 0))  # naive: refused
    posts.schedule(pid, NOW)
    assert store.update_post(pid, ("scheduled",), "publishing", now=NOW.timestamp(), score=0, fields={"owner": "x"})
    for edit in (lambda: posts.answer(pid, first, "改"), lambda: posts.reject(pid, first),
                 lambda: posts.confirm(pid, [first], "改过的问题"),
                 lambda: posts.schedule(pid, NOW), lambda: posts.edit(pid, intro="新")):
        with pytest.raises(EditError, match="publishing"):
            edit()


def test_reject_single_questions(posts: PostService, store: Store, pid: str) -> None:
    late = ask(posts, "还没有批处理的问题", "u_late", 500)
    posts.reject_question(late)
    assert store.question(late)["status"] == "rejected" and store.pending_count() == 0  # type: ignore[index]
    assert store.follower("u_late") is None
    tofu = store.groups(pid)[0]
    posts.reject_question(tofu["q"][0][0])
    assert len(store.groups(pid)[0]["q"]) == len(tofu["q"]) - 1
    with pytest.raises(EditError, match="cannot be rejected now"):
        posts.reject_question(late)


def test_cli_walks_an_editor_through_a_post(runner: Any, app: Any, store: Store) -> None:
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    ask(service, "我的电话13812345678，移植后能喝绿茶吗", "u_cli", 0)
    out = runner.invoke(args=["questions", "list"]).output
    assert "1 pending question(s)" in out and "能喝绿茶吗" in out and "13812345678" not in out
    out = runner.invoke(args=["digest", "run"]).output
    assert "post 1: 1 question(s) in 1 group(s)" in out
    assert "no pending questions" in runner.invoke(args=["digest", "run"]).output
    assert "draft" in runner.invoke(args=["posts", "list"]).output
    refused = runner.invoke(args=["posts", "schedule", "1", "now"])
    assert refused.exit_code == 1 and "no question group has an answer" in refused.output
    assert runner.invoke(args=["posts", "answer", "1", "g1", "可以适量饮用淡茶。"]).exit_code == 0
    preview = runner.invoke(args=["posts", "preview", "1"]).output
    assert "可以适量饮用淡茶" in preview and "13812345678" not in preview
    assert "question text not confirmed" in runner.invoke(args=["posts", "show", "1"]).output
    refused = runner.invoke(args=["posts", "schedule", "1", "2030-01-04 18:00"])
    assert refused.exit_code == 1 and "posts confirm 1 g1" in refused.output
    review = runner.invoke(args=["posts", "review", "1"]).output
    assert review.startswith("g1 (NOT CONFIRMED): ") and "能喝绿茶吗" in review and "13812345678" not in review
    assert runner.invoke(args=["posts", "confirm", "1", "g1"]).output.strip() == "question text of g1 confirmed"
    assert runner.invoke(args=["posts", "review", "1"]).output.startswith("g1 (confirmed): ")
    out = runner.invoke(args=["posts", "schedule", "1", "2030-01-04 18:00"]).output
    assert "scheduled for 2030-01-04 18:00" in out
    show = runner.invoke(args=["posts", "show", "1"]).output
    assert "post 1: scheduled" in show and "g1" in show and "answered" in show
    assert runner.invoke(args=["posts", "show", "9"]).output.strip().endswith("no post 9")
    shown = runner.invoke(args=["questions", "show", "1"]).output
    assert "question 1: answered" in shown and "能喝绿茶吗" in shown and "13812345678" not in shown
    assert "13812345678" in runner.invoke(args=["questions", "show", "1", "--raw"]).output


@pytest.mark.parametrize("args", [["posts", "show", "seq"], ["posts", "show", "1:groups"], ["posts", "preview", "seq"],
                                  ["posts", "answer", "seq", "g1", "x"], ["posts", "answer", "1", "1:x", "x"],
                                  ["posts", "merge", "1", "g1", "groups"], ["posts", "schedule", "1:q", "now"],
                                  ["posts", "unschedule", "seq"], ["posts", "publish", "seq"],
                                  ["questions", "show", "seq"], ["questions", "show", "new"],
                                  ["questions", "reject", "1:x"], ["posts", "show", " 1"]])
def test_bad_ids_get_one_clear_line_and_change_nothing(runner: Any, app: Any, store: Store, args: list[str]) -> None:
    service: PostService = app.extensions["wxbot"].ctx.services.posts
    ask(service, "移植后能喝绿茶吗", "u_ids", 0)
    draft(service, store)

    def snapshot() -> dict[bytes, Any]:
        return {k: store.redis.dump(k) for k in sorted(store.redis.scan_iter(match=store.prefix + "*"))}

    before = snapshot()
    result = runner.invoke(args=args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # click's error exit, no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not a" in lines[0] and "Traceback" not in result.output, result.output
    assert snapshot() == before
    with pytest.raises(EditError, match="not a post id"):
        service.show("seq")


def test_review_marks_what_the_scrubber_was_unsure_of_and_rewording_confirms(posts: PostService,
                                                                              store: Store) -> None:
    ask(posts, "我姓欧阳，移植后可以吃豆腐吗", "u_unsure", 0)
    ask(posts, "术后多久可以开车", "u_sure", 1)
    pid = draft(posts, store)
    unsure, sure = posts.review(pid)
    assert unsure.text == "我姓欧阳，移植后可以吃豆腐吗" and unsure.unsure == ((2, 4),)  # "欧阳": maybe a name
    assert sure.unsure == () and not unsure.confirmed and not sure.confirmed
    posts.confirm(pid, [unsure.gid], "移植后可以吃豆腐吗")  # the editor rewords it: that wording is confirmed
    posts.answer(pid, sure.gid, "三个月后，遵医嘱。", question="术后多久可以开车？")  # written by the editor: seen
    reviewed = {g.gid: g for g in posts.review(pid)}
    assert reviewed[unsure.gid].text == "移植后可以吃豆腐吗" and reviewed[unsure.gid].confirmed
    assert reviewed[sure.gid].confirmed and not reviewed[unsure.gid].answered
    with pytest.raises(EditError, match="one group at a time"):
        posts.confirm(pid, [unsure.gid, sure.gid], "x")
    with pytest.raises(EditError, match="has no group g99"):
        posts.confirm(pid, ["g99"])


def test_a_group_answered_after_scheduling_is_not_published_until_confirmed(posts: PostService, store: Store,
                                                                            pid: str) -> None:
    first, second = (g["id"] for g in store.groups(pid)[:2])
    posts.answer(pid, first, "答复。")
    posts.confirm(pid, [first])
    posts.schedule(pid, NOW)
    posts.answer(pid, second, "另一个答复。")  # a scheduled post stays editable; this group's text is unseen
    posts.publisher.tick(NOW)
    post = store.post(pid)
    assert post is not None and post["status"] == "failed" and f"group(s) {second} was not confirmed" in post["failure"]
    assert post.get("released") != "1"  # nothing was returned or queued: the editor can still confirm it
    posts.confirm(pid, [second])
    posts.schedule(pid, NOW)  # and publishing goes on from there
    assert store.post(pid)["status"] == "scheduled"  # type: ignore[index]


def test_an_editors_time_is_read_in_the_account_zone_and_a_bad_one_is_named(posts: PostService) -> None:
    local = posts.parse_time("2026-12-07 09:30")
    assert local.tzinfo is not None and local.astimezone(posts.tz).strftime("%H:%M") == "09:30"
    assert posts.parse_time("2026-12-07T09:30+00:00") == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert abs((posts.parse_time(" NOW ") - posts.clock()).total_seconds()) < 60
    with pytest.raises(EditError, match="'tomorrow': use 'YYYY-MM-DD HH:MM'"):
        posts.parse_time("tomorrow")


def test_cli_refuses_a_time_it_cannot_read_and_schedules_nothing(runner: Any, store: Store) -> None:
    result = runner.invoke(args=["posts", "schedule", "1", "next tuesday"])
    assert result.exit_code != 0 and "'next tuesday': use 'YYYY-MM-DD HH:MM'" in result.output
    assert store.due_posts("scheduled", 4e9) == []
