"""The catalog: the article cards keyword rules answer with and the survey, as admins edit them.

config.yaml's ``articles:`` and ``survey:`` only seed it; the stored document is what workers answer with.
Validation names the field at fault (``articles[1].title: required``), like the rules engine's errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.config import ArticleConfig, Config, SurveyConfig

ARTICLE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# WeChat's limits for an article (draft/add: title ≤ 32 字, digest ≤ 128 字, content_source_url ≤ 1 KB);
# the survey's card has the same title and description.
TITLE_MAX, SUMMARY_MAX, URL_MAX_BYTES = 32, 128, 1024
KEYWORD_MAX, KEYWORDS_MAX, TAG_MAX, TAGS_MAX = 200, 100, 32, 20
ARTICLE_FIELDS = ("id", "title", "summary", "url", "cover", "tags", "keywords")
SURVEY_FIELDS = ("title", "url", "invitation", "keywords")


class CatalogError(ValueError):
    """An invalid catalog or edit; `errors` are ``path: problem`` messages, all of them."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class ArticleInUse(CatalogError):
    """An article that keyword rules answer with cannot be deleted (`rules` names them)."""

    def __init__(self, article_id: str, rules: list[str]) -> None:
        super().__init__([f"articles: article {article_id!r} is answered by rules {', '.join(rules)}"])
        self.rules = rules


@dataclass(frozen=True)
class Catalog:
    """One version of the articles and the survey (version 0: config.yaml's, not stored yet)."""

    version: int
    articles: tuple[ArticleConfig, ...]
    survey: SurveyConfig

    @classmethod
    def from_config(cls, config: Config) -> Catalog:
        return cls(0, config.articles, config.survey)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(a.id for a in self.articles)

    def article(self, article_id: str) -> ArticleConfig | None:
        return next((a for a in self.articles if a.id == article_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {"articles": [article_to_dict(a) for a in self.articles], "survey": survey_to_dict(self.survey)}


def article_to_dict(article: ArticleConfig) -> dict[str, Any]:
    return {"id": article.id, "title": article.title, "summary": article.summary, "url": article.url,
            "cover": article.cover, "tags": list(article.tags), "keywords": list(article.keywords)}


def survey_to_dict(survey: SurveyConfig) -> dict[str, Any]:
    return {"title": survey.title, "url": survey.url, "invitation": survey.invitation,
            "keywords": list(survey.keywords)}


class _Fields:
    """Reads one mapping's fields, collecting every problem under its path."""

    def __init__(self, data: Any, path: str, errors: list[str], allowed: tuple[str, ...], strict: bool) -> None:
        self.path, self.errors, self.strict = path, errors, strict
        if not isinstance(data, Mapping):
            errors.append(f"{path}: must be a mapping")
            data = {}
        self.data = data
        for key in data:
            if key not in allowed:
                errors.append(f"{path}.{key}: unknown field (fields: {', '.join(allowed)})")

    def fail(self, key: str, problem: str) -> None:
        self.errors.append(f"{self.path}.{key}: {problem}")

    def text(self, key: str, limit: int, *, required: bool = True) -> str:
        value = self.data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(key, "must be text")
            return ""
        value = value.strip()
        if not value and required:
            self.fail(key, "required")
        elif len(value) > limit and self.strict:
            self.fail(key, f"longer than {limit} characters")
        elif not _valid_text(value):
            self.fail(key, "not valid text (lone surrogates)")
        return value

    def url(self, key: str, *, required: bool = True) -> str:
        before = len(self.errors)
        value = self.text(key, URL_MAX_BYTES, required=required)
        if not value or len(self.errors) > before:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            self.fail(key, "must be an http:// or https:// URL")
        elif len(value.encode("utf-8")) > URL_MAX_BYTES and self.strict:
            self.fail(key, f"longer than {URL_MAX_BYTES} bytes")
        return value

    def words(self, key: str, limit: int, most: int) -> tuple[str, ...]:
        value = self.data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(key, "must be a list of words")
            return ()
        found: list[str] = []
        for i, word in enumerate(value):
            if not isinstance(word, str) or not word.strip():
                self.fail(f"{key}[{i}]", "must not be empty")
            elif len(word.strip()) > limit and self.strict:
                self.fail(f"{key}[{i}]", f"longer than {limit} characters")
            elif not _valid_text(word):
                self.fail(f"{key}[{i}]", "not valid text (lone surrogates)")
            elif word.strip() not in found:
                found.append(word.strip())
        if len(found) > most and self.strict:
            self.fail(key, f"too many ({len(found)} > {most})")
        return tuple(found)


def _valid_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _article(data: Any, path: str, errors: list[str], strict: bool = True) -> ArticleConfig:
    f = _Fields(data, path, errors, ARTICLE_FIELDS, strict)
    article_id = f.data.get("id")
    if not isinstance(article_id, str) or not ARTICLE_ID.fullmatch(article_id):
        f.fail("id", "must match [a-z0-9][a-z0-9_-]{0,63} (lowercase letters, digits, '-' and '_')")
        article_id = article_id if isinstance(article_id, str) else ""
    return ArticleConfig(id=article_id, title=f.text("title", TITLE_MAX), summary=f.text("summary", SUMMARY_MAX),
                         url=f.url("url"), cover=f.url("cover", required=False),
                         tags=f.words("tags", TAG_MAX, TAGS_MAX),
                         keywords=f.words("keywords", KEYWORD_MAX, KEYWORDS_MAX))


def _survey(data: Any, path: str, errors: list[str], strict: bool = True) -> SurveyConfig:
    f = _Fields(data, path, errors, SURVEY_FIELDS, strict)
    return SurveyConfig(title=f.text("title", TITLE_MAX), url=f.url("url"),
                        invitation=f.text("invitation", SUMMARY_MAX),
                        keywords=f.words("keywords", KEYWORD_MAX, KEYWORDS_MAX))


def parse_article(data: Any, path: str = "article") -> ArticleConfig:
    """One article from its dict; CatalogError names every bad field."""
    errors: list[str] = []
    article = _article(data, path, errors)
    if errors:
        raise CatalogError(errors)
    return article


def parse_survey(data: Any, path: str = "survey") -> SurveyConfig:
    errors: list[str] = []
    survey = _survey(data, path, errors)
    if errors:
        raise CatalogError(errors)
    return survey


def parse_catalog(data: Any, version: int = 0, *, strict: bool = True) -> Catalog:
    """A whole catalog document, all or nothing; CatalogError names every bad field.

    Not `strict` (reading a stored one): the length limits are not applied, so a seed from a config.yaml with
    a longer title still loads; every edit is strict.
    """
    errors: list[str] = []
    if not isinstance(data, Mapping):
        raise CatalogError(["catalog: must be a mapping with articles and survey"])
    for key in data:
        if key not in ("articles", "survey"):
            errors.append(f"catalog.{key}: unknown field (fields: articles, survey)")
    items = data.get("articles", [])
    if not isinstance(items, list):
        errors.append("articles: must be a list")
        items = []
    articles: list[ArticleConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        article = _article(item, f"articles[{i}]", errors, strict)
        if article.id in seen:
            errors.append(f"articles[{i}].id: duplicate article id {article.id!r}")
        seen.add(article.id)
        articles.append(article)
    if "survey" not in data:
        errors.append("survey: required")
    survey = _survey(data.get("survey", {}), "survey", errors, strict)
    if errors:
        raise CatalogError(errors)
    return Catalog(version, tuple(articles), survey)
