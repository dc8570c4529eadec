"""Every update through /api/ carries the version it read: without it 422, stale 409 (with the current one).

Two admins edit the same thing; the second save, based on what they read before the first, must not overwrite
it unseen. Flask's test client against real Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.console import ADMIN
from tests.test_console_rules import login

MENU = {"button": [{"name": "帮助", "type": "click", "key": "MENU_HELP"}]}
SURVEY = {"title": "随访问卷", "url": "https://example.org/follow-up", "invitation": "请花两分钟填写。",
          "keywords": ["随访问卷"]}


def _rule(client: FlaskClient, name: str) -> dict[str, Any]:
    rule = dict(client.get("/api/rules/clinic-hours").get_json()["rule"])
    return {**rule, "name": name}


def _article(client: FlaskClient, title: str) -> dict[str, Any]:
    article = dict(client.get("/api/articles/soy-foods").get_json()["article"])
    article.pop("rules")
    return {**article, "title": title}


# (what is read, where the update goes, the update given a distinguishing word, how to see which save won)
UPDATES: dict[str, tuple[str, str, Callable[[FlaskClient, str], dict[str, Any]], Callable[[Any], str]]] = {
    "rule": ("/api/rules/clinic-hours", "/api/rules/clinic-hours", _rule, lambda doc: doc["rule"]["name"]),
    "article": ("/api/articles/soy-foods", "/api/articles/soy-foods", _article,
                lambda doc: doc["article"]["title"]),
    "survey": ("/api/survey", "/api/survey", lambda c, word: {**SURVEY, "title": word},
               lambda doc: doc["survey"]["title"]),
    "menu": ("/api/menu", "/api/menu", lambda c, word: {"button": [{**MENU["button"][0], "name": word}]},
             lambda doc: doc["menu"]["button"][0]["name"]),
}


@pytest.fixture
def two_admins(app: Flask, console_users: Any) -> tuple[FlaskClient, FlaskClient]:
    clients = []
    for _ in range(2):
        client = app.test_client()
        client.environ_base["HTTP_X_CSRFTOKEN"] = login(client, ADMIN)
        clients.append(client)
    return clients[0], clients[1]


@pytest.mark.parametrize("what", sorted(UPDATES))
def test_an_update_without_the_version_it_read_is_422_and_changes_nothing(
        two_admins: tuple[FlaskClient, FlaskClient], what: str) -> None:
    alice, _ = two_admins
    read, path, update, _ = UPDATES[what]
    before = alice.get(read).get_json()
    resp = alice.put(path, json=update(alice, "无版本"))
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["field"] == "version" and "?version=" in error["message"] and "版本号" in error["message"]
    assert alice.get(read).get_json() == before


@pytest.mark.parametrize("what", sorted(UPDATES))
def test_a_stale_update_is_409_with_the_current_version_and_the_newer_edit_stays(
        two_admins: tuple[FlaskClient, FlaskClient], what: str) -> None:
    alice, bob = two_admins
    read, path, update, shown = UPDATES[what]
    seen = alice.get(read).get_json()["version"]  # Alice opens it
    first = bob.put(f"{path}?version={bob.get(read).get_json()['version']}", json=update(bob, "鲍勃"))
    assert first.status_code == 200, first.get_json()  # Bob saves meanwhile
    current = first.get_json()["version"]
    late = alice.put(f"{path}?version={seen}", json=update(alice, "爱丽丝"))
    assert late.status_code == 409, late.get_json()
    error = late.get_json()["error"]
    assert error["code"] == "stale" and error["version"] == current and "他人修改" in error["message"]
    assert shown(alice.get(read).get_json()) == "鲍勃"
    again = alice.put(f"{path}?version={error['version']}", json=update(alice, "爱丽丝"))  # reloaded: fine
    assert again.status_code == 200 and shown(again.get_json()) == "爱丽丝"


@pytest.mark.parametrize("path", ["/api/rules/clinic-hours", "/api/articles/soy-foods"])
def test_a_delete_needs_the_version_too(two_admins: tuple[FlaskClient, FlaskClient], path: str) -> None:
    alice, _ = two_admins
    assert alice.delete(path).status_code == 422
    assert alice.get(path).status_code == 200


def test_creates_need_no_version(two_admins: tuple[FlaskClient, FlaskClient]) -> None:
    alice, _ = two_admins
    rule = {"id": "soy-milk", "name": "豆浆", "keywords": ["豆浆怎么喝"], "answer": {"kind": "text", "texts": ["好"]}}
    assert alice.post("/api/rules", json=rule).status_code == 201
    assert alice.post("/api/rules", json=rule).status_code == 422  # and cannot replace what exists
    article = {"id": "kidney-diet", "title": "饮食", "summary": "要点。", "url": "https://mp.weixin.qq.com/s/d"}
    assert alice.post("/api/articles", json=article).status_code == 201
    assert alice.post("/api/articles", json=article).status_code == 422


def test_the_menu_form_without_or_with_a_stale_version_saves_nothing(
        two_admins: tuple[FlaskClient, FlaskClient]) -> None:
    alice, bob = two_admins
    token = alice.environ_base["HTTP_X_CSRFTOKEN"]
    grid = {"csrf_token": token, "action": "save", "b0_name": "帮助", "b0_type": "click", "b0_key": "MENU_HELP"}
    seen = alice.get("/api/menu").get_json()["version"]
    assert bob.put(f"/api/menu?version={seen}", json=MENU).status_code == 200
    for version in ({}, {"version": str(seen)}):
        resp = alice.post("/console/menu", data={**grid, **version, "b0_name": "爱丽丝"})
        assert resp.status_code == 409 and "菜单已被他人修改" in resp.text
        assert 'value="爱丽丝"' in resp.text  # the edit stays in the form
    assert alice.get("/api/menu").get_json()["menu"] == MENU
    current = alice.get("/api/menu").get_json()["version"]
    assert alice.post("/console/menu", data={**grid, "version": str(current)}).status_code == 303


def test_openapi_says_updates_require_the_version(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path, method in [("/api/rules/{rule_id}", "put"), ("/api/rules/{rule_id}", "delete"),
                         ("/api/articles/{article_id}", "put"), ("/api/articles/{article_id}", "delete"),
                         ("/api/survey", "put"), ("/api/menu", "put")]:
        [version] = [p for p in paths[path][method]["parameters"] if p["name"] == "version"]
        assert version["required"] is True, (path, method)
    [optional] = [p for p in paths["/api/rules"]["post"]["parameters"] if p["name"] == "version"]
    assert optional["required"] is False
    assert "version" in client.get("/api/openapi.json").get_json()["components"]["schemas"]["ErrorBody"]["properties"]
