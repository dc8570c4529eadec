"""Issue 4, batching: grouping and merging, oldest first, exactly once per slot, resumable after a crash."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, QASchedule, _crontab_weekdays, parse_config
from bot.questions.batching import latest_slot, run_batch
from bot.questions.posts import PostService
from bot.store import Store
from tests.test_config import sample

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ask(posts: PostService, text: str, who: str = "u_1", minutes: float = 0) -> str:
    received = posts.desk.receive(openid=f"o_{who}", asker=who, body=text, text="提问：" + text,
                                  now=T0 + timedelta(minutes=minutes))
    assert received.outcome == "new"
    return received.qid


def all_question_ids(store: Store) -> list[str]:
    return [str(i) for i in range(1, int(store.redis.get(store.key("q", "seq")) or 0) + 1)]


def assert_each_question_in_one_place(store: Store) -> None:
    """Every question is pending or in exactly one post's set, never both, never neither."""
    pending = set(store.pending_question_ids())
    homes: dict[str, list[str]] = {}
    for pid in store.post_ids(1000):
        for qid in store.post_question_ids(pid):
            homes.setdefault(qid, []).append(pid)
    for qid in all_question_ids(store):
        places = homes.get(qid, []) + (["pending"] if qid in pending else [])
        assert len(places) == 1, (qid, places)


def test_groups_by_topic_merges_near_duplicates_with_counts_oldest_first(posts: PostService, store: Store) -> None:
    tofu = [ask(posts, "肾移植后可以吃豆腐吗", "u_a", 1), ask(posts, "肾移植后可以吃豆腐吗？？", "u_b", 2),
            ask(posts, "肾移植以后可以吃豆腐吗", "u_c", 3), ask(posts, "肾移植后可以吃豆腐吗", "u_a2", 4)]
    msc = ask(posts, "干细胞治疗能让我停用免疫抑制剂吗", "u_a", 0)  # the oldest question
    drive = ask(posts, "术后多久可以开车", "u_d", 5)
    soy_milk = ask(posts, "每天喝多少豆浆合适", "u_e", 6)

    result = run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=1))
    assert result.post and result.questions == 7 and result.groups == 4
    groups = store.groups(result.post)
    assert [(g["id"], g["topic"]) for g in groups] == [("g1", "免疫耐受"), ("g2", "饮食"), ("g3", "饮食"),
                                                       ("g4", "其他问题")]
    assert [q for q, _ in groups[0]["q"]] == [msc]
    assert [q for q, _ in groups[1]["q"]] == tofu and groups[1]["askers"] == 4
    assert groups[1]["text"] == "肾移植后可以吃豆腐吗"  # the oldest wording represents the group
    assert [q for q, _ in groups[2]["q"]] == [soy_milk] and [q for q, _ in groups[3]["q"]] == [drive]
    assert all(g["state"] == "open" and g["answer"] == "" for g in groups)
    post = store.post(result.post)
    assert post is not None and post["status"] == "draft" and post["questions"] == "7"
    assert store.pending_count() == 0
    assert {store.question(q)["status"] for q in all_question_ids(store)} == {"batched"}  # type: ignore[index]


def test_same_follower_asking_near_duplicates_counts_once(posts: PostService, store: Store) -> None:
    ask(posts, "移植后多久可以怀孕", "u_a", 0)
    ask(posts, "移植以后多久可以怀孕", "u_a", 1)
    result = run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=1))
    assert result.post
    [group] = store.groups(result.post)
    assert len(group["q"]) == 2 and group["askers"] == 1


def test_a_slot_runs_once_even_when_asked_twice(posts: PostService, store: Store) -> None:
    ask(posts, "术后多久可以游泳")
    first = run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=1), slot="weekly:1")
    ask(posts, "术后多久可以泡温泉", minutes=70)
    second = run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=2), slot="weekly:1")
    assert first.post and second.post is None and "already batched" in second.skipped
    assert store.post_ids() == [first.post] and store.pending_count() == 1
    manual = run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=2))
    assert manual.post and run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=3)).post is None
    assert len(store.post_ids()) == 2


