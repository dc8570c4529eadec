"""Console users (用户) for admins: list, add, enable/disable, role, password reset, personal API tokens.

Everything goes through UserService (the CLI's too), which audits with the admin as actor and refuses an
admin disabling or demoting themself or the last enabled admin. No password hash ever leaves the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from flask import flash, request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from bot.accounts.model import ROLES, AccountError, UnknownUser, User
from bot.accounts.passwords import MAX_LENGTH, WeakPassword
from bot.accounts.users import UserService
from bot.web.console.apispec import ApiError, operation
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.texts import account_error
from bot.web.console.views import page, redirect_to, render

ROLE_LABELS = {"admin": "管理员", "editor": "编辑"}


def _users() -> UserService:
    return services().users


def _field(exc: AccountError) -> str:
    """The add form's field an AccountError is about."""
    text = str(exc)
    if isinstance(exc, WeakPassword) or text.startswith("password"):
        return "password"
    return "role" if text.startswith("role") else "name"


# -- pages -------------------------------------------------------------------------------------------------

def _users_page(who: Caller, *, add_form: dict[str, str] | None = None, add_errors: dict[str, str] | None = None,
                row_errors: dict[str, str] | None = None, token: tuple[str, str] | None = None,
                status: int = 200) -> tuple[str, int]:
    tz = config().account.tz
    return render("console/users.html", title="用户", users=_users().list_users(), me=who.user.name,
                  add_form=add_form or {"role": "editor"}, add_errors=add_errors or {},
                  row_errors=row_errors or {}, token=token, roles=ROLES, role_labels=ROLE_LABELS,
                  when=lambda at: at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "从未"), status


def _known(name: str) -> User:
    user = _users().get(name)
    if user is None:
        raise NotFound()
    return user


@pages.get("/users")
@page("users")
def users(who: Caller) -> tuple[str, int]:
    return _users_page(who)


@pages.post("/users")
@page("users")
def user_add(who: Caller) -> tuple[str, int] | BaseResponse:
    form = {k: request.form.get(k, "") for k in ("name", "role")}
    try:
        user = _users().add(form["name"], form["role"], request.form.get("password", ""), actor=who.user.name)
    except AccountError as exc:
        return _users_page(who, add_form=form, add_errors={_field(exc): account_error(exc)}, status=422)
    assert user is not None
    flash(f"已添加用户 {user.name}（{ROLE_LABELS[user.role]}）", "ok")
    return redirect_to("console.users")


def _row_change(who: Caller, name: str, what: str) -> BaseResponse:
    user = _known(name)
    service = _users()
    try:
        if what == "enabled":
            if request.form.get("enabled") == "on":
                service.enable(user.name, actor=who.user.name)
                flash(f"已启用 {user.name}", "ok")
            else:
                service.disable(user.name, actor=who.user.name)
                flash(f"已停用 {user.name}，其登录已全部退出", "ok")
        elif what == "role":
            changed = service.set_role(user.name, request.form.get("role", ""), actor=who.user.name)
            flash(f"{user.name} 的角色：{ROLE_LABELS[changed.role]}", "ok")
        else:
            if service.revoke_token(user.name, actor=who.user.name):
                flash(f"已撤销 {user.name} 的 API 令牌", "ok")
            else:
                flash(f"{user.name} 没有 API 令牌", "ok")
    except AccountError as exc:
        flash(f"{user.name} 未修改：{account_error(exc)}", "error")
    return redirect_to("console.users")


@pages.post("/users/<name>/enabled")
@page("users")
def user_enabled(who: Caller, name: str) -> BaseResponse:
    return _row_change(who, name, "enabled")


@pages.post("/users/<name>/role")
@page("users")
def user_role(who: Caller, name: str) -> BaseResponse:
    return _row_change(who, name, "role")


@pages.post("/users/<name>/token/revoke")
@page("users")
def user_token_revoke(who: Caller, name: str) -> BaseResponse:
    return _row_change(who, name, "revoke")


@pages.post("/users/<name>/password")
@page("users")
def user_password(who: Caller, name: str) -> tuple[str, int] | BaseResponse:
    user = _known(name)
    try:
        ended = _users().reset_password(user.name, request.form.get("password", ""), actor=who.user.name)
    except AccountError as exc:
        return _users_page(who, row_errors={user.name: account_error(exc)}, status=422)
    flash(f"已重设 {user.name} 的密码，{ended} 个登录已退出", "ok")
    return redirect_to("console.users")


