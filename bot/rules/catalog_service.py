"""Editing the catalog (the console, the API and the CLI): validated, versioned, audited.

An article's keywords (and the survey's) also live as the keyword rule config.yaml generates from them
(``article-<id>``, ``survey``): saving them here updates, creates or removes that rule through RuleSet.replace,
so the article form is the one place to edit them, and the question tagger still reads them from the catalog.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import yaml

from bot.rules.catalog import (
    ArticleInUse,
    Catalog,
    CatalogError,
    article_to_dict,
    parse_article,
    parse_catalog,
    parse_survey,
    survey_to_dict,
)
from bot.rules.model import RuleError
from bot.rules.ruleset import RuleSet

if TYPE_CHECKING:
    from bot.accounts.audit import AuditLog

log = logging.getLogger(__name__)
STALE = "catalog: changed by someone else meanwhile; reload and try again"


def keyword_rule_id(article_id: str | None) -> str:
    """The rule that answers an article's keywords (None: the survey's)."""
    return "survey" if article_id is None else f"article-{article_id}"


class CatalogService:
    """The articles and the survey: read live, changed with an expected version, every change audited."""

    def __init__(self, rules: RuleSet, audit: AuditLog | None = None) -> None:
        self.rules = rules
        self.store = rules.store
        self.audit = audit

    def current(self) -> Catalog:
        """What this worker answers with (refreshed within a second of any change)."""
        return self.rules.catalog()

    def stored(self) -> Catalog:
        """The saved catalog, from Redis: what an edit starts from (its version goes back with the change)."""
        return self.rules.stored_catalog()

    # -- changes ----------------------------------------------------------------------------------

    def replace_articles(self, doc: Any, expected_version: int | None = None, *, actor: str,
                         action: str = "catalog.import") -> int:
        """Replace the whole catalog (articles and survey), all or nothing; returns the new version.

        Refused (ArticleInUse) if it drops an article a stored rule answers with. Keyword rules are not
        touched: `rules import` owns them.
        """
        new = parse_catalog(doc)
        old = self.stored()
        gone = old.ids - new.ids
        self._refuse_in_use(gone, keep=frozenset())
        version = self._save(new, expected_version)
        self._record(actor, action, "catalog", {"version": old.version, **old.to_dict()},
                     {"version": version, **new.to_dict()})
        return version

    def put_article(self, doc: Any, *, article_id: str | None = None, expected_version: int | None = None,
                    actor: str) -> int:
        """Add an article (`article_id` None) or replace article `article_id` (its id cannot change).

        KeyError if `article_id` is not saved; CatalogError names the fields as ``article.title``.
        """
        article = parse_article(doc)
        old = self.stored()
        previous = old.article(article_id) if article_id is not None else None
        if article_id is not None and previous is None:
            raise KeyError(article_id)
        if article_id is not None and article.id != article_id:
            raise CatalogError([f"article.id: an article's id cannot change (it is {article_id!r})"])
        if article_id is None and old.article(article.id) is not None:
            raise CatalogError([f"article.id: duplicate article id {article.id!r}"])
        articles = tuple(article if a.id == article.id else a for a in old.articles)
        if previous is None:
            articles += (article,)
        new = replace(old, articles=articles)
        rules = self._keyword_rules(article.id, article.title, article.keywords, new.ids, "article")
        version = self._save(new, expected_version)
        self._record(actor, "article.update" if previous else "article.create", article.id,
                     {"version": old.version, "article": article_to_dict(previous) if previous else None},
                     {"version": version, "article": article_to_dict(article)})
        self._save_rules(rules, actor)
        return version

    def delete_article(self, article_id: str, *, expected_version: int | None = None, actor: str) -> int:
        """Remove an article and its keyword rule; ArticleInUse if other rules answer with it."""
        old = self.stored()
        previous = old.article(article_id)
        if previous is None:
            raise KeyError(article_id)
        if expected_version is not None and expected_version != old.version:
            raise CatalogError([STALE])
        own = keyword_rule_id(article_id)
        self._refuse_in_use({article_id}, keep=frozenset({own}))
        rules_version, docs = self.rules.stored()
        if any(d.get("id") == own for d in docs):  # first, or the catalog would hold a rule to a missing article
            self.rules.replace([d for d in docs if d.get("id") != own], rules_version, actor=actor,
                               action="rule.delete")
        new = replace(old, articles=tuple(a for a in old.articles if a.id != article_id))
        version = self._save(new, old.version)
        self._record(actor, "article.delete", article_id,
                     {"version": old.version, "article": article_to_dict(previous)},
                     {"version": version, "article": None})
        return version

    def put_survey(self, doc: Any, *, expected_version: int | None = None, actor: str) -> int:
        """Replace the survey (title, link, invitation, keywords); returns the new version."""
        survey = parse_survey(doc)
        old = self.stored()
        new = replace(old, survey=survey)
        rules = self._keyword_rules(None, survey.title, survey.keywords, new.ids, "survey")
        version = self._save(new, expected_version)
        self._record(actor, "survey.update", "survey", {"version": old.version, "survey": survey_to_dict(old.survey)},
                     {"version": version, "survey": survey_to_dict(survey)})
        self._save_rules(rules, actor)
        return version

    def import_yaml(self, text: str, *, actor: str = "cli") -> int:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise CatalogError(["catalog file: not valid YAML"]) from None
        return self.replace_articles(data, actor=actor)

    def export_yaml(self) -> str:
        catalog = self.stored()
        return (f"# articles and survey, catalog version {catalog.version}\n"
                + yaml.safe_dump(catalog.to_dict(), allow_unicode=True, sort_keys=False))

    # -- what rules use -----------------------------------------------------------------------------

    def rules_using(self, article_id: str) -> list[str]:
        """Ids of the stored rules that answer with `article_id`."""
        _, docs = self.rules.stored()
        return [str(d.get("id")) for d in docs
                if isinstance(d.get("answer"), dict) and d["answer"].get("article_id") == article_id]

    def _refuse_in_use(self, gone: set[str] | frozenset[str], keep: frozenset[str]) -> None:
        for article_id in sorted(gone):
            using = [r for r in self.rules_using(article_id) if r not in keep]
            if using:
                raise ArticleInUse(article_id, using)

    # -- internals ----------------------------------------------------------------------------------

    def _save(self, catalog: Catalog, expected_version: int | None) -> int:
        version = self.store.save_catalog(catalog.to_dict(), expected_version)
        if version < 0:
            raise CatalogError([STALE])
        self.rules.recheck()  # this process sees its own change at once
        return version

    def _keyword_rules(self, article_id: str | None, title: str, keywords: tuple[str, ...],
                       article_ids: frozenset[str], field: str) -> tuple[int, list[dict[str, Any]], str] | None:
        """The rule set with the keyword rule of an article (or the survey) following `keywords`, validated.

        None when nothing changes; else (rules version, rules, audit action). RuleError becomes a
        CatalogError on ``{field}.keywords``.
        """
        rule_id = keyword_rule_id(article_id)
        version, docs = self.rules.stored()
        items = [dict(d) for d in docs]
        found = next((d for d in items if d.get("id") == rule_id), None)
        if found is None and not keywords:
            return None
        if found is not None and list(found.get("keywords", [])) == list(keywords):
            return None
        if found is None:
            answer = {"kind": "survey"} if article_id is None else {"kind": "article", "article_id": article_id}
            items.append({"id": rule_id, "name": title, "keywords": list(keywords), "answer": answer})
            action = "rule.create"
        elif not keywords:
            items.remove(found)
            action = "rule.delete"
        else:
            found["keywords"] = list(keywords)
            action = "rule.update"
        try:
            self.rules.validate(items, allow_no_urgent=True, article_ids=article_ids)
        except RuleError as exc:
            raise CatalogError([_keyword_error(e, field) for e in exc.errors]) from None
        return version, items, action

    def _save_rules(self, change: tuple[int, list[dict[str, Any]], str] | None, actor: str) -> None:
        if change is None:
            return
        version, items, action = change
        try:
            self.rules.replace(items, version, actor=actor, action=action, allow_no_urgent=True)
        except RuleError:
            # The catalog is saved; only the keyword rule is behind (someone saved rules in between).
            raise CatalogError(["keywords: saved, but the keyword rule was changed by someone else meanwhile; "
                                "save again to update it"]) from None

    def _record(self, actor: str, action: str, target: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.record(actor, action, target, before, after)


def _keyword_error(message: str, field: str) -> str:
    """A rule error on the generated rule as an error on the article's (or survey's) keywords field."""
    path, sep, problem = message.partition(": ")
    if not sep:
        return f"{field}.keywords: {message}"
    if ".keywords" in path:
        return f"{field}.keywords{path.split('.keywords', 1)[1]}: {problem}"
    return f"{field}.keywords: {problem}"