@pytest.mark.parametrize("slot", ["weekly:2", ""])
def test_concurrent_runs_make_one_post(posts: PostService, store: Store, redis_url: str, slot: str) -> None:
    for i in range(300):
        ask(posts, f"第{i}个关于复查频率的不同问题{i * 7919}", f"u_{i}", i / 100)
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def run() -> None:
        own = Store.from_url(redis_url, prefix=store.prefix)  # another process's connection
        barrier.wait()
        results.append(run_batch(own, posts.qa, "答疑", T0 + timedelta(hours=1), slot=slot))
        own.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [r.post for r in results if r.post]
    assert len(made) == 1 and len(store.post_ids()) == 1
    assert len(store.post_question_ids(made[0])) == 300
    assert_each_question_in_one_place(store)


def test_a_crash_mid_batch_loses_nothing_and_batches_nothing_twice(posts: PostService, store: Store,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    early = [ask(posts, f"关于用药时间的问题{i}号{i * 31}", f"u_{i}", i) for i in range(10)]
    cutoff = T0 + timedelta(hours=1)
    # A run that died after moving 3 questions: the post exists, half filled, still "batching".
    pid = store.begin_batch(now=cutoff.timestamp(), cutoff=cutoff.timestamp(), slot="weekly:3")
    assert pid and store.move_to_post(pid, cutoff.timestamp(), 3) == 3
    late = [ask(posts, f"之后才问的问题{i}号{i * 17}", f"u_l{i}", 120 + i) for i in range(2)]
    assert_each_question_in_one_place(store)

    # The next run dies while writing the groups ...
    real_finish = store.finish_batch
    monkeypatch.setattr(store, "finish_batch", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("killed")))
    with pytest.raises(ConnectionError):
        run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=3))
    assert_each_question_in_one_place(store)
    monkeypatch.setattr(store, "finish_batch", real_finish)

    # ... and the one after finishes the old post first, then batches what came later.
    result = run_batch(store, posts.qa, "答疑", T0 + timedelta(hours=3))
    assert result.resumed == (pid,)
    assert sorted(store.post_question_ids(pid), key=int) == early  # cut off when it began
    assert result.post and sorted(store.post_question_ids(result.post), key=int) == late
    assert store.post(pid)["status"] == "draft" and store.batching_posts() == []  # type: ignore[index]
    assert_each_question_in_one_place(store)
    assert sum(len(g["q"]) for p in (pid, result.post) for g in store.groups(p)) == 12


def test_a_crashed_batch_is_finished_on_the_next_tick_without_a_due_slot(posts: PostService, store: Store) -> None:
    early = [ask(posts, f"关于复查间隔的问题{i}号{i * 13}", f"u_{i}", i) for i in range(4)]
    cutoff = T0 + timedelta(minutes=30)
    pid = store.begin_batch(now=cutoff.timestamp(), cutoff=cutoff.timestamp(), slot="weekly:9")
    assert pid and store.move_to_post(pid, cutoff.timestamp(), 1) == 1  # the run died here
    tick_at = T0 + timedelta(hours=1)  # a Monday: the weekly Friday slot is days away
    assert latest_slot(posts.qa.schedules[0], tick_at) is None
    assert posts.tick(tick_at)["resumed_batches"] == 1
    post = store.post(pid)
    assert post and post["status"] == "draft" and store.batching_posts() == []
    assert sorted(store.post_question_ids(pid), key=int) == early and store.pending_count() == 0
    assert_each_question_in_one_place(store)
    assert "resumed_batches" not in posts.tick(tick_at + timedelta(seconds=30))  # nothing left to finish