@pages.post("/users/<name>/token")
@page("users")
def user_token(who: Caller, name: str) -> tuple[str, int]:
    # The token is on this answer only (never in a redirect's cookie or the log): it is not stored in clear.
    user = _known(name)
    return _users_page(who, token=(user.name, _users().issue_token(user.name, actor=who.user.name)))


# -- the JSON API -------------------------------------------------------------------------------------------

RoleName = Literal["admin", "editor"]
Password = Annotated[StrictStr, Field(min_length=1, max_length=MAX_LENGTH)]


class UserOut(BaseModel):
    """A console user (never a password hash or a token)."""

    name: str
    role: RoleName
    enabled: bool
    created: datetime
    last_login: datetime | None
    has_token: bool


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[StrictStr, Field(min_length=1, max_length=64, description="2-32 of a-z 0-9 . _ -")]
    role: RoleName
    password: Password = Field(description="the password rules apply (at least 8 characters, not a common one)")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName | None = None
    enabled: StrictBool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


class PasswordOut(BaseModel):
    sessions_ended: int


class TokenOut(BaseModel):
    token: str = Field(description="shown only this once; send it as Authorization: Bearer <token>")


def _out(user: User) -> UserOut:
    return UserOut(name=user.name, role=user.role, enabled=user.enabled, created=user.created,
                   last_login=user.last_login, has_token=user.has_token)


def _api_user(name: str) -> User:
    user = _users().get(name)
    if user is None:
        raise ApiError(404, "not_found", f"no user named {name!r}")
    return user


def _refused(exc: AccountError, field: str | None = None) -> ApiError:
    if isinstance(exc, UnknownUser):
        return ApiError(404, "not_found", str(exc))
    text = str(exc)
    if "already exists" in text or "yourself" in text or "last enabled admin" in text:
        return ApiError(409, "conflict", text, field)
    return ApiError(422, "invalid", text, field)


@operation("/users", "GET", summary="Every console user", tag="users", area="users", response=list[UserOut])
def users_list(caller: Caller) -> list[UserOut]:
    return [_out(u) for u in _users().list_users()]


@operation("/users", "POST", summary="Add a user with an initial password", tag="users", area="users",
           body=NewUser, response=UserOut, status=201)
def users_create(caller: Caller, body: NewUser) -> UserOut:
    try:
        user = _users().add(body.name, body.role, body.password, actor=caller.user.name)
    except AccountError as exc:
        raise _refused(exc, _field(exc)) from None
    assert user is not None
    return _out(user)


@operation("/users/<name>", "GET", summary="One user", tag="users", area="users", response=UserOut)
def users_get(caller: Caller, name: str) -> UserOut:
    return _out(_api_user(name))


@operation("/users/<name>", "PATCH", summary="Change a user's role or enabled (not your own; not the last admin)",
           tag="users", area="users", body=UserPatch, response=UserOut)
def users_patch(caller: Caller, name: str, body: UserPatch) -> UserOut:
    user = _api_user(name)
    service = _users()
    try:
        if body.role is not None:
            user = service.set_role(user.name, body.role, actor=caller.user.name)
        if body.enabled is not None:
            change = service.enable if body.enabled else service.disable
            user = change(user.name, actor=caller.user.name)
    except AccountError as exc:
        raise _refused(exc, "role" if body.role is not None else "enabled") from None
    return _out(user)


@operation("/users/<name>/password", "POST", summary="Reset a user's password (their sessions end)",
           tag="users", area="users", body=PasswordIn, response=PasswordOut)
def users_password(caller: Caller, name: str, body: PasswordIn) -> PasswordOut:
    user = _api_user(name)
    try:
        ended = _users().reset_password(user.name, body.password, actor=caller.user.name)
    except AccountError as exc:
        raise _refused(exc, "password") from None
    return PasswordOut(sessions_ended=ended)


def _not_own_token(caller: Caller, user: User) -> None:
    if caller.via == "token" and caller.user.name == user.name:
        raise ApiError(409, "own_token", "a token cannot replace or revoke itself; use the console's 用户 page")


@operation("/users/<name>/token", "POST", summary="Issue a personal API token (replaces theirs; shown once)",
           tag="users", area="users", response=TokenOut, status=201)
def users_token(caller: Caller, name: str) -> TokenOut:
    user = _api_user(name)
    _not_own_token(caller, user)
    return TokenOut(token=_users().issue_token(user.name, actor=caller.user.name))


@operation("/users/<name>/token", "DELETE", summary="Revoke a user's API token", tag="users", area="users",
           status=204)
def users_token_revoke(caller: Caller, name: str) -> None:
    user = _api_user(name)
    _not_own_token(caller, user)
    _users().revoke_token(user.name, actor=caller.user.name)
