"""The console's audit log (操作记录) and /api/audit: actors, filters, paging, never a password or openid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.accounts.audit import REDACTED
from tests.console import ADMIN, EDITOR
from tests.test_console_rules import login

SECRET = "renal-ward-7-night"
OPENID = "o" + "A" * 27


@pytest.fixture
def admin(client: FlaskClient, console_users: Any) -> Any:
    client.csrf = login(client, ADMIN)  # type: ignore[attr-defined]
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.csrf  # type: ignore[attr-defined]
    return client


def test_changes_appear_with_their_actor_and_never_a_password(admin: FlaskClient, app: Flask) -> None:
    assert admin.post("/api/users", json={"name": "nurse.li", "role": "editor", "password": SECRET}).status_code == 201
    admin.post("/api/users/nurse.li/password", json={"password": SECRET + "2"})
    token = admin.post("/api/users/nurse.li/token").get_json()["token"]
    body = admin.get("/api/audit?actor=admin1").get_json()
    actions = [e["action"] for e in body["entries"]]
    assert actions[:3] == ["user.token", "user.password_reset", "user.add"]
    assert all(e["actor"] == ADMIN for e in body["entries"])
    raw = json.dumps(admin.get("/api/audit").get_json()) + admin.get("/console/audit").text
    assert SECRET not in raw and token not in raw and "argon2" not in raw
    html = admin.get("/console/audit?action=user.").text
    assert "user.password_reset" in html and "nurse.li" in html


def test_the_log_scrubs_passwords_and_openids(app: Flask) -> None:
    audit = app.extensions["wxbot"].ctx.services.audit
    entry = audit.record("x", "test.scrub", OPENID, before={"password": SECRET, "who": OPENID},
                         after={"nested": {"new_password": SECRET}})
    assert entry["target"] == REDACTED and entry["before"] == {"password": REDACTED, "who": REDACTED}
    assert entry["after"] == {"nested": {"new_password": REDACTED}}
    assert SECRET not in json.dumps(audit.recent(5)) and OPENID not in json.dumps(audit.recent(5))


def test_filters_paging_and_the_accounts_timezone(admin: FlaskClient, app: Flask) -> None:
    audit = app.extensions["wxbot"].ctx.services.audit
    for i in range(5):
        audit.record("cli", "rule.update", f"rule-{i}", before={"n": i}, after={"n": i + 1})
    first = admin.get("/api/audit?actor=cli&action=rule.&limit=2").get_json()
    assert [e["target"] for e in first["entries"]] == ["rule-4", "rule-3"] and first["next_offset"] == 2
    rest = admin.get("/api/audit?actor=cli&action=rule.&limit=10&offset=2").get_json()
    assert [e["target"] for e in rest["entries"]] == ["rule-2", "rule-1", "rule-0"] and rest["next_offset"] is None
    assert first["entries"][0]["at"].endswith("+08:00")  # Asia/Shanghai, the sample's zone
    html = admin.get("/console/audit?actor=cli").text
    assert "~ n: 4 → 5" in html and "Asia/Shanghai" in html


def test_editors_get_403_on_the_audit_page_and_api(client: FlaskClient, console_users: Any) -> None:
    login(client, EDITOR)
    assert client.get("/console/audit").status_code == 403
    assert client.get("/api/audit").status_code == 403


@pytest.mark.browser
def test_admin_filters_the_log_in_the_browser(live_server: str, console_users: Any, page: Any) -> None:
    from tests.console import browser_login

    browser_login(page, live_server, ADMIN)
    page.click("text=操作记录")
    page.fill("input[name=actor]", "test")
    page.click("form.audit-filter button")
    page.wait_for_selector("text=user.add")
    assert "editor1" in page.locator(".audit-table").inner_text() and page.console_errors == []
