"""The console's users (用户) page and /api/users: add, disable, role, password, tokens; admins only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.console import ADMIN, EDITOR, PASSWORD
from tests.test_console_rules import login

NEW_PASSWORD = "renal-ward-7-night"


@pytest.fixture
def admin(client: FlaskClient, console_users: Any) -> Any:
    client.csrf = login(client, ADMIN)  # type: ignore[attr-defined]
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.csrf  # type: ignore[attr-defined]
    return client


def form(client: FlaskClient, path: str, **fields: str) -> Any:
    return client.post(path, data={"csrf_token": client.csrf, **fields})  # type: ignore[attr-defined]


def test_list_shows_users_without_secrets(admin: FlaskClient) -> None:
    html = admin.get("/console/users").text
    assert 'id="user-admin1"' in html and 'id="user-editor1"' in html and "argon2" not in html
    body = admin.get("/api/users").get_json()
    assert {u["name"] for u in body} == {ADMIN, EDITOR}
    assert all(set(u) == {"name", "role", "enabled", "created", "last_login", "has_token"} for u in body)


def test_add_user_with_password_errors_next_to_the_field(admin: FlaskClient, app: Flask) -> None:
    resp = form(admin, "/console/users", name="nurse.li", role="editor", password="short")
    assert resp.status_code == 422
    assert '<p class="field-error" role="alert" data-field="password">密码至少 8 个字符</p>' in resp.text
    assert form(admin, "/console/users", name="nurse.li", role="editor", password=NEW_PASSWORD).status_code == 303
    assert app.extensions["wxbot"].ctx.services.users.require("nurse.li").role == "editor"
    dup = admin.post("/api/users", json={"name": "nurse.li", "role": "editor", "password": NEW_PASSWORD})
    assert dup.status_code == 409
    weak = admin.post("/api/users", json={"name": "nurse.wu", "role": "editor", "password": "password"})
    assert weak.status_code == 422 and weak.get_json()["error"]["field"] == "password"


def test_disable_ends_the_users_sessions_and_enable_restores(admin: FlaskClient, app: Flask) -> None:
    other = app.test_client()
    login(other, EDITOR)
    assert other.get("/console/questions").status_code == 200
    assert form(admin, f"/console/users/{EDITOR}/enabled").status_code == 303
    assert other.get("/console/questions").status_code == 302  # sent to log in
    assert admin.patch(f"/api/users/{EDITOR}", json={"enabled": True}).get_json()["enabled"] is True


def test_self_disable_and_self_demotion_are_refused(admin: FlaskClient, app: Flask) -> None:
    form(admin, f"/console/users/{ADMIN}/enabled")
    assert "不能停用自己" in admin.get("/console/users").text
    assert admin.patch(f"/api/users/{ADMIN}", json={"enabled": False}).status_code == 409
    assert admin.patch(f"/api/users/{ADMIN}", json={"role": "editor"}).status_code == 409
    assert app.extensions["wxbot"].ctx.services.users.require(ADMIN).is_admin


def test_role_change_and_password_reset(admin: FlaskClient, app: Flask) -> None:
    assert form(admin, f"/console/users/{EDITOR}/role", role="admin").status_code == 303
    assert admin.get(f"/api/users/{EDITOR}").get_json()["role"] == "admin"
    bad = form(admin, f"/console/users/{EDITOR}/password", password="123")
    assert bad.status_code == 422 and 'data-field="password">密码至少 8 个字符' in bad.text
    assert form(admin, f"/console/users/{EDITOR}/password", password=NEW_PASSWORD).status_code == 303
    users = app.extensions["wxbot"].ctx.services.users
    assert users.authenticate(EDITOR, NEW_PASSWORD, "127.0.0.1").name == EDITOR
    resp = admin.post(f"/api/users/{EDITOR}/password", json={"password": PASSWORD + "x"})
    assert resp.status_code == 200 and "sessions_ended" in resp.get_json()


def test_a_token_is_shown_once_and_works_as_bearer_until_revoked(admin: FlaskClient, app: Flask) -> None:
    import re

    resp = form(admin, f"/console/users/{EDITOR}/token")
    token = re.search(r'<code class="token">(wxb_[^<]+)</code>', resp.text).group(1)  # type: ignore[union-attr]
    assert token not in admin.get("/console/users").text  # shown only that once
    bearer = app.test_client()
    assert bearer.get("/api/questions", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert form(admin, f"/console/users/{EDITOR}/token/revoke").status_code == 303
    assert bearer.get("/api/questions", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    issued = admin.post(f"/api/users/{EDITOR}/token")
    assert issued.status_code == 201 and issued.get_json()["token"].startswith("wxb_")
    assert admin.delete(f"/api/users/{EDITOR}/token").status_code == 204


def test_editors_get_403_on_the_users_page_and_api(client: FlaskClient, console_users: Any) -> None:
    token = login(client, EDITOR)
    assert client.get("/console/users").status_code == 403
    for resp in (client.get("/api/users"), client.get(f"/api/users/{ADMIN}"),
                 client.patch(f"/api/users/{ADMIN}", json={"enabled": False}, headers={"X-CSRFToken": token}),
                 client.post(f"/api/users/{ADMIN}/token", headers={"X-CSRFToken": token})):
        assert resp.status_code == 403


@pytest.mark.browser
def test_admin_adds_a_user_in_the_browser(live_server: str, console_users: Any, page: Any) -> None:
    from tests.console import browser_login

    browser_login(page, live_server, ADMIN)
    page.click("text=用户")
    page.fill("input[name=name]", "nurse.zhao")
    page.fill("form.narrow input[name=password]", NEW_PASSWORD)
    page.click("form.narrow button[type=submit]")
    page.wait_for_selector("text=已添加用户 nurse.zhao")
    assert page.locator("#user-nurse\\.zhao").count() == 1 and page.console_errors == []
