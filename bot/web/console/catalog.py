"""Articles and survey in the console (admins): the cards as WeChat shows them, their forms, the survey's
clicks per day, and the /api/articles and /api/survey operations.

Every change goes through CatalogService (validation, the version against concurrent edits, the audit log,
the keyword rule of an article's keywords); nothing here checks an article itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from flask import current_app, flash, request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from bot.config import ArticleConfig, SurveyConfig
from bot.rules.catalog import (
    ARTICLE_ID,
    KEYWORD_MAX,
    KEYWORDS_MAX,
    SUMMARY_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    URL_MAX_BYTES,
    ArticleInUse,
    CatalogError,
    article_to_dict,
    survey_to_dict,
)
from bot.rules.catalog_service import CatalogService, keyword_rule_id
from bot.web.console.apispec import ApiError, VersionRequired, operation, stale
from bot.web.console.auth import Caller, services
from bot.web.console.blueprints import pages
from bot.web.console.charts import Chart, stacked_bars
from bot.web.console.texts import translate
from bot.web.console.views import page, redirect_to, render

CLICK_DAYS = 30  # the page's chart; the API gives up to the clicks' TTL
_CHINESE: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"saved, but the keyword rule was changed", "文章已保存，但关键词规则刚被他人修改，关键词未更新；请再保存一次"),
    (r"changed by someone else meanwhile", "内容已被他人修改，请刷新后重试"),
    (r"article '([^']*)' is answered by rules (.*)$",
     r"关键词规则 \2 用这篇文章回复，请先在“关键词规则”中修改或删除它们"),
    (r"must be an http:// or https:// URL", "须为 http:// 或 https:// 开头的网址"),
    (r"longer than (\d+) bytes", r"超过 \1 字节"),
    (r"duplicate article id '([^']*)'", r"已有编号为“\1”的文章"),
    (r"an article's id cannot change", "文章编号不能修改"),
    (r"too many \((\d+) > (\d+)\)", r"太多（\1 个，最多 \2 个）"),
    (r"must match \[a-z0-9\]", "编号须以小写字母或数字开头，只含小写字母、数字、“_”和“-”，最多 64 个字符"),
    (r"unknown field", "未知字段"),
    (r"must be text", "须为文字"),
    (r"must be a list", "须为列表"),
))


def chinese(message: str) -> str:
    """A catalog error's problem in Chinese (the rules' translations cover the keyword rule's)."""
    for pattern, text in _CHINESE:
        found = pattern.search(message)
        if found:
            return found.expand(text)
    return translate(message)


def _catalog() -> CatalogService:
    return services().catalog


def _now() -> datetime:
    return current_app.extensions["wxbot"].ctx.clock()


