"""Issue 11: the articles and survey as stored, versioned data: the store, the model's checks, the service
(audited, with the keyword rule of an article's keywords), live reading by every worker, the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from flask import Flask

from bot.accounts.audit import AuditLog
from bot.config import Config
from bot.rules.catalog import ArticleInUse, CatalogError, article_to_dict, parse_article, parse_catalog
from bot.rules.catalog_service import CatalogService
from bot.rules.model import RuleError
from bot.rules.ruleset import RuleSet
from bot.store import Store
from tests.conftest import WeChat

SOY = "soy-foods"  # a seed article; config.yaml makes the rule article-soy-foods from its keywords


def new_article(**over: Any) -> dict[str, Any]:
    doc = {"id": "kidney-diet", "title": "肾移植术后饮食要点", "summary": "术后饮食的五个要点。",
           "url": "https://mp.weixin.qq.com/s/kidney-diet", "cover": "", "tags": ["饮食"], "keywords": ["饮食要点"]}
    return {**doc, **over}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def service(store: Store, config: Config, clock: Clock | None = None) -> CatalogService:
    def now() -> datetime:
        return datetime.now(UTC)

    audit = AuditLog(store, config.console, now)
    return CatalogService(RuleSet(store, config, clock=clock or Clock(), audit=audit), audit)


# -- the store -------------------------------------------------------------------------------------------

def test_store_saves_with_an_expected_version_and_polls_both_versions(store: Store) -> None:
    assert store.load_catalog() is None and store.versions() == (0, 0)
    assert store.seed_catalog({"articles": [], "survey": {}})
    assert not store.seed_catalog({"articles": [{"id": "x"}], "survey": {}})  # only the first start seeds
    assert store.load_catalog() == (1, {"articles": [], "survey": {}})
    assert store.save_catalog({"articles": [], "survey": {"title": "t"}}, expected_version=0) == -1  # stale
    assert store.save_catalog({"articles": [], "survey": {"title": "t"}}, expected_version=1) == 2
    store.save_rules([], expected_version=None)
    assert store.versions() == (1, 2)


# -- the model -------------------------------------------------------------------------------------------

def test_the_seed_round_trips_through_its_dict(config: Config) -> None:
    catalog = parse_catalog({"articles": [article_to_dict(a) for a in config.articles],
                             "survey": {"title": config.survey.title, "url": config.survey.url,
                                        "invitation": config.survey.invitation,
                                        "keywords": list(config.survey.keywords)}}, 3)
    assert catalog.articles == config.articles and catalog.survey == config.survey and catalog.version == 3
    assert catalog.article(SOY) == config.article(SOY) and catalog.article("nope") is None


@pytest.mark.parametrize(("over", "error"), [
    ({"id": "Bad Id"}, "article.id: must match"),
    ({"title": " "}, "article.title: required"),
    ({"title": "长" * 33}, "article.title: longer than 32 characters"),
    ({"summary": "长" * 129}, "article.summary: longer than 128 characters"),
    ({"url": "ftp://example.org/a"}, "article.url: must be an http:// or https:// URL"),
    ({"url": "https://example.org/" + "a" * 1100}, "article.url: longer than 1024 characters"),
    ({"cover": "not a url"}, "article.cover: must be an http:// or https:// URL"),
    ({"keywords": ["ok", " "]}, "article.keywords[1]: must not be empty"),
    ({"colour": "red"}, "article.colour: unknown field"),
])
def test_an_article_is_refused_naming_the_field(over: dict[str, Any], error: str) -> None:
    with pytest.raises(CatalogError) as exc:
        parse_article(new_article(**over))
    assert any(e.startswith(error) for e in exc.value.errors), exc.value.errors


def test_a_catalog_is_refused_whole_naming_every_field() -> None:
    with pytest.raises(CatalogError) as exc:
        parse_catalog({"articles": [new_article(), new_article(title="")], "survey": {"url": "x"}})
    errors = exc.value.errors
    assert "articles[1].id: duplicate article id 'kidney-diet'" in errors and "articles[1].title: required" in errors
    assert "survey.title: required" in errors and "survey.url: must be an http:// or https:// URL" in errors


# -- the service -----------------------------------------------------------------------------------------

def test_first_use_seeds_the_catalog_from_config(store: Store, config: Config) -> None:
    catalog = service(store, config).stored()
    assert catalog.version == 1 and catalog.articles == config.articles and catalog.survey == config.survey


def test_put_article_saves_audits_and_makes_its_keyword_rule(store: Store, config: Config) -> None:
    svc = service(store, config)
    version = svc.stored().version
    new_version = svc.put_article(new_article(), expected_version=version, actor="admin1")
    assert new_version == version + 1 and svc.stored().article("kidney-diet") == parse_article(new_article())
    rule = next(d for d in svc.rules.stored()[1] if d["id"] == "article-kidney-diet")
    assert rule["keywords"] == ["饮食要点"] and rule["answer"] == {"kind": "article", "article_id": "kidney-diet"}
    entries = svc.audit.recent(5)  # type: ignore[union-attr]
    assert [e["action"] for e in entries[:2]] == ["rule.create", "article.create"]
    assert entries[1]["actor"] == "admin1" and entries[1]["before"]["article"] is None
    assert entries[1]["after"]["article"]["title"] == "肾移植术后饮食要点"

    svc.put_article(new_article(title="饮食要点（更新）", keywords=["术后饮食"]), article_id="kidney-diet",
                    actor="admin1")
    assert next(d for d in svc.rules.stored()[1] if d["id"] == "article-kidney-diet")["keywords"] == ["术后饮食"]
    update = svc.audit.recent(2, action="article.")[0]  # type: ignore[union-attr]
    assert update["action"] == "article.update" and update["before"]["article"]["title"] == "肾移植术后饮食要点"
    svc.put_article(new_article(keywords=[]), article_id="kidney-diet", actor="admin1")
    assert all(d["id"] != "article-kidney-diet" for d in svc.rules.stored()[1])  # no keywords: no rule


def test_a_stale_version_changes_nothing(store: Store, config: Config) -> None:
    svc = service(store, config)
    version = svc.stored().version
    svc.put_article(new_article(), expected_version=version, actor="a")
    with pytest.raises(CatalogError, match="changed by someone else meanwhile"):
        svc.put_article(new_article(id="other"), expected_version=version, actor="b")
    with pytest.raises(CatalogError, match="changed by someone else meanwhile"):
        svc.delete_article("kidney-diet", expected_version=version, actor="b")
    assert svc.stored().article("other") is None and svc.stored().article("kidney-diet") is not None


def test_ids_are_unique_and_fixed(store: Store, config: Config) -> None:
    svc = service(store, config)
    with pytest.raises(CatalogError, match="duplicate article id"):
        svc.put_article(new_article(id=SOY), actor="a")
    with pytest.raises(CatalogError, match="cannot change"):
        svc.put_article(new_article(), article_id=SOY, actor="a")
    with pytest.raises(KeyError):
        svc.put_article(new_article(), article_id="kidney-diet", actor="a")


def test_a_bad_keyword_is_an_error_on_the_articles_keywords(store: Store, config: Config) -> None:
    with pytest.raises(CatalogError) as exc:
        service(store, config).put_article(new_article(keywords=["！！！"]), actor="a")
    assert exc.value.errors[0] == "article.keywords[0]: '！！！' normalizes to an empty string"


def test_delete_takes_its_own_rule_along_but_not_an_article_other_rules_use(store: Store, config: Config) -> None:
    svc = service(store, config)
    version, docs = svc.rules.stored()
    svc.rules.replace([*docs, {"id": "soy-milk", "name": "豆浆", "keywords": ["豆浆怎么喝"],
                               "answer": {"kind": "article", "article_id": SOY}}], version, actor="a")
    with pytest.raises(ArticleInUse) as exc:
        svc.delete_article(SOY, actor="admin1")
    assert exc.value.rules == ["soy-milk"] and svc.stored().article(SOY) is not None
    svc.rules.delete_rule("soy-milk", actor="a")
    svc.delete_article(SOY, actor="admin1")
    assert svc.stored().article(SOY) is None
    assert all(d["id"] != f"article-{SOY}" for d in svc.rules.stored()[1])
    entry = svc.audit.recent(1)[0]  # type: ignore[union-attr]
    assert entry["action"] == "article.delete" and entry["target"] == SOY and entry["after"]["article"] is None


def test_import_refuses_dropping_an_article_a_rule_answers_with(store: Store, config: Config) -> None:
    svc = service(store, config)
    doc = svc.stored().to_dict()
    doc["articles"] = [a for a in doc["articles"] if a["id"] != SOY]
    with pytest.raises(ArticleInUse, match=f"article-{SOY}"):
        svc.replace_articles(doc, actor="cli")


def test_rules_are_checked_against_the_current_catalog(store: Store, config: Config) -> None:
    svc = service(store, config)
    version, docs = svc.rules.stored()
    rule = {"id": "diet", "name": "饮食", "keywords": ["术后饮食"], "answer": {"kind": "article",
                                                                        "article_id": "kidney-diet"}}
    with pytest.raises(RuleError, match="unknown article 'kidney-diet'"):
        svc.rules.replace([*docs, rule], version, actor="a")
    svc.put_article(new_article(keywords=[]), actor="a")  # an article config.yaml does not have
    assert svc.rules.replace([*docs, rule], version, actor="a") == version + 1


def test_put_survey_saves_audits_and_follows_the_survey_rule(store: Store, config: Config) -> None:
    svc = service(store, config)
    svc.put_survey({"title": "新问卷", "url": "https://example.org/new-survey", "invitation": "请参与新问卷。",
                    "keywords": ["新问卷"]}, actor="admin1")
    assert svc.stored().survey.title == "新问卷"
    assert next(d for d in svc.rules.stored()[1] if d["id"] == "survey")["keywords"] == ["新问卷"]
    entry = svc.audit.recent(1, action="survey.")[0]  # type: ignore[union-attr]
    assert entry["before"]["survey"]["title"] == config.survey.title and entry["after"]["survey"]["title"] == "新问卷"
    with pytest.raises(CatalogError, match=r"survey\.url: must be an http"):
        svc.put_survey({"title": "x", "url": "javascript:alert(1)", "invitation": "y"}, actor="a")


# -- live reading ----------------------------------------------------------------------------------------

def test_another_worker_sees_an_edit_at_its_next_poll(store: Store, config: Config) -> None:
    clock = Clock()
    mine, other = service(store, config), RuleSet(store, config, clock=clock)
    assert other.catalog().article(SOY).title == config.article(SOY).title  # type: ignore[union-attr]
    mine.put_article({**article_to_dict(config.article(SOY)), "title": "豆制品怎么吃"},  # type: ignore[arg-type]
                     article_id=SOY, actor="a")
    assert other.catalog().article(SOY).title != "豆制品怎么吃"  # type: ignore[union-attr]  # not polled yet
    clock.now += other.check_every
    assert other.catalog().article(SOY).title == "豆制品怎么吃"  # type: ignore[union-attr]
    assert mine.current().article(SOY).title == "豆制品怎么吃"  # type: ignore[union-attr]  # its own at once
    book = other.current()
    assert book.catalog is other.catalog() and book.catalog.version == mine.stored().version  # type: ignore[union-attr]


def test_handlers_answer_with_the_edited_card_and_survey(app: Flask, wechat: WeChat, config: Config) -> None:
    svc: CatalogService = app.extensions["wxbot"].ctx.services.catalog
    svc.put_article({**article_to_dict(config.article(SOY)), "title": "豆制品怎么吃",  # type: ignore[arg-type]
                     "url": "https://mp.weixin.qq.com/s/soy-new"}, article_id=SOY, actor="a")
    reply = wechat.send("豆浆")
    assert reply.kind == "news" and reply.articles[0][0] == "豆制品怎么吃"
    assert reply.articles[0][2] == "https://mp.weixin.qq.com/s/soy-new"
    svc.put_survey({"title": "随访问卷", "url": "https://example.org/follow-up", "invitation": "请花两分钟填写。",
                    "keywords": ["随访问卷"]}, actor="a")
    card = wechat.send("随访问卷")
    assert card.articles[0][:2] == ("随访问卷", "请花两分钟填写。")
    path = card.articles[0][2].removeprefix(config.account.public_base_url)
    assert app.test_client().get(path).headers["Location"] == "https://example.org/follow-up"
    assert "请花两分钟填写。" in wechat.event("subscribe").text  # the welcome's invitation


def test_the_question_tagger_reads_the_live_catalog(app: Flask, wechat: WeChat, store: Store) -> None:
    svc: CatalogService = app.extensions["wxbot"].ctx.services.catalog
    svc.put_article(new_article(tags=["术后饮食"], keywords=["饮食要点"]), actor="a")
    tagger = app.extensions["wxbot"].ctx.services.posts.desk.tagger
    assert "术后饮食" in tagger.tags("请问饮食要点有哪些")


# -- the CLI ---------------------------------------------------------------------------------------------

def test_cli_export_then_import_round_trips_and_refuses_bad_files(runner: Any, app: Flask, tmp_path: Any,
                                                                   config: Config) -> None:
    exported = runner.invoke(args=["catalog", "export"])
    assert exported.exit_code == 0, exported.output
    doc = yaml.safe_load(exported.output)
    assert [a["id"] for a in doc["articles"]] == [a.id for a in config.articles]
    doc["articles"].append(new_article())
    doc["survey"]["title"] = "导入的问卷"
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0 and "version" in result.output, result.output
    again = yaml.safe_load(runner.invoke(args=["catalog", "export"]).output)
    assert again == doc
    svc: CatalogService = app.extensions["wxbot"].ctx.services.catalog
    assert svc.audit.recent(1)[0]["action"] == "catalog.import"  # type: ignore[union-attr]
    version = svc.stored().version

    doc["articles"][0]["url"] = "not-a-url"
    doc["articles"][1]["title"] = ""
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    bad = runner.invoke(args=["catalog", "import", str(path)])
    assert bad.exit_code != 0 and "articles[0].url" in bad.output and "articles[1].title: required" in bad.output
    assert svc.stored().version == version  # all or nothing


def test_a_seed_over_wechats_limits_still_loads_but_edits_are_checked(store: Store, config: Config) -> None:
    from dataclasses import replace

    long = replace(config.articles[0], title="很长的标题" * 8)  # 40 characters: config.yaml does not limit it
    svc = service(store, replace(config, articles=(long, *config.articles[1:])))
    assert svc.current().article(long.id) == long and svc.stored().article(long.id) == long
    svc.put_article(new_article(), actor="a")  # another article's edit is not refused for it
    with pytest.raises(CatalogError, match="longer than 32 characters"):
        svc.put_article(article_to_dict(long), article_id=long.id, actor="a")
