"""`python -m bot users ...` through the app's CLI: every change audited with actor ``cli``, clear errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from bot.accounts.users import UserService
from bot.config import Config
from bot.store import Store

GOOD = "Nierentransplant-2026"


@pytest.fixture
def config(config: Config) -> Config:
    console = replace(config.console, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    return replace(config, console=console)


@pytest.fixture
def users(app: Flask) -> UserService:
    service: UserService = app.extensions["wxbot"].ctx.services.users
    return service


def add(runner: FlaskCliRunner, name: str = "alice", role: str = "editor", password: str = GOOD) -> None:
    result = runner.invoke(args=["users", "add", name, "--role", role, "--password-stdin"], input=password + "\n")
    assert result.exit_code == 0, result.output


def test_add_with_password_stdin(runner: FlaskCliRunner, users: UserService) -> None:
    result = runner.invoke(args=["users", "add", "Alice", "--role", "editor", "--password-stdin"],
                           input=GOOD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output == "user alice added (editor)\n"
    assert users.authenticate("alice", GOOD, "127.0.0.1").role == "editor"
    entry = users.audit.recent(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("cli", "user.add", "user:alice")


def test_add_prompts_twice_and_refuses_a_mismatch(runner: FlaskCliRunner, users: UserService) -> None:
    result = runner.invoke(args=["users", "add", "root", "--role", "admin"], input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.output
    assert GOOD not in result.output  # hidden input
    assert users.require("root").is_admin
    mismatch = runner.invoke(args=["users", "add", "bob", "--role", "editor"], input=f"{GOOD}\nother-one-123\n")
    assert mismatch.exit_code != 0
    assert users.get("bob") is None


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["users", "add", "bob", "--role", "editor", "--password-stdin"], "12345678\n",
     "password: is one of the most common passwords"),
    (["users", "add", "bob", "--role", "editor", "--password-stdin"], "short\n", "at least 8 characters"),
    (["users", "add", "bobby.li", "--role", "editor", "--password-stdin"], "bobby.li\n", "must not be the user name"),
    (["users", "add", "b", "--role", "editor", "--password-stdin"], GOOD + "\n", "use 2 to 32 of a-z"),
    (["users", "add", "bob", "--role", "editor", "--password-stdin"], "", "no password on standard input"),
    (["users", "add", "alice", "--role", "admin", "--password-stdin"], GOOD + "\n", "user 'alice' already exists"),
    (["users", "disable", "ghost"], "", "no user named 'ghost'"),
    (["users", "enable", "ghost"], "", "no user named 'ghost'"),
    (["users", "passwd", "ghost", "--password-stdin"], GOOD + "\n", "no user named 'ghost'"),
    (["users", "passwd", "alice", "--password-stdin"], "woaini1314\n", "most common passwords"),
    (["users", "token", "ghost"], "", "no user named 'ghost'"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(
        runner: FlaskCliRunner, users: UserService, store: Store, args: list[str], stdin: str, message: str) -> None:
    add(runner)
    before = (store.user("alice"), store.user_names(), users.audit.recent())
    result = runner.invoke(args=args, input=stdin)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert (store.user("alice"), store.user_names(), users.audit.recent()) == before


def test_add_refuses_an_unknown_role(runner: FlaskCliRunner, users: UserService) -> None:
    result = runner.invoke(args=["users", "add", "bob", "--role", "owner", "--password-stdin"], input=GOOD + "\n")
    assert result.exit_code == 2 and "'owner' is not one of 'admin', 'editor'" in result.output
    assert users.get("bob") is None


def test_list_shows_every_user(runner: FlaskCliRunner, users: UserService) -> None:
    assert runner.invoke(args=["users", "list"]).output.startswith("no users")
    add(runner, "alice")
    add(runner, "root", "admin")
    users.authenticate("root", GOOD, "127.0.0.1")
    runner.invoke(args=["users", "disable", "alice"])
    lines = runner.invoke(args=["users", "list"]).output.splitlines()
    assert lines[0].split() == ["name", "role", "enabled", "created", "last", "log-in", "token"]
    alice, root = (line.split() for line in lines[1:])
    assert alice[:3] == ["alice", "editor", "no"] and alice[-2:] == ["never", "no"]
    assert root[:3] == ["root", "admin", "yes"] and root[-1] == "no" and "never" not in root


def test_disable_ends_sessions_and_enable_restores_log_in(runner: FlaskCliRunner, users: UserService) -> None:
    add(runner)
    _, sid = users.log_in("alice", GOOD, "127.0.0.1")
    result = runner.invoke(args=["users", "disable", "alice"])
    assert result.exit_code == 0 and result.output == "user alice disabled\n"
    assert users.session_user(sid) is None
    assert runner.invoke(args=["users", "enable", "ALICE"]).output == "user alice enabled\n"
    assert users.authenticate("alice", GOOD, "127.0.0.1").enabled
    assert [e["action"] for e in users.audit.recent(2)] == ["user.enable", "user.disable"]


def test_passwd_resets_and_ends_sessions(runner: FlaskCliRunner, users: UserService) -> None:
    add(runner)
    _, sid = users.log_in("alice", GOOD, "127.0.0.1")
    result = runner.invoke(args=["users", "passwd", "alice", "--password-stdin"], input="Fresh-password-2027\n")
    assert result.exit_code == 0, result.output
    assert result.output == "password of alice changed; 1 session(s) ended\n"
    assert users.session_user(sid) is None
    assert users.authenticate("alice", "Fresh-password-2027", "127.0.0.1").name == "alice"
    prompted = runner.invoke(args=["users", "passwd", "alice"], input="Third-password-2028\nThird-password-2028\n")
    assert prompted.exit_code == 0, prompted.output
    assert users.authenticate("alice", "Third-password-2028", "127.0.0.1").name == "alice"
    assert users.audit.recent(1)[0]["actor"] == "cli"


def test_token_is_printed_once_and_revoke_removes_it(runner: FlaskCliRunner, users: UserService, store: Store) -> None:
    add(runner)
    result = runner.invoke(args=["users", "token", "alice"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("wxb_") and "shown only this once" in result.stderr
    assert users.verify_token(token).name == "alice"
    assert token not in str(store.redis.lrange(store.key("audit"), 0, -1))
    assert token not in runner.invoke(args=["users", "list"]).output
    revoked = runner.invoke(args=["users", "token", "alice", "--revoke"])
    assert revoked.exit_code == 0 and revoked.output == "API token of alice revoked\n"
    assert runner.invoke(args=["users", "token", "alice", "--revoke"]).output == "alice has no API token\n"
    assert [e["action"] for e in users.audit.recent(2)] == ["user.token_revoke", "user.token"]