@dataclass
class FieldErrors:
    """A CatalogError's messages in Chinese, by form field (``title``, ``keywords``) or for the whole form."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)
    stale: bool = False

    @classmethod
    def of(cls, exc: CatalogError, fields: tuple[str, ...]) -> FieldErrors:
        found = cls()
        for message in exc.errors:
            path, sep, problem = message.partition(": ")
            key = re.sub(r"\[\d+\]", "", path.split(".", 1)[1]) if "." in path else ""
            if "changed by someone else meanwhile" in message:
                found.stale = True
            if sep and key in fields:
                found.by_field.setdefault(key, []).append(chinese(problem))
            else:
                found.other.append(chinese(message if not sep else problem))
        return found

    def __bool__(self) -> bool:
        return bool(self.by_field or self.other)


def _lines(value: str) -> list[str]:
    """One entry a line (or separated by 、 ， ,), blanks dropped."""
    return [w.strip() for w in re.split(r"[\n、，,]", value) if w.strip()]


def form_to_article(form: MultiDict[str, str], article_id: str | None) -> dict[str, Any]:
    return {"id": article_id if article_id is not None else form.get("id", "").strip(),
            "title": form.get("title", ""), "summary": form.get("summary", ""), "url": form.get("url", "").strip(),
            "cover": form.get("cover", "").strip(), "tags": _lines(form.get("tags", "")),
            "keywords": [w.strip() for w in form.get("keywords", "").splitlines() if w.strip()]}


def form_to_survey(form: MultiDict[str, str]) -> dict[str, Any]:
    return {"title": form.get("title", ""), "url": form.get("url", "").strip(),
            "invitation": form.get("invitation", ""),
            "keywords": [w.strip() for w in form.get("keywords", "").splitlines() if w.strip()]}


def _version(form: MultiDict[str, str]) -> int:
    try:
        return int(form.get("version", ""))
    except ValueError:
        return -1  # no version: never saved over someone's change


# -- the survey's clicks ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DayClicks:
    day: str  # YYYYMMDD, account-local
    clicks: int
    followers: int  # distinct pseudonyms (HyperLogLog estimate)


def survey_clicks(days: int) -> list[DayClicks]:
    """Clicks on the survey link per day, oldest first, over the last `days` days (today included)."""
    store = current_app.extensions["wxbot"].store
    found = list(reversed(services().rules.recent_days(_now(), days)))
    counts, people = store.daily_counts("survey", found), store.daily_clickers(found)  # two pipelined reads
    return [DayClicks(day, c.get("clicks", 0), n) for day, c, n in zip(found, counts, people, strict=True)]


def clicks_chart(found: list[DayClicks]) -> Chart:
    """The clicks as the dashboard draws its charts (bot.web.console.charts)."""
    return stacked_bars("问卷每日点击次数", [(f"{d.day[4:6]}-{d.day[6:]}", [d.clicks]) for d in found], ["点击"],
                        every=7)


# -- pages -------------------------------------------------------------------------------------------

ARTICLE_FORM_FIELDS = ("id", "title", "summary", "url", "cover", "tags", "keywords")
SURVEY_FORM_FIELDS = ("title", "url", "invitation", "keywords")


@pages.get("/catalog")
@page("catalog")
def catalog(who: Caller) -> str:
    service = _catalog()
    saved = service.stored()
    clicks = survey_clicks(CLICK_DAYS)
    return render("console/catalog.html", title="文章与问卷", catalog=saved, clicks=clicks, chart=clicks_chart(clicks),
                  total=sum(d.clicks for d in clicks), using={a.id: service.rules_using(a.id) for a in saved.articles},
                  keyword_rule_id=keyword_rule_id)


def _article_page(article_id: str | None, form: dict[str, Any], version: int, *,
                  errors: FieldErrors | None = None, status: int = 200) -> tuple[str, int]:
    title = "新建文章" if article_id is None else f"编辑文章 {article_id}"
    return render("console/article_form.html", title=title, article_id=article_id, form=form, version=version,
                  errors=errors or FieldErrors(), limits=_limits()), status


def _limits() -> dict[str, int]:
    return {"title": TITLE_MAX, "summary": SUMMARY_MAX, "url": URL_MAX_BYTES}


def _article_form(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "tags": "\n".join(doc.get("tags", [])), "keywords": "\n".join(doc.get("keywords", []))}


@pages.route("/catalog/articles/new", methods=["GET", "POST"])
@page("catalog")
def article_new(who: Caller) -> tuple[str, int] | BaseResponse:
    return _edit_article(who, None)


@pages.route("/catalog/articles/<article_id>/edit", methods=["GET", "POST"])
@page("catalog")
def article_edit(who: Caller, article_id: str) -> tuple[str, int] | BaseResponse:
    return _edit_article(who, article_id)


def _edit_article(who: Caller, article_id: str | None) -> tuple[str, int] | BaseResponse:
    saved = _catalog().stored()
    article = saved.article(article_id) if article_id is not None else None
    if article_id is not None and article is None:
        raise NotFound()
    if request.method == "GET":
        doc = article_to_dict(article) if article is not None else {
            "id": "", "title": "", "summary": "", "url": "", "cover": "", "tags": [], "keywords": []}
        return _article_page(article_id, _article_form(doc), saved.version)
    doc = form_to_article(request.form, article_id)
    version = _version(request.form)
    form = {**_article_form(doc), "tags": request.form.get("tags", ""), "keywords": request.form.get("keywords", "")}
    try:
        _catalog().put_article(doc, article_id=article_id, expected_version=version, actor=who.user.name)
    except CatalogError as exc:
        errors = FieldErrors.of(exc, ARTICLE_FORM_FIELDS)
        return _article_page(article_id, form, version, errors=errors, status=409 if errors.stale else 422)
    except KeyError:
        raise NotFound() from None
    flash(f"文章“{str(doc['title']).strip()}”已保存", "ok")
    return redirect_to("console.article_edit", article_id=doc["id"])


@pages.post("/catalog/articles/<article_id>/delete")
@page("catalog")
def article_delete(who: Caller, article_id: str) -> BaseResponse:
    service = _catalog()
    article = service.stored().article(article_id)
    if article is None:
        raise NotFound()
    try:
        service.delete_article(article_id, expected_version=_version(request.form), actor=who.user.name)
        flash(f"文章“{article.title}”已删除", "ok")
    except CatalogError as exc:
        for message in exc.errors:
            flash(f"文章“{article.title}”未删除：{chinese(message)}", "error")
    except KeyError:
        raise NotFound() from None
    return redirect_to("console.catalog")


@pages.route("/catalog/survey", methods=["GET", "POST"])
@page("catalog")
def survey_edit(who: Caller) -> tuple[str, int] | BaseResponse:
    saved = _catalog().stored()
    if request.method == "GET":
        form = {**survey_to_dict(saved.survey), "keywords": "\n".join(saved.survey.keywords)}
        return _survey_page(form, saved.version)
    doc = form_to_survey(request.form)
    version = _version(request.form)
    form = {**doc, "keywords": request.form.get("keywords", "")}
    try:
        _catalog().put_survey(doc, expected_version=version, actor=who.user.name)
    except CatalogError as exc:
        errors = FieldErrors.of(exc, SURVEY_FORM_FIELDS)
        return _survey_page(form, version, errors=errors, status=409 if errors.stale else 422)
    flash("问卷已保存", "ok")
    return redirect_to("console.catalog")


def _survey_page(form: dict[str, Any], version: int, *, errors: FieldErrors | None = None,
                 status: int = 200) -> tuple[str, int]:
    return render("console/survey_form.html", title="编辑问卷", form=form, version=version,
                  errors=errors or FieldErrors(), limits=_limits()), status


# -- the JSON API --------------------------------------------------------------------------------------

Word = Annotated[StrictStr, Field(min_length=1, max_length=KEYWORD_MAX)]


class ArticleModel(BaseModel):
    """An article card: what a keyword rule with ``answer.kind: article`` sends (checked again by the service)."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    title: Annotated[StrictStr, Field(min_length=1, max_length=TITLE_MAX)]
    summary: Annotated[StrictStr, Field(min_length=1, max_length=SUMMARY_MAX, description="the card's digest")]
    url: Annotated[StrictStr, Field(min_length=1, max_length=URL_MAX_BYTES, description="http(s) link opened")]
    cover: Annotated[StrictStr, Field(max_length=URL_MAX_BYTES, description="http(s) image URL, or empty")] = ""
    tags: list[Annotated[StrictStr, Field(min_length=1, max_length=TAG_MAX)]] = Field(
        default_factory=list, max_length=TAGS_MAX, description="topic tags questions mentioning a keyword get")
    keywords: list[Word] = Field(default_factory=list, max_length=KEYWORDS_MAX,
                                 description="also the keywords of its rule article-<id> (created, updated "
                                             "or removed with them)")


