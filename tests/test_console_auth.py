"""The console's log-in, sessions, CSRF and roles, through the Flask client, real HTTP and a real browser."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from bot import create_app
from bot.config import Config
from bot.store import Store
from tests.console import ADMIN, EDITOR, PASSWORD, browser_login, csrf_token, http_login


def _login(client: FlaskClient, name: str, password: str = PASSWORD, next_url: str = "") -> Any:
    token = csrf_token(client.get("/console/login").text)
    path = "/console/login" + (f"?next={next_url}" if next_url else "")
    return client.post(path, data={"name": name, "password": password, "csrf_token": token})


def test_pages_send_strangers_to_the_login_page(client: FlaskClient) -> None:
    resp = client.get("/console/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/console/login?next=/console/")


def test_login_page_is_chinese_with_a_strict_policy(client: FlaskClient) -> None:
    resp = client.get("/console/login")
    assert resp.status_code == 200 and "登录" in resp.text
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Cache-Control"] == "no-store"


def test_wrong_password_is_refused_in_chinese_without_saying_which(client: FlaskClient, console_users: Any) -> None:
    wrong = _login(client, ADMIN, "not-the-password")
    unknown = _login(client, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.text and "用户名或密码错误" in unknown.text
    assert "wxbot-session" not in wrong.headers.get("Set-Cookie", "")


def test_login_sets_a_fresh_httponly_lax_session_cookie(client: FlaskClient, console_users: Any) -> None:
    first = _login(client, ADMIN)
    assert first.status_code == 303 and first.headers["Location"] == "/console/"
    cookie = next(c for c in first.headers.getlist("Set-Cookie") if c.startswith("wxbot-session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    second = _login(client, ADMIN)
    again = next(c for c in second.headers.getlist("Set-Cookie") if c.startswith("wxbot-session="))
    assert cookie.split(";")[0] != again.split(";")[0]  # a new id at every log-in
    assert client.get("/console/").status_code == 200


def test_login_goes_back_only_to_a_page_of_this_site(client: FlaskClient, console_users: Any) -> None:
    assert _login(client, ADMIN, next_url="https://evil.example/").headers["Location"] == "/console/"
    assert _login(client, ADMIN, next_url="//evil.example/x").headers["Location"] == "/console/"
    assert _login(client, ADMIN, next_url="/console/password").headers["Location"] == "/console/password"


def test_https_base_url_makes_the_cookie_host_only_and_secure(config: Config, store: Store, console_users: Any) -> None:
    cfg = replace(config, account=replace(config.account, public_base_url="https://bot.example.org"))
    app = create_app({"TESTING": True}, config=cfg, store=store)
    try:
        client = app.test_client()
        resp = _login(client, ADMIN)
        cookie = next(c for c in resp.headers.getlist("Set-Cookie") if "-session=" in c)
        assert cookie.startswith("__Host-wxbot-session=") and "Secure" in cookie and "Domain" not in cookie
    finally:
        app.extensions["wxbot"].close()


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(client: FlaskClient, console_users: Any) -> None:
    resp = client.post("/console/login", data={"name": ADMIN, "password": PASSWORD})
    assert resp.status_code == 400 and "CSRF" in resp.text
    assert client.get("/console/").status_code == 302  # not logged in


def test_logout_ends_the_session_on_the_server(client: FlaskClient, console_users: Any) -> None:
    _login(client, ADMIN)
    cookie = client.get_cookie("wxbot-session")
    assert cookie is not None
    home = client.get("/console/")
    resp = client.post("/console/logout", data={"csrf_token": csrf_token(home.text)})
    assert resp.status_code == 303
    replay = client.application.test_client()
    replay.set_cookie("wxbot-session", cookie.value)  # the old cookie, kept by an attacker
    assert replay.get("/console/").status_code == 302
    assert replay.get("/api/me").status_code == 401


def test_disabling_a_user_ends_their_sessions(client: FlaskClient, console_users: Any) -> None:
    _login(client, EDITOR)
    assert client.get("/api/me").json["name"] == EDITOR
    console_users.users.disable(EDITOR, actor="test")
    resp = client.get("/api/me")
    assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"


def test_changing_the_password_needs_the_current_one(client: FlaskClient, console_users: Any) -> None:
    _login(client, EDITOR)
    page = client.get("/console/password")
    bad = client.post("/console/password", data={"current": "wrong-one-xx", "new": "new-secret-2026",
                                                 "again": "new-secret-2026", "csrf_token": csrf_token(page.text)})
    assert "用户名或密码错误" in bad.text
    weak = client.post("/console/password", data={"current": PASSWORD, "new": "password", "again": "password",
                                                  "csrf_token": csrf_token(page.text)})
    assert "密码" in weak.text and weak.status_code == 200
    ok = client.post("/console/password", data={"current": PASSWORD, "new": "new-secret-2026",
                                                "again": "new-secret-2026", "csrf_token": csrf_token(page.text)})
    assert ok.status_code == 303
    assert client.get("/api/me").status_code == 401  # every session ended, this one too
    assert _login(client, EDITOR, "new-secret-2026").status_code == 303


def test_api_errors_are_json_for_unknown_paths_and_methods(client: FlaskClient) -> None:
    for resp in (client.get("/api/no-such-thing"), client.delete("/api/me"), client.get("/api/me")):
        assert resp.is_json and set(resp.json["error"]) == {"code", "message", "field"}
    assert client.get("/api/no-such-thing").status_code == 404
    assert client.delete("/api/me").status_code == 405
    assert client.get("/api/me").status_code == 401


def test_bearer_tokens_authenticate_and_revoked_ones_do_not(app: Flask, console_users: Any) -> None:
    token = console_users.users.issue_token(EDITOR, actor="test")
    client = app.test_client()
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json == {"name": EDITOR, "role": "editor", "via": "token"}
    console_users.users.revoke_token(EDITOR, actor="test")
    gone = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401 and "revoked" in gone.json["error"]["message"]
    assert client.get("/api/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_openapi_document_lists_the_declared_operations(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert doc["paths"]["/api/me"]["get"]["operationId"] == "me"


def test_sessions_and_csrf_over_real_http(live_server: str, console_users: Any) -> None:
    session = http_login(live_server, ADMIN)
    assert session.get(f"{live_server}/api/me", timeout=10).json()["via"] == "session"
    stranger = requests.post(f"{live_server}/console/logout", cookies=session.cookies, timeout=10,
                             allow_redirects=False)  # a cross-site form: the cookie without the token
    assert stranger.status_code == 400
    assert session.get(f"{live_server}/api/me", timeout=10).status_code == 200  # still logged in


SOY = {"id": "soy-milk", "name": "豆浆怎么喝", "keywords": ["豆浆怎么喝"], "match": "contains",
       "answer": {"kind": "text", "texts": ["每天一杯为宜。"]}}


def _rule_ids(session: requests.Session, base: str) -> list[str]:
    return [r["id"] for r in session.get(f"{base}/api/rules", timeout=10).json()["rules"]]


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer    "])
def test_an_empty_authorization_header_does_not_skip_the_csrf_check_over_real_http(
        live_server: str, console_users: Any, header: str) -> None:
    """Regression: an empty `Authorization:` (or `Bearer ` and nothing) once let a cookie call skip CSRF."""
    session = http_login(live_server, ADMIN)
    token = session.headers.pop("X-CSRFToken")
    before = _rule_ids(session, live_server)
    empty = {"Authorization": header}
    created = session.post(f"{live_server}/api/rules", json=SOY, headers=empty, timeout=10)
    changed = session.put(f"{live_server}/api/rules/clinic-hours", json=SOY, headers=empty, timeout=10)
    deleted = session.delete(f"{live_server}/api/rules/clinic-hours", headers=empty, timeout=10)
    logout = session.post(f"{live_server}/console/logout", headers=empty, timeout=10, allow_redirects=False)
    for resp in (created, changed, deleted):
        assert resp.status_code in (400, 401, 403), (header, resp.status_code, resp.text[:200])
        assert set(resp.json()["error"]) >= {"code", "message"}
    # A page refuses the form (400), or with a malformed token sends the caller to log in (302): never logs out.
    assert logout.status_code in (302, 400) and logout.headers.get("Location", "/console/login").startswith(
        "/console/login")
    assert session.get(f"{live_server}/api/me", timeout=10).json()["via"] == "session"
    assert _rule_ids(session, live_server) == before  # nothing changed
    if header == "":  # no token at all: the cookie with its CSRF token is an ordinary console call
        ok = session.post(f"{live_server}/api/rules", json=SOY, timeout=10,
                          headers={**empty, "X-CSRFToken": token})
        assert ok.status_code == 201, ok.text[:300]
        assert _rule_ids(session, live_server) == [*before, "soy-milk"]
    else:  # a malformed bearer token is refused outright, never read as "use the cookie instead"
        refused = session.post(f"{live_server}/api/rules", json=SOY, timeout=10,
                               headers={**empty, "X-CSRFToken": token})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert _rule_ids(session, live_server) == before


@pytest.mark.browser
def test_a_person_logs_in_and_out_in_chromium(live_server: str, console_users: Any, page: Any) -> None:
    browser_login(page, live_server, ADMIN)
    assert "admin1" in page.inner_text("header")
    page.click("text=退出")
    page.wait_for_url("**/console/login")
    page.goto(f"{live_server}/console/")
    assert "/console/login" in page.url
    assert page.console_errors == []  # nothing refused by the Content-Security-Policy


@pytest.mark.parametrize("field, age", [("seen", "idle"), ("created", "absolute")])
def test_an_expired_session_is_refused_over_real_http(live_server: str, console_users: Any, store: Store,
                                                      config: Config, field: str, age: str) -> None:
    """Idle too long, or logged in too long ago: the server's clock ends it (the Redis TTL only tidies)."""
    import hashlib
    import time

    session = http_login(live_server, EDITOR)
    assert session.get(f"{live_server}/api/me", timeout=10).status_code == 200
    cookie = session.cookies["wxbot-session"]
    key = store.key("session", hashlib.sha256(cookie.encode()).hexdigest())
    lifetime = (config.console.session_idle_minutes * 60 if age == "idle"
                else config.console.session_max_hours * 3600)
    store.redis.hset(key, field, repr(time.time() - lifetime - 5))  # as if that long had passed
    resp = session.get(f"{live_server}/api/me", timeout=10)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
    page = session.get(f"{live_server}/console/", timeout=10, allow_redirects=False)
    assert page.status_code == 302 and "/console/login" in page.headers["Location"]
    assert not store.redis.exists(key)


