"""The editors' reply posts: answer groups next to their questions, merge or reject them, preview, schedule
and publish, and the 发表记录 check when WeChat's outcome is unknown. Pages and /api/posts on `PostService`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, flash, make_response, request
from pydantic import BaseModel, Field
from werkzeug.wrappers import Response as BaseResponse

from bot.questions.posts import EditError, PostService, PostView, outcome_unknown, unsure_spans
from bot.questions.render import is_answered, is_confirmed, question_text
from bot.web.console.apispec import operation
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.questions import edit_error, segments
from bot.web.console.texts import step_words, translate, wechat_error_words
from bot.web.console.views import page, redirect_to, render

STATUS_WORDS = {"batching": "整理中", "draft": "草稿", "scheduled": "已定时", "publishing": "发表中",
                "published": "已发表", "failed": "发表失败"}
GROUP_WORDS = {"open": "待解答", "rejected": "不采用", "merged": "已合并"}
# Where the preview's inline styles (the article's own, as WeChat gets them) may apply: only in that response.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'; "
               "base-uri 'none'; form-action 'none'; sandbox")


def _posts() -> PostService:
    return services().posts


def _when(ts: str | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(float(ts), config().account.tz).strftime("%Y-%m-%d %H:%M")


# -- models -----------------------------------------------------------------------------------------

class PostSummary(BaseModel):
    id: str
    title: str
    status: str
    status_words: str
    groups: int
    created: str
    scheduled_at: str
    published_at: str
    url: str


class WeChatErrorOut(BaseModel):
    at: str
    step: str
    step_words: str
    code: int
    meaning: str
    words: str = Field(description="the error in Chinese for editors")


class GroupOut(BaseModel):
    id: str
    topic: str
    state: str
    question: str = Field(description="the question as it would be published (scrubbed)")
    unsure: list[tuple[int, int]]
    confirmed: bool
    answered: bool
    answer: str
    askers: int
    into: str = ""
    suggest: list[tuple[str, float]] = Field(default_factory=list, description="unsure merges: [group id, score]")


class PostDetail(PostSummary):
    intro: str
    failure: str
    outcome_unknown: bool = Field(description="check WeChat's 发表记录, then mark-published or mark-not-published")
    unconfirmed: list[str]
    groups_detail: list[GroupOut]
    errors: list[WeChatErrorOut]


class AnswerBody(BaseModel):
    group: str = Field(pattern=r"^g\d+$")
    answer: str = Field(min_length=1, max_length=20000)
    question: str | None = Field(None, max_length=2000)


class ConfirmBody(BaseModel):
    groups: list[str] = Field(min_length=1, max_length=500)
    question: str | None = Field(None, max_length=2000)


class GroupBody(BaseModel):
    group: str = Field(pattern=r"^g\d+$")


class MergeBody(GroupBody):
    into: str = Field(pattern=r"^g\d+$")


class ScheduleBody(BaseModel):
    at: str = Field(description="'YYYY-MM-DD HH:MM' in the account's time zone, ISO 8601 with an offset, or 'now'",
                    max_length=40)


class UrlBody(BaseModel):
    url: str = Field(max_length=1100)


class PublishOut(BaseModel):
    started: bool = Field(description="published from this request; else the scheduler publishes within a tick")
    post: PostDetail


def summary(p: dict[str, str]) -> PostSummary:
    status = p.get("status", "")
    return PostSummary(id=p.get("id", ""), title=p.get("title", ""), status=status,
                       status_words=STATUS_WORDS.get(status, status), groups=int(p.get("groups") or 0),
                       created=_when(p.get("created")), scheduled_at=_when(p.get("scheduled_at")),
                       published_at=_when(p.get("published_at")), url=p.get("url", ""))


def detail(view: PostView) -> PostDetail:
    groups = []
    for g in view.groups:
        text = question_text(g)
        groups.append(GroupOut(id=str(g["id"]), topic=g.get("topic", ""), state=g.get("state", ""), question=text,
                               unsure=list(unsure_spans(text)), confirmed=is_confirmed(g), answered=is_answered(g),
                               answer=g.get("answer", ""), askers=int(g.get("askers", 1)), into=g.get("into", ""),
                               suggest=[(str(o), float(s)) for o, s in g.get("suggest", ())]))
    errors = [WeChatErrorOut(at=str(e.get("at", "")), step=str(e.get("step", "")),
                             step_words=step_words(str(e.get("step", ""))), code=int(e.get("code", 0)),
                             meaning=str(e.get("meaning", "")),
                             words=wechat_error_words(int(e.get("code", 0)), str(e.get("meaning", ""))))
              for e in view.errors]
    p = view.post
    return PostDetail(**summary(p).model_dump(), intro=p.get("intro", ""), failure=p.get("failure", ""),
                      outcome_unknown=outcome_unknown(p), unconfirmed=_posts().unconfirmed(view),
                      groups_detail=groups, errors=errors)


def _run(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except EditError as exc:
        raise edit_error(exc) from None


def _detail(pid: str) -> PostDetail:
    return detail(_run(lambda: _posts().show(pid)))


# -- the API ----------------------------------------------------------------------------------------

@operation("/posts", "GET", summary="Reply posts, newest first", tag="posts", area="posts",
           response=list[PostSummary])
def list_posts(caller: Caller) -> list[PostSummary]:
    return [summary(p) for p in _posts().list_posts(100)]


@operation("/posts/<post_id>", "GET", summary="A post: its groups, publishing status and WeChat's errors",
           tag="posts", area="posts", response=PostDetail)
def get_post(caller: Caller, post_id: str) -> PostDetail:
    return _detail(post_id)


@operation("/posts/<post_id>/answer", "POST", summary="Answer a group (optionally reword its question)",
           tag="posts", area="posts", body=AnswerBody, response=PostDetail)
def answer_group(caller: Caller, post_id: str, body: AnswerBody) -> PostDetail:
    _run(lambda: _posts().answer(post_id, body.group, body.answer, body.question, actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/confirm", "POST", summary="Confirm groups' question texts as read by an editor",
           tag="posts", area="posts", body=ConfirmBody, response=PostDetail)
def confirm_groups(caller: Caller, post_id: str, body: ConfirmBody) -> PostDetail:
    _run(lambda: _posts().confirm(post_id, body.groups, body.question, actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/merge", "POST", summary="Merge a group into another (one answer)", tag="posts",
           area="posts", body=MergeBody, response=PostDetail)
def merge_groups(caller: Caller, post_id: str, body: MergeBody) -> PostDetail:
    _run(lambda: _posts().merge(post_id, body.group, body.into, actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/reject", "POST", summary="Leave a group out (its questions are rejected)",
           tag="posts", area="posts", body=GroupBody, response=PostDetail)
def reject_group(caller: Caller, post_id: str, body: GroupBody) -> PostDetail:
    _run(lambda: _posts().reject(post_id, body.group, actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/schedule", "POST", summary="Publish at a time", tag="posts", area="posts",
           body=ScheduleBody, response=PostDetail)
def schedule_post(caller: Caller, post_id: str, body: ScheduleBody) -> PostDetail:
    service = _posts()
    _run(lambda: service.schedule(post_id, service.parse_time(body.at), actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/unschedule", "POST", summary="Back to draft", tag="posts", area="posts",
           response=PostDetail)
def unschedule_post(caller: Caller, post_id: str) -> PostDetail:
    _run(lambda: _posts().unschedule(post_id, actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/publish", "POST", summary="Publish now", tag="posts", area="posts",
           response=PublishOut)
def publish_post(caller: Caller, post_id: str) -> PublishOut:
    started = _run(lambda: _posts().publish_now(post_id, actor=caller.user.name))
    return PublishOut(started=bool(started), post=_detail(post_id))


@operation("/posts/<post_id>/mark-published", "POST", summary="Found in WeChat's 发表记录: record its link",
           tag="posts", area="posts", body=UrlBody, response=PostDetail)
def mark_published(caller: Caller, post_id: str, body: UrlBody) -> PostDetail:
    _run(lambda: _posts().mark_published(post_id, body.url.strip(), actor=caller.user.name))
    return _detail(post_id)


@operation("/posts/<post_id>/mark-not-published", "POST", summary="Not in WeChat's 发表记录: allow a fresh attempt",
           tag="posts", area="posts", response=PostDetail)
def mark_not_published(caller: Caller, post_id: str) -> PostDetail:
    _run(lambda: _posts().mark_not_published(post_id, actor=caller.user.name))
    return _detail(post_id)


# -- the pages --------------------------------------------------------------------------------------

def _shown(pid: str) -> PostDetail:
    """The post for a page; a malformed or unknown id is the console's 404 page."""
    from flask import abort

    try:
        return detail(_posts().show(pid))
    except EditError:
        abort(404)


