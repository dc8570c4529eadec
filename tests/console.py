"""Helpers for the console's tests: users with known passwords, logging in over HTTP and in a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from bot.accounts.audit import AuditLog
from bot.accounts.users import UserService
from bot.config import Config
from bot.store import Store

ADMIN, EDITOR = "admin1", "editor1"
PASSWORD = "kidney-clinic-2026"
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class ConsoleUsers:
    """An admin and an editor, both with PASSWORD, and the service that made them."""

    users: UserService
    admin: str = ADMIN
    editor: str = EDITOR
    password: str = PASSWORD


def make_users(store: Store, config: Config) -> ConsoleUsers:
    def now() -> datetime:
        return datetime.now(UTC)

    users = UserService(store, config.console, now, AuditLog(store, config.console, now), config.secret_key)
    users.add(ADMIN, "admin", PASSWORD, actor="test")
    users.add(EDITOR, "editor", PASSWORD, actor="test")
    return ConsoleUsers(users)


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def http_login(base_url: str, name: str, password: str = PASSWORD) -> requests.Session:
    """A requests session logged in to the console at `base_url` (its cookie and CSRF header set)."""
    session = requests.Session()
    page = session.get(f"{base_url}/console/login", timeout=10)
    resp = session.post(f"{base_url}/console/login", timeout=10, allow_redirects=False,
                        data={"name": name, "password": password, "csrf_token": csrf_token(page.text)})
    assert resp.status_code == 303, resp.text[:300]
    home = session.get(f"{base_url}/console/", timeout=10)
    session.headers["X-CSRFToken"] = csrf_token(home.text)
    return session


def browser_login(page: Any, base_url: str, name: str, password: str = PASSWORD) -> None:
    """Log in through the form, as a person would."""
    page.goto(f"{base_url}/console/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/(\?.*)?$"))