class ArticleOut(BaseModel):
    id: str
    title: str
    summary: str
    url: str
    cover: str
    tags: list[str]
    keywords: list[str]
    rules: list[str] = Field(description="ids of the keyword rules that answer with it")


class ArticleList(BaseModel):
    version: int = Field(description="the catalog version: send it back as ?version= with a change (stale → 409)")
    articles: list[ArticleOut]


class ArticleDoc(BaseModel):
    version: int
    article: ArticleOut


class SurveyModel(BaseModel):
    """The survey: its card's title and invitation, the link followers are sent to, its keywords."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[StrictStr, Field(min_length=1, max_length=TITLE_MAX)]
    url: Annotated[StrictStr, Field(min_length=1, max_length=URL_MAX_BYTES)]
    invitation: Annotated[StrictStr, Field(min_length=1, max_length=SUMMARY_MAX)]
    keywords: list[Word] = Field(default_factory=list, max_length=KEYWORDS_MAX,
                                 description="also the keywords of the rule survey")


class SurveyOut(BaseModel):
    title: str
    url: str
    invitation: str
    keywords: list[str]


class SurveyDoc(BaseModel):
    version: int
    survey: SurveyOut


class ExpectedVersion(BaseModel):
    version: int | None = Field(None, description="the catalog version a new article is based on (optional: a new "
                                                  "id cannot overwrite an article); stale → 409")


class ClicksQuery(BaseModel):
    days: int = Field(30, ge=1, le=365)


class DayClicksOut(BaseModel):
    day: str = Field(description="YYYYMMDD in the account's time zone")
    clicks: int
    followers: int = Field(description="distinct followers who clicked (estimated, pseudonymous)")


def _api_error(exc: CatalogError, prefix: str) -> ApiError:
    first = exc.errors[0]
    if isinstance(exc, ArticleInUse):
        return ApiError(409, "in_use", f"{first} ({chinese(first)})")
    if "changed by someone else meanwhile" in first:
        return stale(f"{first} ({chinese(first)})", _catalog().stored().version)
    path = first.partition(": ")[0]
    field_path = path.removeprefix(prefix + ".") if path.startswith(prefix + ".") else path
    return ApiError(422, "invalid", "; ".join(exc.errors), field_path)


def _article_out(service: CatalogService, article: ArticleConfig) -> ArticleOut:
    return ArticleOut(**article_to_dict(article), rules=service.rules_using(article.id))


def _find(article_id: str) -> tuple[int, ArticleConfig]:
    saved = _catalog().stored()
    article = saved.article(article_id) if ARTICLE_ID.fullmatch(article_id) else None
    if article is None:
        raise ApiError(404, "not_found", f"no article {article_id!r}")
    return saved.version, article


def _survey_out(survey: SurveyConfig) -> SurveyOut:
    return SurveyOut(**survey_to_dict(survey))


@operation("/articles", "GET", summary="The articles keyword rules answer with, and the rules using each",
           tag="catalog", area="catalog", response=ArticleList)
def articles_list(caller: Caller) -> ArticleList:
    service = _catalog()
    saved = service.stored()
    return ArticleList(version=saved.version, articles=[_article_out(service, a) for a in saved.articles])


@operation("/articles", "POST", summary="Add an article (its keywords make the rule article-<id>)",
           tag="catalog", area="catalog", body=ArticleModel, query=ExpectedVersion, response=ArticleDoc, status=201)
def articles_create(caller: Caller, body: ArticleModel, query: ExpectedVersion) -> ArticleDoc:
    service = _catalog()
    try:
        version = service.put_article(body.model_dump(), expected_version=query.version, actor=caller.user.name)
    except CatalogError as exc:
        raise _api_error(exc, "article") from None
    return ArticleDoc(version=version, article=_article_out(service, _find(body.id)[1]))


@operation("/articles/<article_id>", "GET", summary="One article", tag="catalog", area="catalog",
           response=ArticleDoc)
def articles_get(caller: Caller, article_id: str) -> ArticleDoc:
    version, article = _find(article_id)
    return ArticleDoc(version=version, article=_article_out(_catalog(), article))


@operation("/articles/<article_id>", "PUT", summary="Replace an article (its id stays)", tag="catalog",
           area="catalog", body=ArticleModel, query=VersionRequired, response=ArticleDoc)
def articles_put(caller: Caller, article_id: str, body: ArticleModel, query: VersionRequired) -> ArticleDoc:
    _find(article_id)
    service = _catalog()
    try:
        version = service.put_article(body.model_dump(), article_id=article_id, expected_version=query.version,
                                      actor=caller.user.name)
    except CatalogError as exc:
        raise _api_error(exc, "article") from None
    except KeyError:
        raise ApiError(404, "not_found", f"no article {article_id!r}") from None
    return ArticleDoc(version=version, article=_article_out(service, _find(article_id)[1]))


@operation("/articles/<article_id>", "DELETE",
           summary="Delete an article and its rule article-<id>; 409 while other rules answer with it",
           tag="catalog", area="catalog", query=VersionRequired, status=204)
def articles_delete(caller: Caller, article_id: str, query: VersionRequired) -> None:
    _find(article_id)
    try:
        _catalog().delete_article(article_id, expected_version=query.version, actor=caller.user.name)
    except CatalogError as exc:
        raise _api_error(exc, "article") from None
    except KeyError:
        raise ApiError(404, "not_found", f"no article {article_id!r}") from None


@operation("/survey", "GET", summary="The survey", tag="catalog", area="catalog", response=SurveyDoc)
def survey_get(caller: Caller) -> SurveyDoc:
    saved = _catalog().stored()
    return SurveyDoc(version=saved.version, survey=_survey_out(saved.survey))


@operation("/survey", "PUT", summary="Replace the survey (its keywords make the rule survey)", tag="catalog",
           area="catalog", body=SurveyModel, query=VersionRequired, response=SurveyDoc)
def survey_put(caller: Caller, body: SurveyModel, query: VersionRequired) -> SurveyDoc:
    service = _catalog()
    try:
        version = service.put_survey(body.model_dump(), expected_version=query.version, actor=caller.user.name)
    except CatalogError as exc:
        raise _api_error(exc, "survey") from None
    return SurveyDoc(version=version, survey=_survey_out(service.stored().survey))


@operation("/survey/clicks", "GET", summary="Survey link clicks and distinct followers per day, oldest first",
           tag="catalog", area="catalog", query=ClicksQuery, response=list[DayClicksOut])
def survey_clicks_list(caller: Caller, query: ClicksQuery) -> list[DayClicksOut]:
    return [DayClicksOut(day=d.day, clicks=d.clicks, followers=d.followers) for d in survey_clicks(query.days)]
