"""A reply post as WeChat article HTML (Jinja2, autoescaped), with title and digest inside WeChat's limits."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from bot.config import QAPublishing

TITLE_MAX = 32  # characters, draft/add
DIGEST_MAX = 128
CONTENT_MAX_CHARS = 20_000  # content must stay under both
CONTENT_MAX_BYTES = 1024 * 1024
TEMPLATES = Path(__file__).resolve().parent / "templates"


class PostContentError(ValueError):
    """The post cannot be published as it stands (nothing answered, too long ...)."""


@dataclass(frozen=True, slots=True)
class RenderedPost:
    title: str
    digest: str
    html: str
    groups: int  # answered groups shown


@functools.cache
def _template() -> Template:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("qa_post.html")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def is_answered(group: Mapping[str, Any]) -> bool:
    return group.get("state") == "open" and bool(str(group.get("answer", "")).strip())


def question_text(group: Mapping[str, Any]) -> str:
    """How the group's question reads in the post: the editor's wording, else the first follower's (scrubbed)."""
    return str(group.get("question") or group["text"])


def is_confirmed(group: Mapping[str, Any]) -> bool:
    """Whether an editor confirmed (or wrote) exactly the question text that would be published."""
    return group.get("confirmed") == question_text(group)


def render_post(post: Mapping[str, str], groups: Sequence[Mapping[str, Any]], pub: QAPublishing,
                confirmed_only: bool = False) -> RenderedPost:
    """Render the answered groups; raises PostContentError if there are none or WeChat would refuse the size.

    `confirmed_only` (publishing): also if an answered group's question text was not confirmed by an editor.
    """
    shown = [g for g in groups if is_answered(g)]
    if not shown:
        raise PostContentError("no question group has an answer yet (posts answer POST GROUP TEXT)")
    if confirmed_only and (waiting := [str(g["id"]) for g in shown if not is_confirmed(g)]):
        raise PostContentError(f"the question text of group(s) {' '.join(waiting)} was not confirmed by an editor "
                               "(posts confirm)")
    topics: dict[str, list[dict[str, Any]]] = {}
    for g in shown:
        topics.setdefault(str(g["topic"]), []).append({
            "question": question_text(g),
            "askers": int(g.get("askers", 1)),
            "answer": [p.strip() for p in str(g["answer"]).splitlines() if p.strip()],
        })
    html = _template().render(
        intro=post.get("intro", ""),
        topics=[{"name": name, "groups": items} for name, items in topics.items()],
        disclaimer=pub.disclaimer,
    )
    if len(html) >= CONTENT_MAX_CHARS or len(html.encode("utf-8")) >= CONTENT_MAX_BYTES:
        raise PostContentError(f"the article would be {len(html)} characters; WeChat takes fewer than "
                               f"{CONTENT_MAX_CHARS}: answer fewer groups or shorten the answers")
    digest = clip("本期解答：" + "；".join(question_text(g) for g in shown), DIGEST_MAX)
    return RenderedPost(title=clip(post.get("title") or "答疑", TITLE_MAX), digest=digest, html=html,
                        groups=len(shown))