def test_due_slots_and_catch_up(posts: PostService, store: Store) -> None:
    friday_six = datetime(2026, 12, 4, 18, 0, tzinfo=SHANGHAI)
    weekly = posts.qa.schedules[0]
    assert latest_slot(weekly, friday_six + timedelta(seconds=1)) == friday_six
    assert latest_slot(weekly, friday_six - timedelta(seconds=1)) is None  # last Friday is beyond the lookback
    assert latest_slot(weekly, friday_six + timedelta(hours=20)) == friday_six  # scheduler was down: catch up
    assert latest_slot(weekly, friday_six + timedelta(hours=25)) is None

    ask(posts, "术后能打疫苗吗")
    [made] = posts.run_due(friday_six + timedelta(seconds=5))
    assert made.post
    ask(posts, "术后能拔牙吗", minutes=1)
    assert posts.run_due(friday_six + timedelta(minutes=1)) == []  # the slot is claimed: nothing runs again
    assert store.pending_count() == 1


@pytest.mark.parametrize(("cron", "expected"), [
    ("0 18 * * 5", "0 18 * * fri"),
    ("0 9 * * 1-5", "0 9 * * mon-fri"),
    ("30 8 * * 0,6", "30 8 * * sun,sat"),
    ("0 8 * * 7", "0 8 * * sun"),
    ("*/15 * * * */2", "*/15 * * * */2"),
    ("0 18 * * fri", "0 18 * * fri"),
])
def test_crontab_weekdays_keep_their_standard_meaning(cron: str, expected: str) -> None:
    assert _crontab_weekdays(cron) == expected
    fire = QASchedule("x", _crontab_weekdays("0 18 * * 5"), "Asia/Shanghai").trigger().get_next_fire_time(None, T0)
    assert fire.weekday() == 4  # Friday, as crontab means it


@pytest.mark.parametrize(("change", "message"), [
    ({"schedules": [{"name": "weekly", "cron": "0 25 * * 5"}]}, "questions.schedules[0].cron: invalid cron expression"),
    ({"schedules": [{"name": "weekly", "cron": "0 18 * *"}]}, "questions.schedules[0].cron: invalid cron expression"),
    ({"schedules": [{"cron": "0 18 * * 5", "timezone": "Mars/Base"}]}, "questions.schedules[0].timezone: unknown"),
    ({"schedules": []}, "questions.schedules: must be a non-empty list"),
    ({"daily_limit": 0}, "questions.daily_limit: must be between 1"),
    ({"markers": ["提问", ""]}, "questions.markers: must be a list of non-empty strings"),
    ({"unmatched": {"enabled": "yes"}}, "questions.unmatched.enabled: must be true or false"),
    ({"publishing": {"mode": "broadcast"}}, "questions.publishing.mode: must be freepublish or mass_send"),
    ({"publishing": {"title": "很长的标题" * 7}}, "questions.publishing.title: must be at most 32"),
    ({"publishing": {"title": "答疑 {when}"}}, "questions.publishing.title: may contain only the placeholder"),
    ({"publishing": {"author": "作者" * 9}}, "questions.publishing.author: must be at most 16"),
    ({"publishing": {"cover_image": "no/such/cover.jpg"}}, "questions.publishing.cover_image: no such file"),
    ({"publishing": {"cover_image": "config.yaml"}}, "questions.publishing.cover_image: must be a .jpg"),
])
def test_questions_config_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    data = sample()
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data["questions"].get(key), dict):
            data["questions"][key] = {**data["questions"][key], **value}
        else:
            data["questions"][key] = value
    with pytest.raises(ConfigError) as err:
        parse_config(data, {})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_questions_section_defaults() -> None:
    data = sample()
    del data["questions"]
    qa = parse_config(data, {}).questions
    assert qa.markers[0] in ("提问", "问：", "问:", "Q:", "q:") and "?" in qa.markers
    assert qa.daily_limit == 5 and not qa.unmatched_enabled and qa.publishing.mode == "freepublish"
    assert [(s.name, s.cron, s.timezone) for s in qa.schedules] == [("weekly", "0 18 * * fri", "Asia/Shanghai")]