@pages.get("/posts")
@page("posts")
def posts(who: Caller) -> str:
    return render("console/posts.html", title="答疑文章", posts=[summary(p) for p in _posts().list_posts(100)])


@pages.get("/posts/<pid>")
@page("posts")
def post(who: Caller, pid: str) -> str:
    shown = _shown(pid)
    open_groups = [g for g in shown.groups_detail if g.state == "open"]
    return render("console/post.html", title=shown.title, p=shown, open_groups=open_groups, segments=segments,
                  open_ids={g.id for g in open_groups},
                  group_words=GROUP_WORDS, preview_error=_preview_error(pid),
                  default_time=datetime.now(config().account.tz).strftime("%Y-%m-%dT%H:%M"))


def _preview_error(pid: str) -> str:
    try:
        _posts().preview(pid)
    except EditError as exc:
        return translate(str(exc))
    return ""


@pages.get("/posts/<pid>/preview")
@page("posts")
def post_preview(who: Caller, pid: str) -> Response:
    """The article's HTML exactly as WeChat gets it, for a sandboxed frame at phone width."""
    _shown(pid)
    try:
        rendered = _posts().preview(pid)
    except EditError as exc:
        html = f"<p>{translate(str(exc))}</p>"
    else:
        from markupsafe import escape

        html = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(rendered.title)}</title></head><body>"
                f"<h1>{escape(rendered.title)}</h1>{rendered.html}</body></html>")
    resp = make_response(html)
    resp.headers["Content-Security-Policy"] = PREVIEW_CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


