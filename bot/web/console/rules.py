"""Keyword rules in the console: the list with hit counts, the editor with conflict warnings and 试一试
(the real dispatcher on the saved rules and on the unsaved edit), the unanswered messages, and their API.

Every change goes through RuleSet.save_rule/delete_rule (the engine validates, the version guards against
concurrent edits, the audit log records before and after); nothing here checks a rule itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, flash, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from bot.rules.model import DEFAULT_TIMEZONE, INPUT_KINDS, Rule, RuleError
from bot.rules.ruleset import RuleBook, RuleSet
from bot.web.console.apispec import ApiError, VersionRequired, operation, stale
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.texts import rule_error
from bot.web.console.views import page, redirect_to, render
from bot.wechat import messages as m
from bot.wechat.simulator import trial_message

InputName = Literal["text", "voice", "click", "subscribe"]
INPUT_LABELS = {"text": "文字", "voice": "语音（识别文字）", "click": "菜单点击", "subscribe": "扫码关注"}
MATCH_LABELS = {"contains": "包含", "exact": "完全一致", "prefix": "开头是", "regex": "正则表达式"}
ANSWER_LABELS = {"article": "文章卡片", "survey": "问卷", "text": "文字", "help": "帮助列表"}
HOURS_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$"  # as bot.rules.model's
TEXT_SEPARATOR = "---"  # a line of its own between the alternatives of a random text answer


def _rules() -> RuleSet:
    return services().rules


def _now() -> datetime:
    return current_app.extensions["wxbot"].ctx.clock()


# -- 试一试: the real dispatcher, nothing stored -------------------------------------------------------

@dataclass(frozen=True)
class Trial:
    """How the bot answers one message: the router, the reply as shown, the rule that fires first."""

    router: str
    kind: Literal["text", "news", "none", "stored"]
    text: str = ""
    articles: tuple[m.Article, ...] = ()
    rule: Rule | None = None  # the first of `matches`
    matches: tuple[tuple[Rule, str], ...] = ()  # every rule that matches, with the text it matched


def try_message(text: str, kind: str, book: RuleBook | None = None) -> Trial:
    """`text` as an input of `kind`, routed as a push would be, on the live rules or on `book` (unsaved)."""
    bot = current_app.extensions["wxbot"]
    rules = book if book is not None else bot.ctx.services.rules.current()
    found = rules.explain(text, kind, bot.ctx.clock())
    matches = tuple((f.rule, f.matched) for f in found)
    run = bot.intake.dry_run(trial_message(text, kind, bot.config.account.original_id), rules=book)
    first = matches[0][0] if matches else None
    if run.stored:
        return Trial(run.router, "stored", rule=first, matches=matches)
    if isinstance(run.reply, m.TextReply):
        return Trial(run.router, "text", run.reply.content, rule=first, matches=matches)
    if isinstance(run.reply, m.NewsReply):
        return Trial(run.router, "news", articles=run.reply.articles, rule=first, matches=matches)
    return Trial(run.router, "none", rule=first, matches=matches)


@dataclass(frozen=True)
class Conflict:
    """Sending `keyword` (one of the edited rule's own) gets `winner`'s answer instead."""

    keyword: str
    winner: Rule


def conflicts(book: RuleBook, rule_id: str) -> list[Conflict]:
    """For each typable keyword of rule `rule_id` in `book`: another rule that fires first on it."""
    rule = next((r for r in book.rules if r.id == rule_id), None)
    if rule is None or rule.match == "regex" or not rule.enabled:
        return []
    now = _now()
    found: list[Conflict] = []
    for keyword in rule.keywords:
        for kind in (k for k in INPUT_KINDS if k in rule.inputs):
            ids = [f.rule for f in book.explain(keyword, kind, now)]
            if any(r.id == rule.id for r in ids) and ids[0].id != rule.id:
                found.append(Conflict(keyword, ids[0]))
                break
    return found


# -- the form <-> a rule dict -----------------------------------------------------------------------

def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _alternatives(value: str) -> list[str]:
    parts = re.split(rf"(?m)^\s*{re.escape(TEXT_SEPARATOR)}\s*$", value.replace("\r\n", "\n"))
    return [p.strip("\n") for p in parts if p.strip()]


def _integer(value: str) -> int | str:
    try:
        return int(value.strip() or "0")
    except ValueError:
        return value  # the engine refuses it, naming the field


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def _instant(value: str, zone: str) -> str:
    """A datetime-local value read in the window's zone, as ISO 8601 with its offset (else as typed)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=_zone(zone))
    return when.isoformat()


def form_to_rule(form: MultiDict[str, str], rule_id: str | None) -> dict[str, Any]:
    """The rule dict an editor's form describes (the engine validates it)."""
    doc: dict[str, Any] = {
        "id": rule_id if rule_id is not None else form.get("id", "").strip(),
        "name": form.get("name", "").strip(),
        "keywords": _lines(form.get("keywords", "")),
        "match": form.get("match", "contains"),
        "priority": _integer(form.get("priority", "0")),
        "enabled": form.get("enabled") == "on",
        "urgent": form.get("urgent") == "on",
        "inputs": form.getlist("inputs"),
    }
    zone = form.get("window_timezone", "").strip() or DEFAULT_TIMEZONE
    window = {k: v for k in ("start", "end", "hours") if (v := form.get(f"window_{k}", "").strip())}
    if window:
        for k in ("start", "end"):
            if k in window:
                window[k] = _instant(window[k], zone)
        doc["window"] = {**window, "timezone": zone}
    kind = form.get("answer_kind", "text")
    answer: dict[str, Any] = {"kind": kind}
    if kind == "article":
        answer["article_id"] = form.get("article_id", "")
    if kind == "text":
        answer["texts"] = _alternatives(form.get("texts", ""))
    doc["answer"] = answer
    return doc


def _local(value: str | None, zone: str) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(_zone(zone)).strftime("%Y-%m-%dT%H:%M")


def rule_to_form(doc: dict[str, Any]) -> dict[str, Any]:
    """The form's fields for a rule dict (what the template fills in)."""
    window = doc.get("window") or {}
    zone = window.get("timezone", DEFAULT_TIMEZONE)
    answer = doc.get("answer", {})
    return {
        "id": doc.get("id", ""), "name": doc.get("name", ""), "keywords": "\n".join(doc.get("keywords", [])),
        "match": doc.get("match", "contains"), "priority": doc.get("priority", 0),
        "enabled": doc.get("enabled", True), "urgent": doc.get("urgent", False),
        "inputs": list(doc.get("inputs", ["text", "voice"])),
        "window_start": _local(window.get("start"), zone), "window_end": _local(window.get("end"), zone),
        "window_hours": window.get("hours", ""), "window_timezone": zone,
        "answer_kind": answer.get("kind", "text"), "article_id": answer.get("article_id", ""),
        "texts": f"\n{TEXT_SEPARATOR}\n".join(answer.get("texts", [])),
    }


@dataclass
class FieldErrors:
    """A RuleError's messages in Chinese, by the form field they belong to (``keywords``, ``answer.texts``)."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)

    SHOWN = frozenset({"id", "name", "keywords", "match", "priority", "enabled", "urgent", "inputs", "window",
                       "window.start", "window.end", "window.hours", "window.timezone", "answer", "answer.kind",
                       "answer.article_id", "answer.texts"})

    @classmethod
    def of(cls, exc: RuleError) -> FieldErrors:
        found = cls()
        for message in exc.errors:
            path, chinese = rule_error(message)
            key = re.sub(r"\[\d+\]", "", path.removeprefix("rule."))
            if path.startswith("rule") and key in cls.SHOWN:
                found.by_field.setdefault(key, []).append(chinese)
            else:
                found.other.append(f"{path}：{chinese}" if path and path != "rules" else chinese)
        return found

    def __bool__(self) -> bool:
        return bool(self.by_field or self.other)


def _stale(errors: FieldErrors) -> bool:
    return any("已被他人修改" in e for e in errors.other)


# -- pages -------------------------------------------------------------------------------------------

@pages.get("/rules")
@page("rules")
def rules(who: Caller) -> str:
    ruleset = _rules()
    version, docs = ruleset.stored()
    days = ruleset.recent_days(_now(), 7)
    today, week = ruleset.hit_totals(days[:1]), ruleset.hit_totals(days)
    return render("console/rules.html", title="关键词规则", docs=docs, version=version, today=today, week=week,
                  match_labels=MATCH_LABELS, answer_labels=ANSWER_LABELS)


def _choices() -> dict[str, Any]:
    return {"match_labels": MATCH_LABELS, "answer_labels": ANSWER_LABELS, "input_labels": INPUT_LABELS,
            "articles": _rules().catalog().articles}


def _form_page(rule_id: str | None, form: dict[str, Any], version: int, *, errors: FieldErrors | None = None,
               found: list[Conflict] | None = None, trial: dict[str, Any] | None = None, status: int = 200
               ) -> tuple[str, int]:
    title = "新建规则" if rule_id is None else f"编辑规则 {rule_id}"
    return render("console/rule_form.html", title=title, rule_id=rule_id, form=form, version=version,
                  errors=errors or FieldErrors(), conflicts=found or [], trial=trial, **_choices()), status


@pages.route("/rules/new", methods=["GET", "POST"])
@page("rules")
def rule_new(who: Caller) -> tuple[str, int] | BaseResponse:
    return _edit(who, None)


@pages.route("/rules/<rule_id>/edit", methods=["GET", "POST"])
@page("rules")
def rule_edit(who: Caller, rule_id: str) -> tuple[str, int] | BaseResponse:
    return _edit(who, rule_id)


def _edit(who: Caller, rule_id: str | None) -> tuple[str, int] | BaseResponse:
    ruleset = _rules()
    version, docs = ruleset.stored()
    saved = next((d for d in docs if d.get("id") == rule_id), None) if rule_id is not None else None
    if rule_id is not None and saved is None:
        raise NotFound()
    if request.method == "GET":
        if saved is None:
            keyword = request.args.get("keyword", "").strip()[:64]
            form = rule_to_form({"id": "", "name": keyword, "keywords": [keyword] if keyword else [],
                                 "answer": {"kind": "text"}})
            return _form_page(None, form, version)
        return _form_page(rule_id, rule_to_form(saved), version, found=conflicts(ruleset.current(), saved["id"]))
    doc = form_to_rule(request.form, rule_id)
    expected = _integer(request.form.get("version", ""))
    form = {**rule_to_form(doc), "keywords": request.form.get("keywords", ""),
            "priority": request.form.get("priority", "0")}
    if request.form.get("action") == "try":
        return _try_edit(rule_id, doc, form, expected if isinstance(expected, int) else version)
    try:
        ruleset.save_rule(doc, rule_id=rule_id, expected_version=expected if isinstance(expected, int) else -1,
                          actor=who.user.name)
    except RuleError as exc:
        # The version the edit was based on stays in the form: a stale edit cannot be saved over the newer rules.
        errors = FieldErrors.of(exc)
        return _form_page(rule_id, form, expected if isinstance(expected, int) else version, errors=errors,
                          status=409 if _stale(errors) else 422)
    except KeyError:
        raise NotFound() from None
    flash(f"规则“{doc['name']}”已保存", "ok")
    return redirect_to("console.rule_edit", rule_id=doc["id"])


def _try_edit(rule_id: str | None, doc: dict[str, Any], form: dict[str, Any], version: int) -> tuple[str, int]:
    text = request.form.get("trial_text", "")[:2000]
    kind = request.form.get("trial_as", "text")
    kind = kind if kind in INPUT_KINDS else "text"
    trial: dict[str, Any] = {"text": text, "kind": kind}
    errors = FieldErrors()
    found: list[Conflict] = []
    try:
        draft = _rules().draft_rule(doc, rule_id=rule_id)
    except RuleError as exc:
        errors, draft = FieldErrors.of(exc), None
    except KeyError:
        raise NotFound() from None
    if draft is not None:
        found = conflicts(draft, doc["id"])
    if text or kind == "subscribe":
        trial["saved"] = try_message(text, kind)
        trial["draft"] = try_message(text, kind, draft) if draft is not None else None
    return _form_page(rule_id, form, version, errors=errors, found=found, trial=trial,
                      status=422 if errors else 200)


def _change(who: Caller, rule_id: str, what: str) -> BaseResponse:
    ruleset = _rules()
    expected = _integer(request.form.get("version", ""))
    _, docs = ruleset.stored()
    doc = next((d for d in docs if d.get("id") == rule_id), None)
    if doc is None:
        raise NotFound()
    try:
        version = expected if isinstance(expected, int) else -1
        if what == "delete":
            ruleset.delete_rule(rule_id, expected_version=version, actor=who.user.name)
            flash(f"规则“{doc['name']}”已删除", "ok")
        else:
            ruleset.save_rule({**doc, "enabled": not doc.get("enabled", True)}, rule_id=rule_id,
                              expected_version=version, actor=who.user.name)
            flash(f"规则“{doc['name']}”已{'停用' if doc.get('enabled', True) else '启用'}", "ok")
    except RuleError as exc:
        errors = FieldErrors.of(exc)
        for message in errors.other + [e for found in errors.by_field.values() for e in found]:
            flash(f"规则“{doc['name']}”未修改：{message}", "error")
    except KeyError:
        raise NotFound() from None
    return redirect_to("console.rules")


@pages.post("/rules/<rule_id>/toggle")
@page("rules")
def rule_toggle(who: Caller, rule_id: str) -> BaseResponse:
    return _change(who, rule_id, "toggle")


@pages.post("/rules/<rule_id>/delete")
@page("rules")
def rule_delete(who: Caller, rule_id: str) -> BaseResponse:
    return _change(who, rule_id, "delete")


@pages.get("/rules/try")
@page("rules")
def rules_try(who: Caller) -> str:
    text = request.args.get("text", "")[:2000]
    kind = request.args.get("as", "text")
    kind = kind if kind in INPUT_KINDS else "text"
    trial = try_message(text, kind) if text or kind == "subscribe" else None
    return render("console/rules_try.html", title="试一试", text=text, kind=kind, trial=trial,
                  input_labels=INPUT_LABELS)


def _days(value: str | None) -> int:
    keep = config().retention.unmatched_days
    try:
        return max(1, min(int(value or 7), keep))
    except ValueError:
        return min(7, keep)


@pages.get("/unanswered")
@page("rules")
def unanswered(who: Caller) -> str:
    days = _days(request.args.get("days"))
    ruleset = _rules()
    found = ruleset.unanswered(ruleset.recent_days(_now(), days), limit=100)
    tz = config().account.tz
    return render("console/unanswered.html", title="未回答的消息", days=days, found=found,
                  keep=config().retention.unmatched_days,
                  seen=lambda at: datetime.fromtimestamp(at, tz).strftime("%m-%d %H:%M") if at else "")


# -- the JSON API --------------------------------------------------------------------------------------

class WindowModel(BaseModel):
    """When a rule may fire: instants in [start, end) and/or daily local hours."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [{"required": ["start"]}, {"required": ["end"]}, {"required": ["hours"]}]})
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    hours: Annotated[StrictStr, Field(pattern=HOURS_PATTERN)] | None = None
    timezone: StrictStr = DEFAULT_TIMEZONE


class TextAnswer(BaseModel):
    """One of `texts`, picked at random."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["text"]
    texts: list[Annotated[StrictStr, Field(min_length=1, max_length=2047)]] = Field(min_length=1)


class ArticleAnswer(BaseModel):
    """The card of a configured article (`article_id` as in config.yaml's articles)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["article"]
    article_id: Annotated[StrictStr, Field(min_length=1)]


class SurveyAnswer(BaseModel):
    """The survey's tracked link."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["survey"]


class HelpAnswer(BaseModel):
    """The topic list generated from the rules."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["help"]


AnswerModel = Annotated[TextAnswer | ArticleAnswer | SurveyAnswer | HelpAnswer, Field(discriminator="kind")]


def _default_inputs() -> list[InputName]:
    return ["text", "voice"]


class RuleModel(BaseModel):
    """A keyword rule, the same fields as `rules export` (the rules engine checks the rest)."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    urgent: StrictBool = False
    match: Literal["exact", "contains", "prefix", "regex"] = "contains"
    keywords: list[Annotated[StrictStr, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000, description='a subscribe-only rule that answers every subscribe: ["*"]')
    priority: StrictInt = 0
    enabled: StrictBool = True
    window: WindowModel | None = None
    inputs: list[InputName] = Field(default_factory=_default_inputs, min_length=1, max_length=4)
    answer: AnswerModel

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class RuleOut(RuleModel):
    """A saved rule (a subscribe-only rule may have no keywords: it answers every subscribe)."""

    keywords: list[Annotated[StrictStr, Field(min_length=1, max_length=200)]] = Field(max_length=1000)


class RuleStats(RuleOut):
    hits_today: int
    hits_7d: int


class RuleList(BaseModel):
    version: int = Field(description="send it back as ?version= with a change: a stale one gets 409")
    rules: list[RuleStats]


class RuleDoc(BaseModel):
    version: int
    rule: RuleOut


class ExpectedVersion(BaseModel):
    version: int | None = Field(None, description="the rules version a new rule is based on (optional: a new id "
                                                  "cannot overwrite a rule); stale → 409")


class ArticleOut(BaseModel):
    title: str
    description: str
    url: str
    pic_url: str


class MatchOut(BaseModel):
    id: str
    name: str
    matched: str


class TrialIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    text: Annotated[StrictStr, Field(max_length=2000)]
    as_: InputName = Field("text", alias="as")
    rules: list[RuleModel] | None = Field(None, description="unsaved rules to try instead of the saved ones",
                                          max_length=200)


class TrialOut(BaseModel):
    router: str = Field(description="the feature that answers (keywords, urgent, questions, help, fallback...)")
    kind: Literal["text", "news", "none", "stored"] = Field(
        description="stored: a question, stored and answered by the question workflow (not run here)")
    text: str
    articles: list[ArticleOut]
    rule: MatchOut | None = Field(description="the rule that fires first, if any")
    also: list[MatchOut]


class UnansweredQuery(BaseModel):
    days: int = Field(7, ge=1, le=365)
    limit: int = Field(50, ge=1, le=500)


class UnansweredOut(BaseModel):
    text: str
    normalized: str
    count: int
    people: int
    last_at: int


def _rule_api_error(exc: RuleError, prefix: str = "") -> ApiError:
    path, _ = rule_error(exc.errors[0])
    field_path = prefix + path.removeprefix("rule.") if path.startswith("rule.") else path or "rules"
    if "changed by someone else meanwhile" in exc.errors[0]:
        return stale("已被他人修改，请重新读取后再改 (" + exc.errors[0] + ")", _rules().stored()[0])
    return ApiError(422, "invalid", "; ".join(exc.errors), field_path)


def _find(rule_id: str) -> tuple[int, dict[str, Any]]:
    version, docs = _rules().stored()
    doc = next((d for d in docs if d.get("id") == rule_id), None)
    if doc is None:
        raise ApiError(404, "not_found", f"no rule {rule_id!r}")
    return version, doc


@operation("/rules", "GET", summary="The keyword rules, with today's and the last 7 days' hits", tag="rules",
           area="rules", response=RuleList)
def rules_list(caller: Caller) -> RuleList:
    ruleset = _rules()
    version, docs = ruleset.stored()
    days = ruleset.recent_days(_now(), 7)
    today, week = ruleset.hit_totals(days[:1]), ruleset.hit_totals(days)
    return RuleList(version=version, rules=[RuleStats(**d, hits_today=today.get(d["id"], 0),
                                                      hits_7d=week.get(d["id"], 0)) for d in docs])


@operation("/rules", "POST", summary="Add a rule (validated like `rules import`)", tag="rules", area="rules",
           body=RuleModel, query=ExpectedVersion, response=RuleDoc, status=201)
def rules_create(caller: Caller, body: RuleModel, query: ExpectedVersion) -> RuleDoc:
    try:
        version = _rules().save_rule(body.to_doc(), expected_version=query.version, actor=caller.user.name)
    except RuleError as exc:
        raise _rule_api_error(exc) from None
    return RuleDoc(version=version, rule=RuleOut(**_find(body.id)[1]))


@operation("/rules/<rule_id>", "GET", summary="One rule", tag="rules", area="rules", response=RuleDoc)
def rules_get(caller: Caller, rule_id: str) -> RuleDoc:
    version, doc = _find(rule_id)
    return RuleDoc(version=version, rule=RuleOut(**doc))


@operation("/rules/<rule_id>", "PUT", summary="Replace a rule (its id may change)", tag="rules", area="rules",
           body=RuleModel, query=VersionRequired, response=RuleDoc)
def rules_put(caller: Caller, rule_id: str, body: RuleModel, query: VersionRequired) -> RuleDoc:
    _find(rule_id)
    try:
        version = _rules().save_rule(body.to_doc(), rule_id=rule_id, expected_version=query.version,
                                     actor=caller.user.name)
    except RuleError as exc:
        raise _rule_api_error(exc) from None
    except KeyError:
        raise ApiError(404, "not_found", f"no rule {rule_id!r}") from None
    return RuleDoc(version=version, rule=RuleOut(**_find(body.id)[1]))


@operation("/rules/<rule_id>", "DELETE", summary="Delete a rule", tag="rules", area="rules",
           query=VersionRequired, status=204)
def rules_delete(caller: Caller, rule_id: str, query: VersionRequired) -> None:
    _find(rule_id)
    try:
        _rules().delete_rule(rule_id, expected_version=query.version, actor=caller.user.name)
    except RuleError as exc:
        raise _rule_api_error(exc) from None
    except KeyError:
        raise ApiError(404, "not_found", f"no rule {rule_id!r}") from None


@operation("/rules/test", "POST", summary="The reply a message gets (试一试), from the saved or the given rules",
           tag="rules", area="rules", body=TrialIn, response=TrialOut)
def rules_test(caller: Caller, body: TrialIn) -> TrialOut:
    book = None
    if body.rules is not None:
        try:
            book = _rules().draft([r.to_doc() for r in body.rules])
        except RuleError as exc:
            raise _rule_api_error(exc) from None
    trial = try_message(body.text, body.as_, book)
    found = [MatchOut(id=r.id, name=r.name, matched=text) for r, text in trial.matches]
    return TrialOut(router=trial.router, kind=trial.kind, text=trial.text,
                    articles=[ArticleOut(title=a.title, description=a.description, url=a.url, pic_url=a.pic_url)
                              for a in trial.articles],
                    rule=found[0] if found else None, also=found[1:])


@operation("/unanswered", "GET", summary="The most frequent messages no rule answered (scrubbed), by text",
           tag="rules", area="rules", query=UnansweredQuery, response=list[UnansweredOut])
def unanswered_list(caller: Caller, query: UnansweredQuery) -> list[UnansweredOut]:
    ruleset = _rules()
    days = min(query.days, config().retention.unmatched_days)
    return [UnansweredOut(text=u.text, normalized=u.normalized, count=u.count, people=u.people, last_at=u.last_at)
            for u in ruleset.unanswered(ruleset.recent_days(_now(), days), limit=query.limit)]

