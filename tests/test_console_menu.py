"""The console's custom menu (自定义菜单): the grid, its checks in Chinese, the phone's view, save, push, history.

Flask's test client against real Redis and the fake WeChat API; one browser test over real HTTP (gunicorn).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot import create_app
from bot.config import Config
from bot.store import Store
from tests.console import ADMIN, EDITOR, browser_login
from tests.test_console_rules import login


@pytest.fixture
def admin(client: FlaskClient, console_users: Any) -> Any:
    """The client logged in as the admin; `.csrf` is its token (also sent as X-CSRFToken)."""
    client.csrf = login(client, ADMIN)  # type: ignore[attr-defined]
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.csrf  # type: ignore[attr-defined]
    return client


SAMPLE_FORM = {  # config.yaml's menu, as the grid shows it
    "b0_name": "健康科普", "b0_0_name": "干细胞免疫耐受", "b0_0_type": "view",
    "b0_0_url": "https://mp.weixin.qq.com/s/PLACEHOLDER-msc-immune-tolerance",
    "b1_name": "问卷调查", "b1_type": "click", "b1_key": "MENU_SURVEY",
    "b2_name": "我要提问", "b2_0_name": "怎么提问", "b2_0_type": "click", "b2_0_key": "MENU_ASK",
}


def post_menu(client: FlaskClient, action: str = "save", **fields: str) -> Any:
    """The grid posted as the page sends it, with the menu version the page was loaded at (unless given)."""
    version = str(menu_version(client))
    data = {"csrf_token": client.csrf, "action": action, "version": version, **fields}  # type: ignore[attr-defined]
    return client.post("/console/menu", data=data)


def menu_version(client: FlaskClient) -> int:
    return int(client.get("/api/menu").get_json()["version"])


def put_menu(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.put(f"/api/menu?version={menu_version(client)}", json=body)


def field_errors(html: str, field: str) -> list[str]:
    import re

    return re.findall(rf'<p class="field-error" role="alert" data-field="{field}">([^<]*)</p>', html)


def audit(app: Flask, action: str) -> list[dict[str, Any]]:
    return app.extensions["wxbot"].ctx.services.audit.recent(10, action=action)


def test_the_page_draws_the_menu_as_the_phone_shows_it(admin: FlaskClient) -> None:
    html = admin.get("/console/menu").text
    assert 'value="健康科普"' in html and 'value="MENU_SURVEY"' in html  # config.yaml's menu in the grid
    assert '<ul class="menu-subs"><li>干细胞免疫耐受</li><li>豆制品能吃吗</li></ul>' in html
    assert '<option value="MENU_ASK">' in html  # click keys offered from the rules with input click
    assert 'https://mp.weixin.qq.com/s/PLACEHOLDER-msc-immune-tolerance' in html and "问卷：" in html  # link choices
    assert 'style=' not in html and "onclick" not in html


def test_a_long_name_is_cut_on_the_phone_with_a_warning_next_to_the_field(admin: FlaskClient, app: Flask) -> None:
    resp = post_menu(admin, **{**SAMPLE_FORM, "b2_0_name": "怎么向医生提问题呢"})
    assert resp.status_code == 303
    html = admin.get("/console/menu").text
    assert "<li>怎么向医生提问…</li>" in html  # 7 Chinese characters, then "…"
    assert '<p class="field-warn" data-field="b2_0_name">“怎么向医生提问题呢”在手机上显示为“怎么向医生提问…”</p>' in html


def test_byte_limits_are_errors_next_to_the_field_and_nothing_is_saved(admin: FlaskClient, app: Flask) -> None:
    resp = post_menu(admin, **{**SAMPLE_FORM, "b1_name": "问卷调查问卷调", "b2_0_name": "字" * 21})
    assert resp.status_code == 422
    assert field_errors(resp.text, "b1_name") == ["共 21 字节（UTF-8，一个汉字 3 字节），微信最多允许 16 字节"]
    assert field_errors(resp.text, "b2_0_name") == ["共 63 字节（UTF-8，一个汉字 3 字节），微信最多允许 60 字节"]
    assert 'value="问卷调查问卷调"' in resp.text  # the edit stays in the form
    assert app.extensions["wxbot"].menu.store.menu_edit() is None


def test_empty_rows_are_ignored_and_errors_name_the_right_slot(admin: FlaskClient) -> None:
    # Top slot 1 is empty: the button in slot 2 is menu.button[1], yet its error shows at slot 2.
    resp = post_menu(admin, b0_name="帮助", b0_key="MENU_HELP", b2_name="链接", b2_type="view", b2_url="ftp://x")
    assert resp.status_code == 422
    assert field_errors(resp.text, "b2_url") == ["须为 http:// 或 https:// 开头的链接"]


def test_an_empty_grid_says_a_button_is_needed(admin: FlaskClient) -> None:
    resp = post_menu(admin)
    assert resp.status_code == 422 and "一级菜单有 0 个，须为 1–3 个" in resp.text


def test_an_unknown_click_key_is_saved_but_cannot_be_pushed(admin: FlaskClient, app: Flask,
                                                            fake_wechat: Any) -> None:
    resp = post_menu(admin, "push", **{**SAMPLE_FORM, "b1_key": "MENU_NOBODY"})
    assert resp.status_code == 422
    [error] = field_errors(resp.text, "b1_key")
    assert "没有启用的规则回复菜单点击“MENU_NOBODY”" in error
    assert fake_wechat.state.calls("/cgi-bin/menu/create") == []
    assert "MENU_NOBODY" in (app.extensions["wxbot"].menu.store.menu_edit() or "")  # the draft is kept


def test_save_then_push_reaches_wechat_with_audit_and_history(admin: FlaskClient, app: Flask,
                                                             fake_wechat: Any) -> None:
    assert post_menu(admin, **{**SAMPLE_FORM, "b0_name": "科普"}).status_code == 303
    assert audit(app, "menu.edit")[0]["actor"] == ADMIN
    assert fake_wechat.state.menu() is None  # saving sends nothing
    resp = post_menu(admin, "push", **{**SAMPLE_FORM, "b0_name": "科普"})
    assert resp.status_code == 303
    html = admin.get("/console/menu").text
    assert "菜单已推送到微信（首次推送）" in html and "与上次推送相同" in html
    menu = app.extensions["wxbot"].menu.fetch()  # menu/get on the fake WeChat
    assert menu is not None and [b.name for b in menu.buttons] == ["科普", "问卷调查", "我要提问"]
    [push] = audit(app, "menu.push")
    assert push["actor"] == ADMIN and push["after"]["menu"]["button"][0]["name"] == "科普"
    post_menu(admin, **{**SAMPLE_FORM, "b0_name": "健康"})
    html = admin.get("/console/menu").text
    assert "~ 科普" not in html and "+ 健康 (1 sub-buttons)" in html and "- 科普 (1 sub-buttons)" in html
    pushed = admin.get("/api/menu/pushed").get_json()
    assert pushed["last"]["menu"]["button"][0]["name"] == "科普" and len(pushed["history"]) == 1
    assert "+ 健康 (1 sub-buttons)" in pushed["changes"]


def test_a_wechat_refusal_is_shown_with_its_meaning_in_chinese(admin: FlaskClient, app: Flask,
                                                              fake_wechat: Any) -> None:
    fake_wechat.state.inject("/cgi-bin/menu/create", errcode=40055)
    assert post_menu(admin, "push", **SAMPLE_FORM).status_code == 303
    html = admin.get("/console/menu").text
    assert "微信拒绝了菜单：菜单链接的域名不被允许（错误码 40055）" in html
    assert app.extensions["wxbot"].menu.last_pushed() is None
    fake_wechat.state.inject("/cgi-bin/menu/create", errcode=45009)
    resp = admin.post("/api/menu/push")
    assert resp.status_code == 502
    error = resp.get_json()["error"]
    assert error["errcode"] == 45009 and "daily API quota reached" in error["message"]
    assert "今日接口调用次数已达上限" in error["message"]


def test_api_edit_check_and_push(admin: FlaskClient, app: Flask, fake_wechat: Any) -> None:
    state = admin.get("/api/menu").get_json()
    assert state["source"] == "config" and state["errors"] == [] and state["menu"]["button"][0]["name"] == "健康科普"
    too_long = {"button": [{"name": "健康科普知识", "type": "click", "key": "MENU_HELP"}]}
    resp = put_menu(admin, too_long)
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "menu.button[0].name"
    assert "18 bytes, at most 16" in resp.get_json()["error"]["message"]
    four = {"button": [{"name": f"按钮{i}", "type": "click", "key": "MENU_HELP"} for i in range(4)]}
    resp = put_menu(admin, four)
    assert resp.status_code == 422 and "4 buttons, must be 1 to 3" in resp.get_json()["error"]["message"]
    six = {"button": [{"name": "科普", "sub_button": [{"name": f"第{i}", "type": "view",
                                                        "url": f"https://mp.weixin.qq.com/s/{i}"} for i in range(6)]}]}
    assert "6 sub-buttons, at most 5" in put_menu(admin, six).get_json()["error"]["message"]
    unknown = {"button": [{"name": "帮助", "type": "click", "key": "MENU_NOBODY"}]}
    state = put_menu(admin, unknown).get_json()
    assert state["source"] == "edited" and state["errors"][0]["field"] == "menu.button[0].key"
    assert "菜单点击“MENU_NOBODY”" in state["errors"][0]["text"]
    refused = admin.post("/api/menu/push")
    assert refused.status_code == 422 and fake_wechat.state.calls("/cgi-bin/menu/create") == []
    good = {"button": [{"name": "帮助", "type": "click", "key": "MENU_HELP"}]}
    assert put_menu(admin, good).status_code == 200
    pushed = admin.post("/api/menu/push")
    assert pushed.status_code == 200 and pushed.get_json()["first"] is True
    assert fake_wechat.state.menu()["button"][0]["key"] == "MENU_HELP"


@pytest.fixture
def no_secret_app(config: Config, store: Store) -> Any:
    application = create_app({"TESTING": True}, config=replace(config, wechat=replace(config.wechat, app_secret="")),
                             store=store)
    yield application
    application.extensions["wxbot"].close()


def test_without_an_app_secret_the_page_and_the_api_say_so(no_secret_app: Flask, console_users: Any) -> None:
    client = no_secret_app.test_client()
    client.csrf = login(client, ADMIN)  # type: ignore[attr-defined]
    html = client.get("/console/menu").text
    assert "未配置 AppSecret（WECHAT_APP_SECRET）：可以编辑和保存菜单，但无法推送到微信。" in html
    post_menu(client, "push", **SAMPLE_FORM)
    assert "菜单已保存，但未推送：未配置 AppSecret" in client.get("/console/menu").text
    resp = client.post("/api/menu/push", headers={"X-CSRFToken": client.csrf})  # type: ignore[attr-defined]
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "no_app_secret"


def test_drop_edit_brings_config_yaml_back(admin: FlaskClient, app: Flask) -> None:
    post_menu(admin, b0_name="帮助", b0_key="MENU_HELP")
    assert admin.get("/api/menu").get_json()["source"] == "edited"
    assert post_menu(admin, "drop").status_code == 303
    assert admin.get("/api/menu").get_json()["source"] == "config"
    assert audit(app, "menu.drop_edit")[0]["actor"] == ADMIN


def test_editors_get_403_on_the_menu_page_and_api(client: FlaskClient, console_users: Any) -> None:
    token = login(client, EDITOR)
    assert client.get("/console/menu").status_code == 403
    assert client.post("/console/menu", data={"csrf_token": token, **SAMPLE_FORM}).status_code == 403
    for resp in (client.get("/api/menu"), client.get("/api/menu/pushed"),
                 client.put("/api/menu", json={"button": []}, headers={"X-CSRFToken": token}),
                 client.post("/api/menu/push", headers={"X-CSRFToken": token})):
        assert resp.status_code == 403


@pytest.mark.browser
def test_admin_renames_a_button_and_pushes_it_in_the_browser(live_server: str, console_users: Any, page: Any,
                                                            fake_wechat: Any) -> None:
    browser_login(page, live_server, ADMIN)
    page.click("text=自定义菜单")
    page.fill("input[name=b1_name]", "填问卷")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[value=push]")
    page.wait_for_selector("text=菜单已推送到微信")
    assert page.locator(".menu-top").nth(1).inner_text() == "填问卷"
    assert fake_wechat.state.menu()["button"][1]["name"] == "填问卷"
    assert page.console_errors == []


def test_a_menu_article_link_follows_the_catalog_at_push_time(admin: FlaskClient, app: Flask,
                                                              fake_wechat: Any) -> None:
    """config.yaml's `article: msc-immune-tolerance` button: its article's URL changed in the console is pushed."""
    article_id = "msc-immune-tolerance"
    assert ("menu.button[0].sub_button[0]", article_id) in app.extensions["wxbot"].config.menu_articles
    got = admin.get(f"/api/articles/{article_id}").get_json()
    new_url = "https://mp.weixin.qq.com/s/msc-immune-tolerance-published"
    article = {k: v for k, v in got["article"].items() if k != "rules"}
    assert admin.put(f"/api/articles/{article_id}?version={got['version']}",
                     json={**article, "url": new_url}).status_code == 200
    assert admin.get("/api/menu").get_json()["menu"]["button"][0]["sub_button"][0]["url"] == new_url
    assert new_url in admin.get("/console/menu").text  # the grid shows it too
    pushed = admin.post("/api/menu/push")
    assert pushed.status_code == 200, pushed.get_json()
    assert fake_wechat.state.menu()["button"][0]["sub_button"][0]["url"] == new_url