@pages.post("/posts/<pid>/groups/<gid>/answer")
@page("posts")
def post_answer(who: Caller, pid: str, gid: str) -> str | BaseResponse:
    """Save one answer; htmx gets the save state to show next to it, a plain form goes back to the post."""
    answer, question = request.form.get("answer", ""), request.form.get("question")
    saved_at = ""
    try:
        _posts().answer(pid, gid, answer, question, actor=who.user.name)
    except EditError as exc:
        error = translate(str(exc))
    else:
        error = ""
        saved_at = datetime.now(config().account.tz).strftime("%H:%M:%S")
    if request.headers.get("HX-Request"):
        return render("console/_save_state.html", error=error, saved_at=saved_at)
    flash(error or f"问题组 {gid} 的回答已保存", "error" if error else "ok")
    return redirect_to("console.post", pid=pid, _anchor=gid)


_ACTIONS = {"confirm", "reject", "merge", "schedule", "unschedule", "publish", "mark-published",
            "mark-not-published"}


@pages.post("/posts/<pid>/action")
@page("posts")
def post_action(who: Caller, pid: str) -> BaseResponse:
    form = request.form
    action = form.get("action", "")
    service, actor = _posts(), who.user.name
    done = ""
    try:
        if action not in _ACTIONS:
            raise EditError(f"unknown action {action!r}")
        gid = form.get("group", "")
        if action == "confirm":
            service.confirm(pid, [gid], form.get("question") or None, actor=actor)
            done = f"问题组 {gid} 的问题文字已确认"
        elif action == "reject":
            service.reject(pid, gid, actor=actor)
            done = f"问题组 {gid} 不采用"
        elif action == "merge":
            service.merge(pid, gid, form.get("into", ""), actor=actor)
            done = f"问题组 {gid} 已合并到 {form.get('into', '')}"
        elif action == "schedule":
            at = service.parse_time(form.get("at", "").replace("T", " "))
            service.schedule(pid, at, actor=actor)
            done = f"已定时于 {at.astimezone(config().account.tz):%Y-%m-%d %H:%M} 发表"
        elif action == "unschedule":
            service.unschedule(pid, actor=actor)
            done = "已取消定时，文章回到草稿"
        elif action == "publish":
            started = service.publish_now(pid, actor=actor)
            done = "已开始发表" if started else "已安排立即发表，定时任务将在下一次运行时发表"
        elif action == "mark-published":
            service.mark_published(pid, form.get("url", "").strip(), actor=actor)
            done = "已记录为已发表，提问者将收到链接"
        else:
            service.mark_not_published(pid, actor=actor)
            done = "已记录为未发表；可修改后重新定时发表"
    except EditError as exc:
        flash(translate(str(exc)), "error")
    else:
        flash(done, "ok")
    return redirect_to("console.post", pid=pid)
