"""The post state machine: the moves it has, the ones it refuses, and that every status change goes through it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from bot.questions.post_states import STATUSES, TRANSITIONS, IllegalTransition, check_move, move_post
from bot.questions.posts import PostService
from bot.store import Store
from tests.test_publishing import answered_post, status

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("allowed", "to"), [
    (("draft",), "scheduled"), (("scheduled",), "draft"), (("scheduled", "publishing"), "publishing"),
    (("publishing",), "scheduled"), (("publishing",), "published"), (("publishing", "failed"), "failed"),
    (("failed",), "scheduled"), (("failed",), "published"), (("published",), ""),
])
def test_the_moves_a_post_has(allowed: tuple[str, ...], to: str) -> None:
    assert check_move(allowed, to) == allowed


@pytest.mark.parametrize(("allowed", "to", "says"), [
    (("published",), "scheduled", "from published to scheduled"),  # live on WeChat: never published twice
    (("published",), "failed", "from published to failed"),
    (("draft",), "publishing", "from draft to publishing"),  # only a scheduled post is claimed
    (("draft",), "published", "from draft to published"),
    (("scheduled", "published"), "publishing", "from published to publishing"),  # one bad start spoils the move
    (("archived",), "", "unknown post status 'archived'"),
    (("draft",), "sent", "from draft to sent"),
    ((), "scheduled", "at least one status"),
])
def test_moves_it_does_not_have_are_refused_by_name(allowed: tuple[str, ...], to: str, says: str) -> None:
    with pytest.raises(IllegalTransition, match=says):
        check_move(allowed, to)


def test_every_status_is_in_the_table_and_every_target_is_a_status() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    assert set().union(*TRANSITIONS.values()) <= set(STATUSES)


def test_an_illegal_move_leaves_the_stored_post_untouched(posts: PostService, store: Store, fake_wechat: Any) -> None:
    pid = answered_post(posts, store)
    assert status(store, pid) == "draft"
    with pytest.raises(IllegalTransition):
        move_post(store, pid, ("draft",), "published", now=0.0, fields={"url": "https://mp.weixin.qq.com/s/x"})
    post = store.post(pid)
    assert post is not None and post["status"] == "draft" and "url" not in post
    assert move_post(store, pid, ("draft",), "scheduled", now=0.0, score=0.0)
    assert status(store, pid) == "scheduled"


def test_only_the_state_machine_changes_a_posts_status() -> None:
    callers = []
    for path in (ROOT / "bot").rglob("*.py"):
        if "store" in path.relative_to(ROOT).parts or path.name == "post_states.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "update_post":
                callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert callers == [], f"status changes around the state machine: {callers}"
