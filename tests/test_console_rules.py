"""The console's keyword rules: pages, 试一试, unanswered messages and the /api/rules operations.

Flask's test client against real Redis for pages and the API; one browser test over real HTTP (gunicorn) for
the issue's proof: an edit, tried in 试一试, is the reply a signed push then gets.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Config
from bot.store import Store
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import WeChat, wait_for
from tests.console import ADMIN, EDITOR, PASSWORD, browser_login, csrf_token

CLINIC = "clinic-hours"  # a seed rule: 门诊时间 → a fixed text


def login(client: FlaskClient, name: str) -> str:
    """Log `client` in as `name`; returns the CSRF token for its forms and API calls."""
    token = csrf_token(client.get("/console/login").text)
    resp = client.post("/console/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 303
    return csrf_token(client.get("/console/").text)


@pytest.fixture
def admin(client: FlaskClient, console_users: Any) -> Any:
    """The client logged in as the admin; `.csrf` is its token (the X-CSRFToken header of its API calls)."""
    client.csrf = login(client, ADMIN)  # type: ignore[attr-defined]
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.csrf  # type: ignore[attr-defined]
    return client


def rules_now(app: Flask) -> tuple[int, list[dict[str, Any]]]:
    return app.extensions["wxbot"].ctx.services.rules.stored()


def rule(app: Flask, rule_id: str) -> dict[str, Any]:
    return next(d for d in rules_now(app)[1] if d["id"] == rule_id)


def new_rule(**over: Any) -> dict[str, Any]:
    doc = {"id": "soy-milk", "name": "豆浆怎么喝", "keywords": ["豆浆怎么喝"], "match": "contains",
           "answer": {"kind": "text", "texts": ["每天一杯为宜。"]}}
    return {**doc, **over}


# -- the API ---------------------------------------------------------------------------------------------

def test_api_lists_rules_with_their_version_and_hits(admin: FlaskClient, app: Flask, wechat: WeChat) -> None:
    wechat.send("门诊时间")  # one hit for the clinic rule today
    body = admin.get("/api/rules").get_json()
    version, docs = rules_now(app)
    assert body["version"] == version and [r["id"] for r in body["rules"]] == [d["id"] for d in docs]
    clinic = next(r for r in body["rules"] if r["id"] == CLINIC)
    assert clinic["hits_today"] == clinic["hits_7d"] == 1
    assert set(clinic) >= {"id", "name", "urgent", "match", "keywords", "priority", "enabled", "inputs", "answer"}


def test_api_refuses_strangers_and_editors(client: FlaskClient, console_users: Any, app: Flask) -> None:
    before = rules_now(app)
    assert client.get("/api/rules").status_code == 401
    assert client.post("/api/rules", json=new_rule()).status_code == 401
    token = login(client, EDITOR)
    for resp in (client.get("/api/rules"), client.get(f"/api/rules/{CLINIC}"),
                 client.post("/api/rules", json=new_rule(), headers={"X-CSRFToken": token}),
                 client.delete(f"/api/rules/{CLINIC}", headers={"X-CSRFToken": token}),
                 client.post("/api/rules/test", json={"text": "x"}, headers={"X-CSRFToken": token}),
                 client.get("/api/unanswered")):
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    assert rules_now(app) == before


def test_api_token_callers_need_no_csrf_but_cookie_callers_do(client: FlaskClient, console_users: Any,
                                                              app: Flask) -> None:
    login(client, ADMIN)
    assert client.post("/api/rules", json=new_rule()).status_code == 403  # the cookie without X-CSRFToken
    token = console_users.users.issue_token(ADMIN, actor="test")
    resp = client.post("/api/rules", json=new_rule(), headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201


def test_api_creates_reads_updates_and_deletes_a_rule_with_audit(admin: FlaskClient, app: Flask,
                                                                 wechat: WeChat) -> None:
    version = rules_now(app)[0]
    created = admin.post(f"/api/rules?version={version}", json=new_rule())
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["version"] == version + 1
    assert created.get_json()["rule"]["inputs"] == ["text", "voice"]  # defaults filled in like the import
    assert wechat.send("请问豆浆怎么喝").text == "每天一杯为宜。"
    got = admin.get("/api/rules/soy-milk").get_json()
    assert got["rule"]["name"] == "豆浆怎么喝" and got["version"] == version + 1
    put = admin.put(f"/api/rules/soy-milk?version={version + 1}",
                    json=new_rule(answer={"kind": "text", "texts": ["每天不超过 300 毫升。"]}))
    assert put.status_code == 200 and put.get_json()["rule"]["answer"]["texts"] == ["每天不超过 300 毫升。"]
    assert wechat.send("请问豆浆怎么喝").text == "每天不超过 300 毫升。"
    assert admin.delete(f"/api/rules/soy-milk?version={version + 2}").status_code == 204
    assert admin.get("/api/rules/soy-milk").status_code == 404
    entries = app.extensions["wxbot"].ctx.services.audit.recent(10, target="soy-milk")
    assert [e["action"] for e in entries] == ["rule.delete", "rule.update", "rule.create"]
    assert all(e["actor"] == ADMIN for e in entries)
    update = entries[1]
    assert update["before"]["rules"]["soy-milk"]["answer"]["texts"] == ["每天一杯为宜。"]
    assert update["after"]["rules"]["soy-milk"]["answer"]["texts"] == ["每天不超过 300 毫升。"]
    assert entries[0]["after"]["rules"] == {}


def test_api_stale_version_is_409_and_changes_nothing(admin: FlaskClient, app: Flask) -> None:
    version = rules_now(app)[0]
    assert admin.post(f"/api/rules?version={version}", json=new_rule()).status_code == 201
    before = rules_now(app)
    stale = admin.put(f"/api/rules/{CLINIC}?version={version}", json={**rule(app, CLINIC), "name": "旧的"})
    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["code"] == "stale" and "已被他人修改" in error["message"]
    assert admin.delete(f"/api/rules/{CLINIC}?version={version}").status_code == 409
    assert rules_now(app) == before


def test_api_unknown_rule_is_404(admin: FlaskClient, app: Flask) -> None:
    assert admin.get("/api/rules/no-such-rule").status_code == 404
    assert admin.put("/api/rules/no-such-rule?version=1", json=new_rule()).get_json()["error"]["code"] == "not_found"
    assert admin.delete("/api/rules/no-such-rule?version=1").status_code == 404


@pytest.mark.parametrize(("doc", "field"), [
    (new_rule(keywords=["!!"]), "keywords[0]"),  # the engine: nothing left after normalisation
    (new_rule(keywords=[]), "keywords"),  # the schema: at least one
    (new_rule(answer={"kind": "article", "article_id": "no-such-article"}), "answer.article_id"),
    (new_rule(id="clinic-hours"), "id"),  # a duplicate id
    (new_rule(match="regex", keywords=["(a+)+b"]), "keywords[0]"),  # catastrophic backtracking
    (new_rule(keywords=[7]), "keywords.0"),  # the schema: not a string
    (new_rule(priority="high"), "priority"),
    (new_rule(colour="red"), "colour"),
])
def test_api_invalid_rule_is_422_naming_the_field(admin: FlaskClient, app: Flask, doc: dict[str, Any],
                                                  field: str) -> None:
    before = rules_now(app)
    resp = admin.post("/api/rules", json=doc)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["field"] == field
    assert rules_now(app) == before


def test_api_refuses_to_delete_the_last_urgent_rule(admin: FlaskClient, app: Flask) -> None:
    urgent = [d["id"] for d in rules_now(app)[1] if d["urgent"]]
    for rule_id in urgent[:-1]:
        assert admin.delete(f"/api/rules/{rule_id}?version={rules_now(app)[0]}").status_code == 204
    last = admin.delete(f"/api/rules/{urgent[-1]}?version={rules_now(app)[0]}")
    assert last.status_code == 422 and "urgent" in last.get_json()["error"]["message"]
    assert rule(app, urgent[-1])["urgent"]


def test_api_trial_answers_like_the_webhook_with_saved_or_given_rules(admin: FlaskClient, app: Flask,
                                                                      wechat: WeChat) -> None:
    saved = admin.post("/api/rules/test", json={"text": "门诊时间"}).get_json()
    assert saved["kind"] == "text" and saved["rule"]["id"] == CLINIC
    assert saved["text"] == wechat.send("门诊时间").text
    card = admin.post("/api/rules/test", json={"text": "豆浆能喝吗"}).get_json()
    assert card["kind"] == "news" and card["articles"][0]["title"].startswith("大豆")
    click = admin.post("/api/rules/test", json={"text": "MENU_SURVEY", "as": "click"}).get_json()
    assert click["rule"]["id"] == "menu-survey"
    docs = rules_now(app)[1]
    edited = [{**d, "answer": {"kind": "text", "texts": ["改过的门诊时间"]}} if d["id"] == CLINIC else d for d in docs]
    draft = admin.post("/api/rules/test", json={"text": "门诊时间", "rules": edited}).get_json()
    assert draft["text"] == "改过的门诊时间"
    assert wechat.send("门诊时间").text == saved["text"]  # nothing saved
    bad = admin.post("/api/rules/test", json={"text": "x", "rules": [{**rule(app, CLINIC), "keywords": ["!!"]}]})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"].startswith("rules[0]")
    question = admin.post("/api/rules/test", json={"text": "提问：术后多久可以运动？"}).get_json()
    assert question["kind"] == "stored" and question["router"] == "questions"


def test_api_unanswered_groups_by_normalised_text(admin: FlaskClient, wechat: WeChat) -> None:
    for text, who in (("术后能喝咖啡吗", "o_a"), ("术后能喝咖啡吗？", "o_b"), ("術後能喝咖啡嗎", "o_c"), ("猫", "o_a")):
        wechat.send(text, openid=who)
    found = admin.get("/api/unanswered?days=3").get_json()
    assert found[0]["count"] == 3 and found[0]["people"] == 3 and found[0]["normalized"] == "术后能喝咖啡吗"
    assert [f["count"] for f in found] == [3, 1]
    assert admin.get("/api/unanswered?days=0").status_code == 422


def test_openapi_describes_the_rule_operations(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/rules"])
    assert {"get", "put", "delete"} <= set(doc["paths"]["/api/rules/{rule_id}"])
    assert "post" in doc["paths"]["/api/rules/test"] and "get" in doc["paths"]["/api/unanswered"]
    schema = doc["components"]["schemas"]["RuleModel"]
    assert schema["additionalProperties"] is False and "answer" in schema["required"]


def test_cli_import_is_audited_as_cli_with_only_the_changed_rules(runner: Any, app: Flask, tmp_path: Any) -> None:
    import yaml

    docs = [{**d, "priority": 3} if d["id"] == CLINIC else d for d in rules_now(app)[1]]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": docs}, allow_unicode=True), encoding="utf-8")
    assert runner.invoke(args=["rules", "import", str(path)]).exit_code == 0
    entry = app.extensions["wxbot"].ctx.services.audit.recent(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("cli", "rules.import", CLINIC)
    assert entry["before"]["rules"][CLINIC]["priority"] == 0 and entry["after"]["rules"][CLINIC]["priority"] == 3


# -- the pages -------------------------------------------------------------------------------------------

def test_editor_is_refused_the_rules_pages_in_chinese(client: FlaskClient, console_users: Any) -> None:
    login(client, EDITOR)
    for path in ("/console/rules", "/console/rules/new", f"/console/rules/{CLINIC}/edit", "/console/unanswered",
                 "/console/rules/try"):
        resp = client.get(path)
        assert resp.status_code == 403 and "没有权限" in resp.text
    assert "关键词规则" not in client.get("/console/").text  # not in their navigation


def test_rules_page_lists_hits_state_and_urgent_flag(admin: FlaskClient, wechat: WeChat) -> None:
    wechat.send("门诊时间")
    wechat.send("挂号")
    html = admin.get("/console/rules").text
    row = re.search(r'<tr id="rule-clinic-hours">(.*?)</tr>', html, re.S)
    assert row and re.findall(r"<td>(\d+)</td>", row.group(1)) == ["2", "2"] and "启用" in row.group(1)
    fever = re.search(r'<tr id="rule-urgent-fever">(.*?)</tr>', html, re.S)
    assert fever and "紧急" in fever.group(1)


def _form(app: Flask, rule_id: str, **over: str) -> dict[str, Any]:
    doc = rule(app, rule_id)
    data: dict[str, Any] = {"name": doc["name"], "keywords": "\n".join(doc["keywords"]), "match": doc["match"],
                            "priority": str(doc["priority"]), "inputs": doc["inputs"],
                            "answer_kind": doc["answer"]["kind"], "texts": "\n---\n".join(doc["answer"].get("texts", [])),
                            "article_id": doc["answer"].get("article_id", ""), "version": str(rules_now(app)[0])}
    if doc["enabled"]:
        data["enabled"] = "on"
    if doc["urgent"]:
        data["urgent"] = "on"
    data.update(over)
    return data


def test_edit_form_saves_through_the_engine_and_the_audit_log(admin: FlaskClient, app: Flask,
                                                              wechat: WeChat) -> None:
    page = admin.get(f"/console/rules/{CLINIC}/edit")
    assert page.status_code == 200 and "门诊时间" in page.text
    data = _form(app, CLINIC, texts="周一上午 8:00\n---\n周三下午 2:00", csrf_token=admin.csrf)
    resp = admin.post(f"/console/rules/{CLINIC}/edit", data=data)
    assert resp.status_code == 303
    assert rule(app, CLINIC)["answer"]["texts"] == ["周一上午 8:00", "周三下午 2:00"]
    assert wechat.send("门诊时间").text in ("周一上午 8:00", "周三下午 2:00")
    entry = app.extensions["wxbot"].ctx.services.audit.recent(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == (ADMIN, "rule.update", CLINIC)


def test_edit_form_shows_engine_errors_next_to_the_field_in_chinese(admin: FlaskClient, app: Flask) -> None:
    before = rules_now(app)
    resp = admin.post(f"/console/rules/{CLINIC}/edit", data=_form(app, CLINIC, keywords="  \n", csrf_token=admin.csrf))
    assert resp.status_code == 422
    assert re.search(r'data-field="keywords">请至少填写一个关键词', resp.text)
    resp = admin.post(f"/console/rules/{CLINIC}/edit", data=_form(app, CLINIC, texts="", priority="高",
                                                                  csrf_token=admin.csrf))
    assert re.search(r'data-field="answer.texts">回复类型为文字时，请至少填写一条回复', resp.text)
    assert re.search(r'data-field="priority">须为整数', resp.text)
    assert 'value="高"' in resp.text  # what was typed stays in the form
    assert rules_now(app) == before


def test_stale_edit_is_refused_with_a_clear_chinese_error(admin: FlaskClient, app: Flask) -> None:
    data = _form(app, CLINIC, name="新名字", csrf_token=admin.csrf)
    app.extensions["wxbot"].ctx.services.rules.save_rule({**rule(app, CLINIC), "priority": 5}, rule_id=CLINIC,
                                                          actor="someone-else")
    resp = admin.post(f"/console/rules/{CLINIC}/edit", data=data)
    assert resp.status_code == 409 and "已被他人修改" in resp.text
    assert rule(app, CLINIC)["name"] == "门诊时间" and rule(app, CLINIC)["priority"] == 5


def test_new_rule_form_creates_a_rule(admin: FlaskClient, app: Flask, wechat: WeChat) -> None:
    data = {"id": "coffee", "name": "咖啡", "keywords": "咖啡", "match": "contains", "priority": "0",
            "inputs": ["text", "voice"], "enabled": "on", "answer_kind": "text", "texts": "可以适量喝。",
            "version": str(rules_now(app)[0]), "csrf_token": admin.csrf}
    assert admin.post("/console/rules/new", data=data).status_code == 303
    assert wechat.send("术后能喝咖啡吗").text == "可以适量喝。"
    again = admin.post("/console/rules/new", data={**data, "version": str(rules_now(app)[0])})
    assert again.status_code == 422 and "编号“coffee”已被另一条规则使用" in again.text


def test_toggle_and_delete_from_the_list(admin: FlaskClient, app: Flask, wechat: WeChat) -> None:
    version = str(rules_now(app)[0])
    assert admin.post(f"/console/rules/{CLINIC}/toggle", data={"version": version, "csrf_token": admin.csrf}
                      ).status_code == 303
    assert rule(app, CLINIC)["enabled"] is False
    assert wechat.send("门诊时间").text != "肾移植随访门诊时间请以医院官方挂号平台公布为准（示例文本，请替换为实际安排）。"
    stale = admin.post(f"/console/rules/{CLINIC}/delete", data={"version": version, "csrf_token": admin.csrf},
                       follow_redirects=True)
    assert "已被他人修改" in stale.text and rule(app, CLINIC)
    fresh = str(rules_now(app)[0])
    admin.post(f"/console/rules/{CLINIC}/delete", data={"version": fresh, "csrf_token": admin.csrf})
    assert all(d["id"] != CLINIC for d in rules_now(app)[1])
    assert admin.post("/console/rules/nope/delete", data={"version": fresh, "csrf_token": admin.csrf}
                      ).status_code == 404


def test_a_form_without_csrf_changes_nothing(admin: FlaskClient, app: Flask) -> None:
    before = rules_now(app)
    resp = admin.post(f"/console/rules/{CLINIC}/toggle", data={"version": str(before[0])},
                      headers={"X-CSRFToken": ""})
    assert resp.status_code == 400 and rules_now(app) == before


def test_trial_in_the_form_compares_saved_and_unsaved_without_saving(admin: FlaskClient, app: Flask) -> None:
    before = rules_now(app)
    data = _form(app, CLINIC, texts="新的门诊安排", action="try", trial_text="门诊时间", trial_as="text",
                 csrf_token=admin.csrf)
    resp = admin.post(f"/console/rules/{CLINIC}/edit", data=data)
    assert resp.status_code == 200
    saved = re.search(r'data-trial="已保存的规则">(.*?)</figure>', resp.text, re.S)
    draft = re.search(r'data-trial="本次修改（未保存）">(.*?)</figure>', resp.text, re.S)
    assert saved and "示例文本" in saved.group(1) and "新的门诊安排" not in saved.group(1)
    assert draft and '<div class="bubble reply">新的门诊安排</div>' in draft.group(1)
    assert rules_now(app) == before


def test_conflict_warning_names_the_rule_that_fires_first(admin: FlaskClient, app: Flask) -> None:
    rules = app.extensions["wxbot"].ctx.services.rules
    rules.save_rule(new_rule(id="soy-drink", name="豆浆饮品", keywords=["豆浆"], priority=-1), actor="test")
    page = admin.get("/console/rules/soy-drink/edit").text
    assert re.search(r"发送“豆浆”时，规则“<a [^>]+>大豆及其制品", page)
    data = _form(app, "soy-drink", priority="5", action="try", trial_text="豆浆", csrf_token=admin.csrf)
    tried = admin.post("/console/rules/soy-drink/edit", data=data).text
    assert "会先回答" not in tried  # with the higher priority the edited rule wins
    draft = re.search(r'data-trial="本次修改（未保存）">(.*?)</figure>', tried, re.S)
    assert draft and "每天一杯为宜" in draft.group(1)


def test_trial_page_shows_an_article_card(admin: FlaskClient) -> None:
    html = admin.get("/console/rules/try", query_string={"text": "豆浆", "as": "text"}).text
    assert '<div class="card reply">' in html and "大豆及其制品" in html and '<div class="bubble mine">豆浆</div>' in html


def test_unanswered_page_starts_a_rule_from_a_message(admin: FlaskClient, wechat: WeChat) -> None:
    wechat.send("术后可以养猫吗 13812345678", openid="o_a")
    wechat.send("术后可以养猫吗13812345678", openid="o_b")
    html = admin.get("/console/unanswered?days=7").text
    assert "13812345678" not in html  # scrubbed when stored
    link = re.search(r'href="([^"]+)" class="new-rule"', html)
    assert link
    form = admin.get(link.group(1).replace("&amp;", "&")).text
    assert re.search(r'<textarea name="keywords"[^>]*>术后可以养猫吗', form)


# -- a browser over real HTTP ------------------------------------------------------------------------------

@pytest.mark.browser
def test_admin_edits_tries_then_a_signed_push_gets_the_new_reply(live_server: str, console_users: Any, page: Any,
                                                                 config: Config, store: Store) -> None:
    browser_login(page, live_server, ADMIN)
    page.click("text=关键词规则")
    page.click(f"#rule-{CLINIC} >> text=门诊时间")
    page.fill("textarea[name=texts]", "每周二上午专家门诊")
    page.fill("input[name=trial_text]", "门诊时间")
    page.click("#try-button")
    draft = page.locator('[data-trial="本次修改（未保存）"] .reply')
    assert draft.inner_text() == "每周二上午专家门诊"
    assert "示例文本" in page.locator('[data-trial="已保存的规则"] .reply').inner_text()
    page.click("#save-button")
    page.wait_for_selector("text=已保存")
    assert page.console_errors == []  # nothing refused by the Content-Security-Policy

    account = Account(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                      config.account.original_id)

    def reply() -> str:
        query, body = signed_request(account, message_xml(account, "o_follower_9", text="门诊时间"))
        resp = requests.post(f"{live_server}/wechat", params=query, data=body, timeout=10)
        return read_reply(account, resp.text).text

    assert wait_for(lambda: reply() == "每周二上午专家门诊", timeout=5)  # every worker within a second


@pytest.mark.browser
def test_an_editor_is_refused_the_rules_page_in_the_browser(live_server: str, console_users: Any, page: Any) -> None:
    browser_login(page, live_server, EDITOR)
    resp = page.goto(f"{live_server}/console/rules")
    assert resp.status == 403 and "没有权限" in page.inner_text("main")
