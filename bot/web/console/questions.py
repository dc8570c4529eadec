"""The editors' questions inbox: filter, merge, reject with a reason, change topic, one or all that match.

Pages under /console/questions and the same operations under /api/questions, both on `PostService`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from flask import flash, request, url_for
from pydantic import BaseModel, Field, model_validator
from werkzeug.wrappers import Response as BaseResponse

from bot.questions.posts import (
    STATUSES,
    BulkResult,
    EditError,
    Invalid,
    NotFound,
    PostService,
    QuestionFilter,
    QuestionRow,
)
from bot.web.console.apispec import ApiError, operation
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.texts import translate
from bot.web.console.views import page, render

STATUS_WORDS = {"new": "待整理", "batched": "已入文章", "answered": "已解答", "published": "已发表",
                "rejected": "不采用", "merged": "已合并"}
NOTIFY_WORDS = {"told": "已告知", "link_waiting": "下次发消息时会收到链接", "after_publish": "发表后告知",
                "not_told": "不告知"}
BULK_MAX = 1000  # ids named in one request; "all that match" has no such limit


def _posts() -> PostService:
    return services().posts


def segments(text: str, spans: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, unsure) so a template can highlight what the scrubber was unsure of."""
    out: list[tuple[str, bool]] = []
    done = 0
    for start, end in spans:
        if start > done:
            out.append((text[done:start], False))
        out.append((text[start:end], True))
        done = end
    if done < len(text):
        out.append((text[done:], False))
    return out


# -- the API ----------------------------------------------------------------------------------------

class FilterIn(BaseModel):
    """Which questions: status, topic, and the days they arrived (account time, both days included)."""

    status: Literal["", "new", "batched", "answered", "published", "rejected", "merged"] = ""
    topic: str = Field("", max_length=20)
    since: date | None = None
    until: date | None = None

    def build(self) -> QuestionFilter:
        tz = config().account.tz

        def start(day: date) -> float:
            return datetime.combine(day, time(), tz).timestamp()

        return QuestionFilter(self.status, self.topic.strip(), start(self.since) if self.since else None,
                              start(self.until + timedelta(days=1)) if self.until else None)


class QuestionQuery(FilterIn):
    cursor: str = Field("", pattern=r"^\d*$", description="next_cursor of the previous page")
    limit: int = Field(50, ge=1, le=200)


class QuestionOut(BaseModel):
    id: str
    text: str = Field(description="scrubbed of personal data")
    unsure: list[tuple[int, int]] = Field(description="[start, end) spans of text the scrubber was unsure of")
    topic: str
    received: str
    status: str
    status_words: str
    post: str
    into: str
    reason: str
    asker: str = Field(description="a pseudonym")
    notify: Literal["told", "link_waiting", "after_publish", "not_told"]
    notify_words: str


class QuestionPage(BaseModel):
    items: list[QuestionOut]
    next_cursor: str


class Selection(BaseModel):
    """The questions to act on: `ids`, or every question matching `filter` (not only one page)."""

    ids: list[str] = Field(default_factory=list, max_length=BULK_MAX)
    filter: FilterIn | None = None

    @model_validator(mode="after")
    def _one(self) -> Selection:
        if bool(self.ids) == (self.filter is not None):
            raise ValueError("give either ids or filter")
        return self


class RejectBody(Selection):
    reason: str = Field("", max_length=200)


class TopicBody(Selection):
    topic: str = Field(min_length=1, max_length=20)


class MergeBody(Selection):
    into: str = Field(pattern=r"^\d+$")


class Skipped(BaseModel):
    id: str
    reason: str


class BulkOut(BaseModel):
    done: list[str]
    skipped: list[Skipped]


def question_out(row: QuestionRow) -> QuestionOut:
    received = datetime.fromtimestamp(row.received, config().account.tz).isoformat(timespec="seconds")
    return QuestionOut(id=row.qid, text=row.text, unsure=list(row.unsure), topic=row.topic, received=received,
                       status=row.status, status_words=STATUS_WORDS.get(row.status, row.status), post=row.post,
                       into=row.into, reason=row.reason, asker=row.asker, notify=row.notify,  # type: ignore[arg-type]
                       notify_words=NOTIFY_WORDS[row.notify])


def edit_error(exc: EditError) -> ApiError:
    """A service refusal as the API's error: 404 for what does not exist, 409 for the wrong state, else 422."""
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, Invalid):
        return ApiError(422, "invalid", str(exc))
    return ApiError(409, "conflict", str(exc))


def _selected(sel: Selection) -> list[str]:
    return _posts().matching(sel.filter.build()) if sel.filter is not None else sel.ids


def _bulk_out(result: BulkResult) -> BulkOut:
    return BulkOut(done=list(result.done), skipped=[Skipped(id=q, reason=r) for q, r in result.skipped])


