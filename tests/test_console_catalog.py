"""The console's articles and survey: the page, the forms, the survey's clicks, /api/articles and /api/survey.

Flask's test client against real Redis; one browser test over real HTTP (gunicorn): an admin edits an article's
title in the page, and a signed push with its keyword then gets the new title.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Config
from bot.rules.catalog import Catalog
from bot.store import Store
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import WeChat, wait_for
from tests.console import ADMIN, EDITOR, browser_login, csrf_token
from tests.test_console_rules import login

SOY = "soy-foods"


@pytest.fixture
def admin(client: FlaskClient, console_users: Any) -> Any:
    client.csrf = login(client, ADMIN)  # type: ignore[attr-defined]
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.csrf  # type: ignore[attr-defined]
    return client


def saved(app: Flask) -> Catalog:
    return app.extensions["wxbot"].ctx.services.catalog.stored()


def new_article(**over: Any) -> dict[str, Any]:
    doc = {"id": "kidney-diet", "title": "肾移植术后饮食要点", "summary": "术后饮食的五个要点。",
           "url": "https://mp.weixin.qq.com/s/kidney-diet", "tags": ["饮食"], "keywords": ["饮食要点"]}
    return {**doc, **over}


# -- the API ---------------------------------------------------------------------------------------------

def test_api_crud_with_versions_and_audit(admin: FlaskClient, app: Flask, wechat: WeChat) -> None:
    listed = admin.get("/api/articles").get_json()
    assert listed["version"] == saved(app).version and [a["id"] for a in listed["articles"]] == [
        a.id for a in saved(app).articles]
    assert next(a for a in listed["articles"] if a["id"] == SOY)["rules"] == [f"article-{SOY}"]

    created = admin.post(f"/api/articles?version={listed['version']}", json=new_article())
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["article"]["rules"] == ["article-kidney-diet"]
    assert wechat.send("饮食要点").articles[0][0] == "肾移植术后饮食要点"

    version = created.get_json()["version"]
    put = admin.put(f"/api/articles/kidney-diet?version={version}", json=new_article(title="饮食要点新版"))
    assert put.status_code == 200 and put.get_json()["article"]["title"] == "饮食要点新版"
    assert admin.get("/api/articles/kidney-diet").get_json()["article"]["title"] == "饮食要点新版"
    assert wechat.send("饮食要点").articles[0][0] == "饮食要点新版"

    stale = admin.put(f"/api/articles/kidney-diet?version={version}", json=new_article(title="旧的"))
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale"
    assert admin.delete(f"/api/articles/kidney-diet?version={version}").status_code == 409

    assert admin.delete(f"/api/articles/kidney-diet?version={saved(app).version}").status_code == 204
    assert admin.get("/api/articles/kidney-diet").status_code == 404
    actions = [e["action"] for e in app.extensions["wxbot"].ctx.services.audit.recent(20, target="kidney-diet")]
    assert actions == ["article.delete", "article.update", "article.create"]
    assert all(e["actor"] == ADMIN for e in app.extensions["wxbot"].ctx.services.audit.recent(5, action="article."))


def test_api_delete_of_an_article_a_rule_answers_with_is_409_naming_it(admin: FlaskClient, app: Flask) -> None:
    rule = {"id": "soy-milk", "name": "豆浆", "keywords": ["豆浆怎么喝"],
            "answer": {"kind": "article", "article_id": SOY}}
    assert admin.post("/api/rules", json=rule).status_code == 201
    resp = admin.delete(f"/api/articles/{SOY}?version={saved(app).version}")
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "in_use" and "soy-milk" in error["message"] and f"article-{SOY}" not in error["message"]
    assert saved(app).article(SOY) is not None


def test_api_refuses_rules_answering_with_an_unknown_article(admin: FlaskClient) -> None:
    rule = {"id": "diet", "name": "饮食", "keywords": ["术后饮食"], "answer": {"kind": "article",
                                                                        "article_id": "kidney-diet"}}
    assert admin.post("/api/rules", json=rule).status_code == 422
    assert admin.post("/api/articles", json=new_article(keywords=[])).status_code == 201
    assert admin.post("/api/rules", json=rule).status_code == 201


@pytest.mark.parametrize(("doc", "field"), [
    (new_article(url="ftp://x.org/a"), "url"),
    (new_article(title=" "), "title"),
    (new_article(keywords=["！！！"]), "keywords[0]"),
    (new_article(id=SOY), "id"),
])
def test_api_invalid_article_is_422_naming_the_field(admin: FlaskClient, app: Flask, doc: dict[str, Any],
                                                     field: str) -> None:
    before = saved(app)
    resp = admin.post("/api/articles", json=doc)
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == field, resp.get_json()
    assert saved(app) == before


def test_api_survey_and_its_clicks(admin: FlaskClient, app: Flask, wechat: WeChat, config: Config) -> None:
    survey = admin.get("/api/survey").get_json()
    assert survey["survey"]["title"] == config.survey.title
    doc = {"title": "随访问卷", "url": "https://example.org/follow-up", "invitation": "请花两分钟填写。",
           "keywords": ["随访问卷"]}
    resp = admin.put(f"/api/survey?version={survey['version']}", json=doc)
    assert resp.status_code == 200 and resp.get_json()["survey"] == doc
    assert admin.put(f"/api/survey?version={survey['version']}", json=doc).status_code == 409
    assert admin.put(f"/api/survey?version={saved(app).version}",
                     json={**doc, "url": "mailto:x@y"}).get_json()["error"]["field"] == "url"
    link = wechat.send("随访问卷").articles[0][2].removeprefix(config.account.public_base_url)
    assert admin.get(link).headers["Location"] == "https://example.org/follow-up"
    days = admin.get("/api/survey/clicks?days=3").get_json()
    assert len(days) == 3 and days[-1]["day"] == app.extensions["wxbot"].ctx.today()
    assert sum(d["clicks"] for d in days) == 1 and sum(d["followers"] for d in days) == 1


def test_api_refuses_editors_and_strangers(client: FlaskClient, console_users: Any, app: Flask) -> None:
    before = saved(app)
    assert client.get("/api/articles").status_code == 401
    token = login(client, EDITOR)
    headers = {"X-CSRFToken": token}
    for resp in (client.get("/api/articles"), client.get(f"/api/articles/{SOY}"), client.get("/api/survey"),
                 client.get("/api/survey/clicks"), client.post("/api/articles", json=new_article(), headers=headers),
                 client.put(f"/api/articles/{SOY}", json=new_article(id=SOY), headers=headers),
                 client.delete(f"/api/articles/{SOY}", headers=headers),
                 client.put("/api/survey", json={"title": "x", "url": "https://x.org", "invitation": "y"},
                            headers=headers)):
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    assert saved(app) == before


def test_openapi_describes_the_catalog_operations(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert set(paths["/api/articles/{article_id}"]) == {"get", "put", "delete"}
    assert "409" in paths["/api/articles/{article_id}"]["delete"]["responses"]
    assert {"get", "put"} <= set(paths["/api/survey"]) and "get" in paths["/api/survey/clicks"]


# -- pages -----------------------------------------------------------------------------------------------

def test_editor_is_refused_the_catalog_page(client: FlaskClient, console_users: Any) -> None:
    login(client, EDITOR)
    for path in ("/console/catalog", "/console/catalog/articles/new", "/console/catalog/survey"):
        resp = client.get(path)
        assert resp.status_code == 403 and "没有权限" in resp.text


@pytest.mark.usefixtures("frozen_now")  # the click and the page's today fall in one day
def test_catalog_page_shows_cards_survey_and_clicks(admin: FlaskClient, app: Flask, wechat: WeChat,
                                                   config: Config) -> None:
    link = wechat.send("问卷").articles[0][2].removeprefix(config.account.public_base_url)
    admin.get(link)
    html = admin.get("/console/catalog").text
    for article in config.articles:
        assert f'id="article-{article.id}"' in html and article.title in html
    assert '<div class="card reply">' in html and config.survey.invitation in html
    assert "<svg" in html and "<rect" in html and "style=" not in html
    assert re.search(r"<td>\d{4}-\d\d-\d\d</td><td>1</td><td>1</td>", html)  # today's click, one follower
    assert "共 1 次" in html


def test_article_form_saves_and_shows_errors_in_chinese(admin: FlaskClient, app: Flask, wechat: WeChat) -> None:
    page = admin.get(f"/console/catalog/articles/{SOY}/edit").text
    version = saved(app).version
    form = {"csrf_token": csrf_token(page), "version": str(version), "title": "豆制品怎么吃",
            "summary": "新的摘要。", "url": "not a link", "cover": "", "tags": "饮食", "keywords": "豆浆\n豆腐"}
    bad = admin.post(f"/console/catalog/articles/{SOY}/edit", data=form)
    assert bad.status_code == 422
    assert re.search(r'data-field="url">须为 http:// 或 https:// 开头的网址', bad.text)
    assert saved(app).version == version
    ok = admin.post(f"/console/catalog/articles/{SOY}/edit", data={**form, "url": "https://mp.weixin.qq.com/s/soy"})
    assert ok.status_code == 303
    assert wechat.send("豆腐").articles[0][:1] == ("豆制品怎么吃",)
    rule = next(d for d in app.extensions["wxbot"].ctx.services.rules.stored()[1] if d["id"] == f"article-{SOY}")
    assert rule["keywords"] == ["豆浆", "豆腐"]
    stale = admin.post(f"/console/catalog/articles/{SOY}/edit", data={**form, "url": "https://x.org/a"})
    assert stale.status_code == 409 and "内容已被他人修改，请刷新后重试" in stale.text


def test_new_article_and_delete_from_the_page(admin: FlaskClient, app: Flask) -> None:
    page = admin.get("/console/catalog/articles/new").text
    form = {"csrf_token": csrf_token(page), "version": str(saved(app).version), "id": "kidney-diet",
            "title": "肾移植术后饮食要点", "summary": "五个要点。", "url": "https://mp.weixin.qq.com/s/kd",
            "cover": "", "tags": "", "keywords": "饮食要点"}
    assert admin.post("/console/catalog/articles/new", data=form).status_code == 303
    assert saved(app).article("kidney-diet") is not None
    gone = admin.post("/console/catalog/articles/kidney-diet/delete",
                      data={"csrf_token": form["csrf_token"], "version": str(saved(app).version)},
                      follow_redirects=True)
    assert "已删除" in gone.text and saved(app).article("kidney-diet") is None


def test_delete_of_an_article_in_use_names_the_rules_in_chinese(admin: FlaskClient, app: Flask) -> None:
    admin.post("/api/rules", json={"id": "soy-milk", "name": "豆浆", "keywords": ["豆浆怎么喝"],
                                   "answer": {"kind": "article", "article_id": SOY}})
    page = admin.get("/console/catalog").text
    resp = admin.post(f"/console/catalog/articles/{SOY}/delete",
                      data={"csrf_token": csrf_token(page), "version": str(saved(app).version)},
                      follow_redirects=True)
    assert "未删除：关键词规则 soy-milk 用这篇文章回复" in resp.text and saved(app).article(SOY) is not None


def test_survey_form_saves_and_shows_errors(admin: FlaskClient, app: Flask, wechat: WeChat) -> None:
    page = admin.get("/console/catalog/survey").text
    form = {"csrf_token": csrf_token(page), "version": str(saved(app).version), "title": "",
            "url": "https://example.org/s2", "invitation": "请参与。", "keywords": "新问卷"}
    bad = admin.post("/console/catalog/survey", data=form)
    assert bad.status_code == 422 and 'data-field="title">必填' in bad.text
    assert admin.post("/console/catalog/survey", data={**form, "title": "新问卷"}).status_code == 303
    assert wechat.send("新问卷").articles[0][:2] == ("新问卷", "请参与。")


# -- a browser over real HTTP ----------------------------------------------------------------------------

@pytest.mark.browser
def test_admin_edits_an_article_title_then_a_signed_push_gets_it(live_server: str, console_users: Any, page: Any,
                                                                 config: Config, store: Store) -> None:
    browser_login(page, live_server, ADMIN)
    page.click("text=文章与问卷")
    page.click(f"#article-{SOY} >> text=编辑")
    page.fill("input[name=title]", "豆制品，肾友这样吃")
    page.click("#save-button")
    page.wait_for_selector("text=已保存")
    # Nothing refused by the Content-Security-Policy (the sample covers are on hosts this machine cannot reach).
    assert not [e for e in page.console_errors if "Content Security Policy" in e or "Refused" in e]

    account = Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                      config.account.original_id)

    def title() -> str:
        query, body = signed_request(account, message_xml(account, "o_follower_9", text="豆浆"))
        resp = requests.post(f"{live_server}/wechat", params=query, data=body, timeout=10)
        reply = read_reply(account, resp.text)
        return reply.articles[0][0] if reply.articles else ""

    assert wait_for(lambda: title() == "豆制品，肾友这样吃", timeout=5)  # every worker within a second