@pytest.mark.parametrize("proxies, seen", [(0, "127.0.0.1"), (1, "203.0.113.5")])
def test_the_login_throttle_counts_the_client_behind_a_trusted_proxy(
        config: Config, store: Store, console_users: Any, caplog: pytest.LogCaptureFixture, proxies: int,
        seen: str) -> None:
    """Behind nginx every client would share its address; without a proxy the header is a client's word."""
    from bot.accounts.throttle import address_pseudonym

    cfg = replace(config, console=replace(config.console, trusted_proxies=proxies))
    app = create_app({"TESTING": True}, config=cfg, store=store)
    try:
        client = app.test_client()
        token = csrf_token(client.get("/console/login").text)
        with caplog.at_level("WARNING", logger="bot.accounts.throttle"):
            client.post("/console/login", data={"name": ADMIN, "password": "wrong-password", "csrf_token": token},
                        headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.5"})
        assert f"from {address_pseudonym(cfg.secret_key, seen)}" in caplog.text
    finally:
        app.extensions["wxbot"].close()


def test_make_run_on_a_fresh_store_prints_a_first_admin_who_can_log_in(redis_url: str, store: Store) -> None:
    """`python -m bot run` in development: the console's address and a one-off admin password on the terminal."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.load import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "BOT_"))}
    env.update(REDIS_URL=redis_url, BOT_REDIS_PREFIX=store.prefix, BOT_CONFIG=str(ROOT / "config.yaml"),
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--port", str(port), "--workers", "1"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        console = ""
        for line in proc.stdout:  # the banner comes before any child has started
            if line.startswith("Console:"):
                console = line
                break
        found = re.search(r"first admin: admin / (\S+);", console)
        assert found, console
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        from tests.conftest import wait_for

        wait_for(up, timeout=30)
        wait_for(lambda: store.user_names(), timeout=30)  # the first worker creates it as it starts
        session = http_login(url, "admin", found.group(1))
        assert session.get(f"{url}/api/me", timeout=10).json()["role"] == "admin"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)  # drains the pipe, so no child blocks writing its logs


@pytest.fixture
def limited_app(config: Config, store: Store, console_users: Any) -> Any:
    """The app with an API limit of 3 calls a minute per caller."""
    cfg = replace(config, console=replace(config.console, api_requests_per_minute=3))
    app = create_app({"TESTING": True}, config=cfg, store=store)
    yield app
    app.extensions["wxbot"].close()


def test_the_api_limit_refuses_the_next_call_of_one_caller_only(limited_app: Flask, console_users: Any,
                                                                 store: Store) -> None:
    admin = limited_app.test_client()
    assert _login(admin, ADMIN).status_code == 303  # pages do not count
    assert [admin.get("/api/me").status_code for _ in range(3)] == [200, 200, 200]
    refused = admin.get("/api/me")
    assert refused.status_code == 429 and refused.is_json
    error = refused.json["error"]
    assert error["code"] == "rate_limited" and "3" in error["message"] and "请求过于频繁" in error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert admin.post("/api/rules", json={}).status_code == 429  # every operation, before anything is done
    token = console_users.users.issue_token(ADMIN, actor="test")
    by_token = limited_app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 429  # the same user with a token: the same count
    editor = limited_app.test_client()
    _login(editor, EDITOR)
    assert editor.get("/api/me").status_code == 200  # another user is unaffected
    assert store.redis.exists(store.key("ratelimit", "api", "user", ADMIN))  # in the app's Redis, its prefix


def test_the_api_limit_counts_strangers_per_address(limited_app: Flask) -> None:
    stranger = limited_app.test_client()
    assert [stranger.get("/api/me").status_code for _ in range(3)] == [401, 401, 401]
    assert stranger.get("/api/me").status_code == 429
    other = limited_app.test_client().get("/api/me", environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert other.status_code == 401  # another address is unaffected


def test_openapi_declares_the_429_with_retry_after(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").json
    answer = doc["paths"]["/api/rules"]["post"]["responses"]["429"]
    assert "Retry-After" in answer["headers"] and "$ref" in answer["content"]["application/json"]["schema"]
