"""`python -m bot questions | digest | posts ...`: the editors' commands, a thin layer over `bot.questions.posts`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from bot.cli.common import current_bot, user_errors
from bot.questions.posts import EditError, PostService
from bot.questions.render import clip, is_confirmed, question_text


def _service() -> PostService:
    return current_bot().ctx.services.posts


_edits = user_errors(EditError)


def _when(ts: str | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(float(ts), _service().tz).strftime("%Y-%m-%d %H:%M")


# -- questions -------------------------------------------------------------------------------------


@click.group("questions", cls=AppGroup)
def questions_group() -> None:
    """Followers' questions waiting for the next reply post."""


@questions_group.command("list")
@click.option("--limit", default=50, show_default=True, help="How many of the oldest to show.")
def questions_list(limit: int) -> None:
    """Pending questions, oldest first (personal data already scrubbed)."""
    total, rows = _service().pending(limit)
    click.echo(f"{total} pending question(s)")
    for q in rows:
        click.echo(f"  {q['id']:>6}  {_when(q['received'])}  [{q['topic']}]  {clip(q['public'], 60)}")


@questions_group.command("show")
@click.argument("qid")
@click.option("--raw", is_flag=True, help="Also show the text as received (may contain personal data).")
@_edits
def questions_show(qid: str, raw: bool) -> None:
    """One question: status, topic, post, scrubbed text."""
    q = _service().question(qid)
    click.echo(f"question {qid}: {q.get('status')}  topic {q.get('topic')}  tags {q.get('tags') or '-'}")
    click.echo(f"asked {_when(q.get('received'))} by {q.get('asker')}; post {q.get('post') or '-'}"
               + (f", merged into {q['into']}" if q.get("into") else ""))
    click.echo(f"text: {q.get('public')}")
    if raw:
        click.echo(f"as received: {q.get('text')}")


@questions_group.command("reject")
@click.argument("qid")
@click.option("--reason", default="", help="Why (kept on the question, shown in the console).")
@_edits
def questions_reject(qid: str, reason: str) -> None:
    """Leave one question out (from the queue, or from its group in a draft post)."""
    _service().reject_question(qid, reason, actor="cli")
    click.echo(f"question {qid} rejected")


# -- digest ----------------------------------------------------------------------------------------


@click.group("digest", cls=AppGroup)
def digest_group() -> None:
    """Batching pending questions into draft reply posts."""


@digest_group.command("run")
def digest_run() -> None:
    """Batch every pending question into a new draft post now."""
    result = _service().run_digest()
    for pid in result.resumed:
        click.echo(f"finished post {pid}, left half-batched by an earlier run")
    if result.skipped:
        click.echo(f"skipped: {result.skipped}")
    elif result.post:
        click.echo(f"post {result.post}: {result.questions} question(s) in {result.groups} group(s); "
                   f"see `python -m bot posts show {result.post}`")
    else:
        click.echo("no pending questions")


# -- posts -----------------------------------------------------------------------------------------


@click.group("posts", cls=AppGroup)
def posts_group() -> None:
    """Q&A reply posts: show, answer, schedule, publish."""


@posts_group.command("list")
@click.option("--limit", default=20, show_default=True)
def posts_list(limit: int) -> None:
    """The newest posts and their status."""
    for p in _service().list_posts(limit):
        when = _when(p.get("published_at") or p.get("scheduled_at") or p.get("created"))
        click.echo(f"  {p['id']:>4}  {p.get('status', '?'):<10}  {when}  {p.get('groups', '0'):>5} groups  "
                   f"{p.get('title', '')}")


@posts_group.command("show")
@click.argument("pid")
@click.option("--groups", "max_groups", default=50, show_default=True, help="How many groups to list.")
@_edits
def posts_show(pid: str, max_groups: int) -> None:
    """A post's state, its question groups, and every WeChat error met while publishing it."""
    view = _service().show(pid)
    p = view.post
    click.echo(f"post {pid}: {p.get('status')}  \"{p.get('title', '')}\"")
    click.echo(f"  created {_when(p.get('created'))}; scheduled {_when(p.get('scheduled_at'))}; "
               f"published {_when(p.get('published_at'))}; attempts {p.get('attempts') or 0}")
    click.echo(f"  {p.get('questions', 0)} question(s), {len(view.groups)} group(s), {view.answered} answered")
    for name in ("url", "publish_id", "msg_id", "draft_media_id", "cover_media_id", "failure"):
        if p.get(name):
            click.echo(f"  {name}: {p[name]}")
    for g in view.groups[:max_groups]:
        mark = "answered" if g.get("answer") and g.get("state") == "open" else g.get("state")
        seen = "" if g.get("state") != "open" or is_confirmed(g) else "  (question text not confirmed)"
        click.echo(f"  {g['id']:>6}  {mark:<9} [{g['topic']}] x{g.get('askers', 1)}  "
                   f"{clip(question_text(g), 50)}{seen}")
        if g.get("state") == "open":
            for other, score in g.get("suggest", ()):  # unsure merges: `posts merge` if they are one question
                click.echo(f"          similar to {other} ({score:.2f})")
    if len(view.groups) > max_groups:
        click.echo(f"  ... {len(view.groups) - max_groups} more (--groups N)")
    for e in view.errors:
        click.echo(f"  error at {e['at']} in {e['step']}: {e['code']} {e['meaning']}")


