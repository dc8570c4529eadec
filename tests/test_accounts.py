"""Console accounts: argon2id and the password policy, log-ins and their throttling, sessions, API tokens, the audit
log and the first admin; against real Redis, with an explicit clock."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import build_bot
from bot.accounts.audit import REDACTED, AuditLog, scrub
from bot.accounts.bootstrap import ensure_first_admin
from bot.accounts.model import AccountError, LoginRefused, UnknownUser
from bot.accounts.passwords import WeakPassword, common_passwords
from bot.accounts.users import WRONG, UserService
from bot.config import Config, ConfigError, ConsoleConfig
from bot.store import Store

SECRET = "test-secret-key-for-addresses"
GOOD = "Nierentransplant-2026"
OFFICE = "10.1.2.3"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console(base_config: Config) -> ConsoleConfig:
    # argon2id as configured, only cheaper: the parameters are what the tests vary, not the cost.
    return replace(base_config.console, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)


@pytest.fixture
def audit(store: Store, console: ConsoleConfig, clock: Clock) -> AuditLog:
    return AuditLog(store, console, clock)


@pytest.fixture
def users(store: Store, console: ConsoleConfig, clock: Clock, audit: AuditLog) -> UserService:
    return UserService(store, console, clock, audit, SECRET)


def dump(store: Store) -> str:
    """Every key under the store's prefix and every value, as one text."""
    r, parts = store.redis, []
    for key in r.scan_iter(match=store.prefix + "*"):
        kind = r.type(key).decode()
        if kind == "string":
            value: Any = r.get(key)
        elif kind == "hash":
            value = r.hgetall(key)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = r.smembers(key)
        else:
            value = r.zrange(key, 0, -1, withscores=True)
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


# -- passwords -----------------------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes_with_the_configured_parameters(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    stored = store.user("alice")
    assert stored is not None
    assert stored["hash"].startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert GOOD not in dump(store)


def test_a_hash_made_with_other_parameters_is_redone_at_the_next_log_in(
        store: Store, console: ConsoleConfig, clock: Clock, audit: AuditLog, users: UserService) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    users.authenticate("alice", GOOD, OFFICE)
    same = store.user("alice")
    assert same is not None and same["hash"].startswith("$argon2id$v=19$m=1024,t=1,p=1$")  # same parameters: kept
    stronger = UserService(store, replace(console, argon2_time_cost=2, argon2_memory_kib=2048), clock, audit, SECRET)
    assert stronger.hasher.needs_rehash(same["hash"])
    stronger.authenticate("alice", GOOD, OFFICE)
    redone = store.user("alice")
    assert redone is not None and redone["hash"].startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert redone["hash"] != same["hash"]
    assert stronger.authenticate("alice", GOOD, OFFICE).name == "alice"  # still the same password
    with pytest.raises(LoginRefused):
        stronger.authenticate("alice", GOOD + "x", OFFICE)


@pytest.mark.parametrize(("password", "why"), [
    ("Short1!", "password: must be at least 8 characters"),
    ("12345678", "password: is one of the most common passwords"),
    ("woaini1314", "password: is one of the most common passwords"),
    ("PassWord123", "password: is one of the most common passwords"),  # case does not make it rarer
    ("a1234567", "password: is one of the most common passwords"),
    ("zhangsan.li", "password: must not be the user name"),
    ("ZhangSan.Li", "password: must not be the user name"),
    ("        ", "password: must not be only spaces"),
    ("x" * 300, "password: must be at most 256 characters"),
])
def test_weak_passwords_are_refused_saying_why_and_nothing_is_stored(
        users: UserService, store: Store, password: str, why: str) -> None:
    with pytest.raises(WeakPassword, match=why):
        users.add("zhangsan.li", "editor", password, actor="cli")
    assert store.user_names() == [] and users.get("zhangsan.li") is None
    assert users.audit.recent() == []


def test_the_common_password_list_is_long_and_has_the_usual_suspects() -> None:
    common = common_passwords()
    assert len(common) >= 100
    assert {"123456", "12345678", "password", "qwerty123", "woaini1314", "88888888", "11111111",
            "a1234567"} <= common
    assert not any(p.startswith("#") for p in common)