def _run_bulk(action: str, sel: Selection, actor: str, **kw: str) -> BulkOut:
    try:
        return _bulk_out(_posts().bulk(action, _selected(sel), actor=actor, **kw))
    except EditError as exc:
        raise edit_error(exc) from None


@operation("/questions", "GET", summary="Followers' questions, newest first, filtered; cursor for the next page",
           tag="questions", area="questions", query=QuestionQuery, response=QuestionPage)
def list_questions(caller: Caller, query: QuestionQuery) -> QuestionPage:
    try:
        rows, cursor = _posts().questions(query.build(), query.cursor, query.limit)
    except EditError as exc:
        raise edit_error(exc) from None
    return QuestionPage(items=[question_out(r) for r in rows], next_cursor=cursor)


@operation("/questions/<qid>", "GET", summary="One question", tag="questions", area="questions",
           response=QuestionOut)
def get_question(caller: Caller, qid: str) -> QuestionOut:
    try:
        return question_out(_posts().question_row(qid))
    except EditError as exc:
        raise edit_error(exc) from None


@operation("/questions/reject", "POST", summary="Reject questions (with a reason, kept and shown)",
           tag="questions", area="questions", body=RejectBody, response=BulkOut)
def reject_questions(caller: Caller, body: RejectBody) -> BulkOut:
    return _run_bulk("reject", body, caller.user.name, reason=body.reason)


@operation("/questions/topic", "POST", summary="Move pending questions to another topic", tag="questions",
           area="questions", body=TopicBody, response=BulkOut)
def topic_questions(caller: Caller, body: TopicBody) -> BulkOut:
    return _run_bulk("topic", body, caller.user.name, topic=body.topic)


@operation("/questions/merge", "POST", summary="Merge pending questions into one (one group, one answer)",
           tag="questions", area="questions", body=MergeBody, response=BulkOut)
def merge_questions(caller: Caller, body: MergeBody) -> BulkOut:
    return _run_bulk("merge", body, caller.user.name, into=body.into)


# -- the pages --------------------------------------------------------------------------------------

def _form_filter(values: Any) -> tuple[FilterIn, str]:
    """The filter from a page's query or form fields; a bad field gives an error message, not a 500."""
    raw = {k: values.get(k, "").strip() for k in ("status", "topic", "since", "until")}
    data = {k: v for k, v in raw.items() if v}
    try:
        return FilterIn.model_validate(data), ""
    except ValueError:
        return FilterIn.model_validate({}), "筛选条件无效：状态须从列表中选择，日期格式为 YYYY-MM-DD，主题最多 20 个字"


@pages.get("/questions")
@page("questions")
def questions(who: Caller) -> str:
    filt, error = _form_filter(request.args)
    cursor = request.args.get("cursor", "")
    if not cursor.isdigit():
        cursor = ""
    rows, next_cursor = _posts().questions(filt.build(), cursor, 50)
    args = {k: v for k, v in filt.model_dump(mode="json").items() if v}
    return render("console/questions.html", title="问题", rows=[question_out(r) for r in rows], filt=args,
                  error=error, statuses=STATUSES, status_words=STATUS_WORDS, segments=segments,
                  next_url=url_for("console.questions", cursor=next_cursor, **args) if next_cursor else "",
                  first_url=url_for("console.questions", **args) if cursor else "")


@pages.post("/questions/action")
@page("questions")
def questions_action(who: Caller) -> BaseResponse:
    from flask import redirect

    form = request.form
    filt, error = _form_filter(form)
    back = url_for("console.questions", **{k: v for k, v in filt.model_dump(mode="json").items() if v})
    action = form.get("action", "")
    if error:
        flash(error, "error")
        return redirect(back, code=303)
    if form.get("scope") == "all":
        ids = _posts().matching(filt.build())
    else:
        ids = [q for q in form.getlist("q") if q.isdigit()][:BULK_MAX]
    if not ids:
        flash("请先勾选问题，或选择“全部符合筛选条件的问题”", "error")
        return redirect(back, code=303)
    try:
        result = _posts().bulk(action, ids, actor=who.user.name, reason=form.get("reason", ""),
                               topic=form.get("new_topic", ""), into=form.get("into", "").strip())
    except EditError as exc:
        flash(translate(str(exc)), "error")
        return redirect(back, code=303)
    done = {"reject": "已不采用", "topic": "已改主题", "merge": "已合并"}[action]
    flash(f"{done} {len(result.done)} 个问题" + (f"；{len(result.skipped)} 个未改动" if result.skipped else ""), "ok")
    for qid, why in result.skipped[:10]:
        flash(f"问题 {qid}：{translate(why)}", "error")
    return redirect(back, code=303)