@posts_group.command("preview")
@click.argument("pid")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML to this file.")
@_edits
def posts_preview(pid: str, out: Path | None) -> None:
    """The article as WeChat will get it: title, digest and HTML."""
    rendered = _service().preview(pid)
    click.echo(f"title: {rendered.title}\ndigest: {rendered.digest}\ngroups shown: {rendered.groups}")
    if out:
        out.write_text(rendered.html, encoding="utf-8")
        click.echo(f"HTML written to {out} ({len(rendered.html)} characters)")
    else:
        click.echo(rendered.html)


@posts_group.command("edit")
@click.argument("pid")
@click.option("--title", help="At most 32 characters.")
@click.option("--intro")
@_edits
def posts_edit(pid: str, title: str | None, intro: str | None) -> None:
    """Change the title or the introduction."""
    _service().edit(pid, title=title, intro=intro, actor="cli")
    click.echo(f"post {pid} updated")


@posts_group.command("answer")
@click.argument("pid")
@click.argument("gid")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), help="Read the answer from a file.")
@click.option("--question", help="How the question should read in the post (default: the follower's words).")
@_edits
def posts_answer(pid: str, gid: str, text: str | None, file: Any, question: str | None) -> None:
    """Answer a question group (each line of the answer is a paragraph)."""
    answer = file.read() if file else text
    if not answer:
        raise click.UsageError("give the answer as TEXT or --file")
    _service().answer(pid, gid, answer, question, actor="cli")
    click.echo(f"group {gid} answered")


def _marked(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """`text` with each unsure span bracketed 【？…】 for the editor's eye."""
    out: list[str] = []
    done = 0
    for start, end in spans:
        out += (text[done:start], "【？", text[start:end], "】")
        done = end
    return "".join((*out, text[done:]))


@posts_group.command("review")
@click.argument("pid")
@_edits
def posts_review(pid: str) -> None:
    """Each open group's question text in full, as it would be published; 【？…】 marks what to check by eye."""
    for g in _service().review(pid):
        state = ("confirmed" if g.confirmed else "NOT CONFIRMED") + ("" if g.answered else ", no answer yet")
        click.echo(f"{g.gid} ({state}): {_marked(g.text, g.unsure)}")
        if g.unsure:
            click.echo(f"    the scrubber was unsure of {len(g.unsure)} spot(s): edit the wording with "
                       f"posts confirm {pid} {g.gid} --question TEXT if anything personal is left")


@posts_group.command("confirm")
@click.argument("pid")
@click.argument("gids", nargs=-1, required=True)
@click.option("--question", help="New wording for the question (one group), confirmed as written.")
@_edits
def posts_confirm(pid: str, gids: tuple[str, ...], question: str | None) -> None:
    """You read these groups' question texts (posts review): they may be published as they read."""
    _service().confirm(pid, list(gids), question, actor="cli")
    click.echo(f"question text of {' '.join(gids)} confirmed")


@posts_group.command("reject")
@click.argument("pid")
@click.argument("gid")
@_edits
def posts_reject(pid: str, gid: str) -> None:
    """Leave a group out of the post (its questions are rejected)."""
    _service().reject(pid, gid, actor="cli")
    click.echo(f"group {gid} rejected")


@posts_group.command("merge")
@click.argument("pid")
@click.argument("gid")
@click.argument("into")
@_edits
def posts_merge(pid: str, gid: str, into: str) -> None:
    """Merge group GID into group INTO: one answer, both groups' askers told."""
    _service().merge(pid, gid, into, actor="cli")
    click.echo(f"group {gid} merged into {into}")


@posts_group.command("schedule")
@click.argument("pid")
@click.argument("when")
@_edits
def posts_schedule(pid: str, when: str) -> None:
    """Publish at WHEN ('YYYY-MM-DD HH:MM' in the account's time zone, or 'now')."""
    at = _service().parse_time(when)
    _service().schedule(pid, at, actor="cli")
    click.echo(f"post {pid} scheduled for {_when(str(at.timestamp()))}; the scheduler publishes it then")


@posts_group.command("unschedule")
@click.argument("pid")
@_edits
def posts_unschedule(pid: str) -> None:
    """Back to draft."""
    _service().unschedule(pid, actor="cli")
    click.echo(f"post {pid} is a draft again")


@posts_group.command("publish")
@click.argument("pid")
@_edits
def posts_publish(pid: str) -> None:
    """Publish now (here if WeChat is reachable from this process, else by the scheduler within 30 s)."""
    service = _service()
    if service.publish_now(pid, actor="cli"):
        post = service.show(pid).post
        click.echo(f"post {pid}: {post.get('status')}" + (f" ({post['failure']})" if post.get("failure") else ""))
    else:
        click.echo(f"post {pid} scheduled for now; the scheduler process publishes it on its next tick")


@posts_group.command("mark-published")
@click.argument("pid")
@click.argument("url")
@_edits
def posts_mark_published(pid: str, url: str) -> None:
    """A post failed with "outcome unknown" is in WeChat's published list (发表记录): record its link."""
    _service().mark_published(pid, url, actor="cli")
    click.echo(f"post {pid} marked published; its askers are told on the scheduler's next tick")


@posts_group.command("mark-not-published")
@click.argument("pid")
@_edits
def posts_mark_not_published(pid: str) -> None:
    """A post failed with "outcome unknown" is NOT in WeChat's published list (发表记录): allow a fresh attempt."""
    _service().mark_not_published(pid, actor="cli")
    click.echo(f"post {pid}: marked not published; edit it if needed, then reschedule")


@posts_group.command("tick")
def posts_tick() -> None:
    """Run the scheduler's Q&A job once: missed batches, due posts, job polls, asker notifications."""
    done = _service().tick()
    click.echo(", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "nothing to do")


GROUPS = (questions_group, digest_group, posts_group)