# -- names and users -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "x" * 33, "li si", "张三", "bob:1", "", "tom/../x"])
def test_a_bad_name_is_refused_naming_the_pattern(users: UserService, store: Store, name: str) -> None:
    with pytest.raises(AccountError, match="use 2 to 32 of a-z, 0-9"):
        users.add(name, "editor", GOOD, actor="cli")
    assert store.user_names() == []


def test_names_are_case_folded_and_roles_checked(users: UserService) -> None:
    user = users.add("  Dr.Wang ", "admin", GOOD, actor="cli")
    assert user is not None and user.name == "dr.wang" and user.is_admin
    assert users.require("DR.WANG").name == "dr.wang"
    with pytest.raises(AccountError, match="role 'owner': must be admin or editor"):
        users.add("li", "owner", GOOD, actor="cli")
    with pytest.raises(UnknownUser, match="no user named 'nobody'"):
        users.require("Nobody")


def test_roles_decide_what_a_user_may_change(users: UserService) -> None:
    editor = users.add("li", "editor", GOOD, actor="cli")
    assert editor is not None and editor.can("posts") and editor.can("questions")
    assert not editor.can("rules") and not editor.can("users") and not editor.can("menu")
    admin = users.set_role("li", "admin", actor="root")
    assert admin.can("rules") and admin.can("users")
    entry = users.audit.recent(1)[0]
    assert (entry["action"], entry["before"]["role"], entry["after"]["role"]) == ("user.role", "editor", "admin")
    users.add("wang", "admin", GOOD, actor="cli")  # li is not the last enabled admin
    assert not users.disable("li", actor="root").can("posts")
    with pytest.raises(AccountError, match="must be admin or editor"):
        users.set_role("li", "root", actor="root")


def test_an_admin_cannot_disable_or_demote_themself_nor_the_last_enabled_admin(users: UserService) -> None:
    users.add("li", "admin", GOOD, actor="cli")
    users.add("wang", "admin", GOOD, actor="cli")
    with pytest.raises(AccountError, match="you cannot disable yourself"):
        users.disable("li", actor="li")
    with pytest.raises(AccountError, match="you cannot demote yourself"):
        users.set_role("li", "editor", actor="li")
    users.disable("wang", actor="li")
    with pytest.raises(AccountError, match="last enabled admin"):
        users.disable("li", actor="cli")
    with pytest.raises(AccountError, match="last enabled admin"):
        users.set_role("li", "editor", actor="cli")
    li = users.require("li")
    assert li.enabled and li.role == "admin"
    assert users.set_role("li", "admin", actor="li").role == "admin"  # no change is no demotion


def test_a_taken_name_is_refused_and_the_user_left_as_it_was(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    before = store.user("alice")
    with pytest.raises(AccountError, match="user 'alice' already exists"):
        users.add("ALICE", "admin", "Another-good-one-9", actor="cli")
    assert store.user("alice") == before and store.user_names() == ["alice"]


def test_adding_is_atomic_under_concurrency(store: Store) -> None:
    results: list[bool] = []
    start = threading.Barrier(8)

    def add(i: int) -> None:
        start.wait()
        results.append(store.add_user("same", {"role": "editor", "enabled": "1", "n": str(i)}))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert store.user_names() == ["same"]
    assert not store.add_user("other", {"role": "admin"}, only_if_none=True)  # a user exists: no first admin
    assert store.user_names() == ["same"]


def test_update_never_creates_a_user(store: Store) -> None:
    assert not store.update_user("ghost", {"enabled": "0"})
    assert store.user("ghost") is None


# -- log-in ---------------------------------------------------------------------------------------------------


def test_authenticate_lets_in_the_right_password_only(users: UserService, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    user = users.authenticate("Alice", GOOD, OFFICE)
    assert user.name == "alice" and user.last_login == clock.now
    with pytest.raises(LoginRefused) as wrong:
        users.authenticate("alice", GOOD.lower(), OFFICE)
    with pytest.raises(LoginRefused) as unknown:
        users.authenticate("bob", GOOD, OFFICE)
    with pytest.raises(LoginRefused) as invalid:
        users.authenticate("no such name!", GOOD, OFFICE)
    assert str(wrong.value) == str(unknown.value) == str(invalid.value) == WRONG  # names cannot be probed
    users.disable("alice", actor="cli")
    with pytest.raises(LoginRefused, match="this account is disabled"):
        users.authenticate("alice", GOOD, OFFICE)
    with pytest.raises(LoginRefused, match=WRONG):  # a disabled account still says nothing to a guesser
        users.authenticate("alice", "Wrong-password-1", OFFICE)
    users.enable("alice", actor="cli")
    assert users.authenticate("alice", GOOD, OFFICE).enabled


def test_failures_per_account_are_refused_for_a_growing_while(users: UserService, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    for i in range(5):
        with pytest.raises(LoginRefused, match=WRONG):
            users.authenticate("alice", f"guess-{i}-xxxx", f"198.51.100.{i}")
        clock.advance(seconds=1)
    last_failure = clock.now - timedelta(seconds=1)
    with pytest.raises(LoginRefused) as refused:  # even the right password, from another address
        users.authenticate("alice", GOOD, "203.0.113.9")
    assert refused.value.retry_at == last_failure + timedelta(seconds=60)
    assert f"try again after {refused.value.retry_at:%Y-%m-%d %H:%M:%S} UTC" in str(refused.value)
    clock.now = last_failure + timedelta(seconds=60)
    with pytest.raises(LoginRefused, match=WRONG):  # admitted again: the sixth failure doubles the wait
        users.authenticate("alice", "guess-6-xxxx", OFFICE)
    with pytest.raises(LoginRefused) as longer:
        users.authenticate("alice", GOOD, OFFICE)
    assert longer.value.retry_at == clock.now + timedelta(seconds=120)
    clock.advance(seconds=120)
    assert users.authenticate("alice", GOOD, OFFICE).name == "alice"
    with pytest.raises(LoginRefused, match=WRONG):  # a success cleared the account's failures
        users.authenticate("alice", "guess-7-xxxx", OFFICE)
    assert users.authenticate("alice", GOOD, OFFICE).name == "alice"


def test_failures_fall_out_of_the_window(users: UserService, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    for i in range(4):
        with pytest.raises(LoginRefused, match=WRONG):
            users.authenticate("alice", f"guess-{i}-xxxx", OFFICE)
    clock.advance(minutes=16)
    for i in range(4):
        with pytest.raises(LoginRefused, match=WRONG):
            users.authenticate("alice", f"again-{i}-xxxx", OFFICE)
    assert users.authenticate("alice", GOOD, OFFICE).name == "alice"  # never 5 within 15 minutes


def test_failures_per_address_are_refused_whatever_the_name(users: UserService, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    for i in range(20):  # a spray: one guess per name, under every account's limit
        with pytest.raises(LoginRefused, match=WRONG):
            users.authenticate(f"user{i}", "guess-xxxx", "192.0.2.66")
    with pytest.raises(LoginRefused, match="too many failed log-ins"):
        users.authenticate("alice", GOOD, "192.0.2.66")
    assert users.authenticate("alice", GOOD, OFFICE).name == "alice"  # other addresses are not held back
    clock.advance(seconds=60)
    assert users.authenticate("alice", GOOD, "192.0.2.66").name == "alice"


def test_concurrent_guesses_count_before_they_finish(users: UserService, store: Store, clock: Clock) -> None:
    """An admitted attempt counts as a failure until it succeeds, so parallel guesses cannot outrun the limit."""
    admitted = [users.throttle.admit("alice", "a_x") for _ in range(5)]
    assert len(set(admitted)) == 5
    with pytest.raises(LoginRefused):
        users.throttle.admit("alice", "a_x")


def test_failed_log_ins_are_logged_without_the_password_or_the_address(
        users: UserService, caplog: pytest.LogCaptureFixture) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    with caplog.at_level(logging.INFO):
        for _ in range(6):
            with pytest.raises(LoginRefused):
                users.authenticate("alice", "Secret-guess-42", "198.51.100.77")
    text = caplog.text
    assert "failed log-in for alice from a_" in text and "refused: too many failed log-ins" in text
    assert "Secret-guess-42" not in text and "198.51.100.77" not in text and GOOD not in text


# -- sessions -------------------------------------------------------------------------------------------------


def test_each_log_in_gets_a_fresh_session_id_stored_only_hashed(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    _, first = users.log_in("alice", GOOD, OFFICE)
    _, second = users.log_in("alice", GOOD, OFFICE)
    assert first != second and len(first) >= 40
    found = users.session_user(first)
    assert found is not None and found[0].name == "alice"
    blob = dump(store)
    assert first not in blob and second not in blob
    assert hashlib.sha256(first.encode()).hexdigest() in blob
    assert OFFICE not in blob  # the address is kept as a pseudonym only
    assert users.log_out(first) and users.session_user(first) is None
    assert not users.log_out(first)
    assert users.session_user(second) is not None
    assert users.session_user("") is None and users.session_user("made-up") is None


def test_a_session_ends_after_the_idle_time(users: UserService, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    _, sid = users.log_in("alice", GOOD, OFFICE)
    clock.advance(minutes=29)
    assert users.session_user(sid) is not None  # used: idle counts from now
    clock.advance(minutes=29)
    assert users.session_user(sid) is not None
    clock.advance(minutes=30)
    assert users.session_user(sid) is None
    clock.advance(minutes=-30)
    assert users.session_user(sid) is None  # ended, not merely hidden


def test_a_session_ends_at_its_absolute_limit_however_busy(users: UserService, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    _, sid = users.log_in("alice", GOOD, OFFICE)
    start = clock.now
    while clock.now < start + timedelta(hours=12) - timedelta(minutes=20):
        clock.advance(minutes=20)
        assert users.session_user(sid) is not None
    clock.now = start + timedelta(hours=12)
    assert users.session_user(sid) is None


def test_disabling_a_user_ends_their_sessions_and_token(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    users.add("bob", "editor", "Bob-likes-tofu-7", actor="cli")
    _, a1 = users.log_in("alice", GOOD, OFFICE)
    _, a2 = users.log_in("alice", GOOD, OFFICE)
    _, b1 = users.log_in("bob", "Bob-likes-tofu-7", OFFICE)
    token = users.issue_token("alice", actor="cli")
    users.disable("alice", actor="cli")
    assert store.user_sessions("alice") == []  # ended in the store, not merely refused at look-up
    assert users.sessions.lookup(a1) is None and users.sessions.lookup(a2) is None
    assert users.session_user(a1) is None and users.session_user(a2) is None
    assert users.session_user(b1) is not None
    with pytest.raises(LoginRefused, match="disabled"):
        users.verify_token(token)


def test_a_password_reset_ends_the_users_sessions(users: UserService) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    _, sid = users.log_in("alice", GOOD, OFFICE)
    with pytest.raises(WeakPassword, match="common"):
        users.reset_password("alice", "qwerty123", actor="cli")
    assert users.session_user(sid) is not None  # a refused reset changes nothing
    assert users.reset_password("alice", "Fresh-password-2027", actor="cli") == 1
    assert users.session_user(sid) is None
    with pytest.raises(LoginRefused):
        users.authenticate("alice", GOOD, OFFICE)
    assert users.authenticate("alice", "Fresh-password-2027", OFFICE).name == "alice"


def test_changing_ones_own_password_needs_the_current_one(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    _, sid = users.log_in("alice", GOOD, OFFICE)
    before = store.user("alice")
    with pytest.raises(LoginRefused, match=WRONG):
        users.change_password("alice", "not-the-current-1", "Fresh-password-2027", address=OFFICE)
    with pytest.raises(WeakPassword, match="at least 8 characters"):
        users.change_password("alice", GOOD, "alice", address=OFFICE)
    after_refusals = store.user("alice")
    assert before is not None and after_refusals is not None and after_refusals["hash"] == before["hash"]
    assert users.session_user(sid) is not None
    users.change_password("alice", GOOD, "Fresh-password-2027", address=OFFICE)
    assert users.session_user(sid) is None
    assert users.authenticate("alice", "Fresh-password-2027", OFFICE).name == "alice"
    assert users.audit.recent(1)[0]["action"] == "user.password_change"
    assert users.audit.recent(1)[0]["actor"] == "alice"


# -- API tokens ------------------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    token = users.issue_token("alice", actor="cli")
    assert token.startswith("wxb_") and len(token) == 4 + 43
    blob = dump(store)
    assert token not in blob and token[4:] not in blob
    assert hashlib.sha256(token.encode()).hexdigest() in blob
    assert users.verify_token(token).name == "alice"
    assert users.require("alice").has_token


def test_a_new_token_replaces_the_old_and_revoke_removes_it(users: UserService, store: Store) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    old = users.issue_token("alice", actor="cli")
    new = users.issue_token("alice", actor="cli")
    assert old != new
    with pytest.raises(LoginRefused, match="unknown or revoked"):
        users.verify_token(old)
    assert users.verify_token(new).name == "alice"
    assert users.revoke_token("alice", actor="cli")
    with pytest.raises(LoginRefused, match="unknown or revoked"):
        users.verify_token(new)
    assert not users.revoke_token("alice", actor="cli")
    assert not users.require("alice").has_token
    assert "apitoken" not in dump(store)
    for bad in ("", "wxb_short", "Bearer " + new, new + "x"):
        with pytest.raises(LoginRefused):
            users.verify_token(bad)


def test_tokens_for_unknown_users_are_refused(users: UserService) -> None:
    with pytest.raises(UnknownUser):
        users.issue_token("ghost", actor="cli")
    with pytest.raises(UnknownUser):
        users.revoke_token("ghost", actor="cli")


# -- the audit log ------------------------------------------------------------------------------------------


def test_every_user_change_is_audited_without_secrets(users: UserService, store: Store, clock: Clock) -> None:
    users.add("alice", "editor", GOOD, actor="cli")
    users.disable("alice", actor="root")
    users.disable("alice", actor="root")  # no change, no entry
    users.enable("alice", actor="root")
    users.reset_password("alice", "Fresh-password-2027", actor="cli")
    token = users.issue_token("alice", actor="cli")
    users.revoke_token("alice", actor="cli")
    entries = users.audit.recent(limit=50)
    assert [e["action"] for e in entries] == ["user.token_revoke", "user.token", "user.password_reset",
                                              "user.enable", "user.disable", "user.add"]
    disable = entries[4]
    assert disable["actor"] == "root" and disable["target"] == "user:alice"
    assert disable["before"]["enabled"] is True and disable["after"]["enabled"] is False
    assert disable["t"] == clock.now.isoformat(timespec="seconds")
    audit_text = str(store.redis.lrange(store.key("audit"), 0, -1))
    hashes = store.user("alice")
    assert hashes is not None
    for secret in (GOOD, "Fresh-password-2027", token, hashes["hash"], hashes.get("token") or "$argon2",
                   hashlib.sha256(token.encode()).hexdigest(), "$argon2"):
        assert secret not in audit_text


def test_scrub_drops_secret_fields_and_openid_or_token_values() -> None:
    before = {"name": "alice", "password": "x", "password_hash": "$argon2id$...", "api_token": "t",
              "client_secret": "s", "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
              "nested": {"OpenID": "x", "who": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "ok": [1, "wxb_" + "a" * 43]}}
    assert scrub(before) == {"name": "alice", "password": REDACTED, "password_hash": REDACTED, "api_token": REDACTED,
                             "client_secret": REDACTED, "openid": REDACTED,
                             "nested": {"OpenID": REDACTED, "who": REDACTED, "ok": [1, REDACTED]}}


def test_the_audit_log_is_bounded_by_count_and_age(store: Store, console: ConsoleConfig, clock: Clock) -> None:
    audit = AuditLog(store, replace(console, audit_max=3, audit_days=10), clock)
    for i in range(5):
        audit.record("cli", "rules.import", f"rules:v{i}", after={"version": i})
    assert [e["target"] for e in audit.recent()] == ["rules:v4", "rules:v3", "rules:v2"]
    clock.advance(days=6)
    audit.record("alice", "post.schedule", "post:1")
    clock.advance(days=5)  # the first three are now 11 days old, the last 5 days
    audit.record("alice", "post.publish", "post:1", before={"status": "scheduled"}, after={"status": "publishing"})
    assert [e["action"] for e in audit.recent()] == ["post.publish", "post.schedule"]
    assert 0 < store.redis.ttl(store.key("audit")) <= 10 * 86400


def test_recent_filters_by_actor_action_target_and_time(audit: AuditLog, clock: Clock) -> None:
    audit.record("cli", "user.add", "user:alice")
    clock.advance(hours=1)
    since = clock.now
    audit.record("alice", "post.answer", "post:1")
    audit.record("alice", "user.role", "user:bob")
    audit.record("bob", "post.answer", "post:2")
    assert [e["target"] for e in audit.recent(actor="alice")] == ["user:bob", "post:1"]
    assert [e["target"] for e in audit.recent(action="post.")] == ["post:2", "post:1"]
    assert [e["actor"] for e in audit.recent(target="user:alice")] == ["cli"]
    assert len(audit.recent(since=since)) == 3 and len(audit.recent(limit=2)) == 2


# -- the first admin ------------------------------------------------------------------------------------------


def with_admin_password(config: Config, password: str, **changes: Any) -> Config:
    console = replace(config.console, admin_password=password, argon2_time_cost=1, argon2_memory_kib=1024,
                      argon2_parallelism=1)
    return replace(config, console=console, **changes)


def test_bot_admin_password_creates_the_first_admin_once(
        config: Config, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    first = with_admin_password(config, "Transplant-Admin-2026")
    with caplog.at_level(logging.INFO):
        bots = [build_bot(first, store), build_bot(first, store)]  # two workers starting
        later = build_bot(with_admin_password(config, "Another-Admin-2027"), store)
    try:
        users = bots[0].ctx.services.users
        assert [u.name for u in users.list_users()] == ["admin"]
        assert users.require("admin").is_admin
        assert users.authenticate("admin", "Transplant-Admin-2026", OFFICE).name == "admin"
        with pytest.raises(LoginRefused):
            users.authenticate("admin", "Another-Admin-2027", OFFICE)
        assert [e["actor"] for e in users.audit.recent(action="user.add")] == ["bootstrap"]
        assert caplog.text.count("created the first admin") == 1
        assert "Transplant-Admin-2026" not in caplog.text
    finally:
        for bot in (*bots, later):
            bot.close()


def test_no_first_admin_without_the_variable_or_with_users_present(config: Config, store: Store) -> None:
    bot = build_bot(config, store)
    try:
        assert bot.ctx.services.users.list_users() == []
        bot.ctx.services.users.add("editor1", "editor", GOOD, actor="cli")
        assert not ensure_first_admin(with_admin_password(config, "Transplant-Admin-2026"), bot.ctx.services.users)
        assert [u.name for u in bot.ctx.services.users.list_users()] == ["editor1"]
    finally:
        bot.close()


def test_a_weak_bot_admin_password_stops_production(config: Config, store: Store, clock: Clock,
                                                     audit: AuditLog) -> None:
    production = with_admin_password(config, "admin123", mode="production")
    users = UserService(store, production.console, clock, audit, SECRET)
    with pytest.raises(ConfigError, match=r"^environment: BOT_ADMIN_PASSWORD: is one of the most common"):
        ensure_first_admin(production, users)
    assert store.user_names() == []


def test_a_weak_bot_admin_password_is_a_warning_in_development(
        config: Config, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    weak = with_admin_password(config, "admin", mode="development")
    with caplog.at_level(logging.WARNING):
        bot = build_bot(weak, store)
    try:
        assert "BOT_ADMIN_PASSWORD: must be at least 8 characters (accepted outside production)" in caplog.text
        assert bot.ctx.services.users.authenticate("admin", "admin", OFFICE).name == "admin"
    finally:
        bot.close()
