"""The custom menu (自定义菜单) in the console: a fixed grid of buttons, the phone's view, save, push, history.

Every check and change is MenuService's (the CLI's too); this module only maps the grid to menu/create's
shape and the service's messages (paths like ``menu.button[0].sub_button[1].name``) back to the grid's fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from flask import current_app, flash, request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from werkzeug.wrappers import Response as BaseResponse

from bot.config import MENU_SURVEY_WHO
from bot.rules.survey import survey_link
from bot.web.console.apispec import ApiError, VersionRequired, operation, stale
from bot.web.console.auth import Caller, config, services
from bot.web.console.blueprints import pages
from bot.web.console.texts import menu_wechat_error, translate
from bot.web.console.views import page, redirect_to, render
from bot.wechat.api import WeChatAPIError
from bot.wechat.menu import (
    MAX_SUB_BUTTONS,
    MAX_TOP_BUTTONS,
    SUB_NAME_BYTES,
    TOP_NAME_BYTES,
    Menu,
    MenuError,
    ParentButton,
    ViewButton,
    diff,
    parse_menu,
    phone_labels,
    to_wechat_dict,
)
from bot.wechat.menu_service import MenuCheck, MenuService, NoMenu, NoWeChatAPI, StaleMenu

SLOT_FIELDS = ("name", "type", "key", "url")
_PATH = re.compile(r"^menu(?:\.button(?:\[(\d+)\](?:\.sub_button(?:\[(\d+)\])?)?)?)?(?:\.(name|type|key|url))?$")


def _service() -> MenuService:
    return current_app.extensions["wxbot"].menu


def link_choices() -> list[tuple[str, str]]:
    """The links a view button may offer, (label, url): the live catalog's articles, and the survey's tracked link
    (it counts the click and redirects to the survey's current URL, so a survey edit needs no new menu)."""
    cfg = config()
    catalog = services().rules.catalog()
    survey = survey_link(cfg.account.public_base_url, cfg.secret_key, MENU_SURVEY_WHO)
    return [(a.title, a.url) for a in catalog.articles] + [(f"问卷：{catalog.survey.title}", survey)]


def click_keys() -> list[tuple[str, str]]:
    """(keyword, rule name) of every enabled rule that answers a menu click."""
    return [(k, r.name) for r in services().rules.current().rules if r.enabled and "click" in r.inputs
            for k in r.keywords]


# -- the grid <-> menu/create's shape ----------------------------------------------------------------------

def _slot(prefix: str) -> dict[str, str]:
    return {f: request.form.get(f"{prefix}_{f}", "").strip() for f in SLOT_FIELDS}


def _filled(slot: dict[str, str]) -> bool:
    return any(slot[f] for f in ("name", "key", "url"))


def _leaf(slot: dict[str, str]) -> dict[str, str]:
    kind = slot["type"] or "click"
    return {"name": slot["name"], "type": kind, **({"key": slot["key"]} if kind == "click" else {"url": slot["url"]})}


@dataclass
class Grid:
    """The posted grid as menu/create's dict, and where each button came from (empty rows are skipped)."""

    data: dict[str, Any]
    form: dict[str, str]
    tops: list[int] = field(default_factory=list)  # slot of menu.button[i]
    subs: dict[int, list[int]] = field(default_factory=dict)  # slot of menu.button[i].sub_button[j]


def form_grid() -> Grid:
    grid = Grid({"button": []}, {})
    for i in range(MAX_TOP_BUTTONS):
        top = _slot(f"b{i}")
        subs = [(j, _slot(f"b{i}_{j}")) for j in range(MAX_SUB_BUTTONS)]
        grid.form.update({f"b{i}_{f}": v for f, v in top.items()})
        grid.form.update({f"b{i}_{j}_{f}": v for j, s in subs for f, v in s.items()})
        filled = [(j, s) for j, s in subs if _filled(s)]
        if not filled and not _filled(top):
            continue
        index = len(grid.tops)
        grid.tops.append(i)
        if filled:
            grid.subs[index] = [j for j, _ in filled]
            grid.data["button"].append({"name": top["name"], "sub_button": [_leaf(s) for _, s in filled]})
        else:
            grid.data["button"].append(_leaf(top))
    return grid


def menu_form(menu: Menu | None) -> dict[str, str]:
    """The grid's fields for `menu` (its buttons in the first slots)."""
    form: dict[str, str] = {}
    for i, button in enumerate(menu.buttons if menu else ()):
        subs = button.sub_buttons if isinstance(button, ParentButton) else ()
        for prefix, b in [(f"b{i}", button), *((f"b{i}_{j}", s) for j, s in enumerate(subs))]:
            form[f"{prefix}_name"] = b.name
            if not isinstance(b, ParentButton):
                form[f"{prefix}_type"] = "view" if isinstance(b, ViewButton) else "click"
                form[f"{prefix}_{'url' if isinstance(b, ViewButton) else 'key'}"] = getattr(
                    b, "url" if isinstance(b, ViewButton) else "key")
    return form


def field_of(path: str, grid: Grid | None = None) -> str:
    """The grid field a service path names (``menu.button[1].sub_button[0].key`` → ``b1_0_key``); else "menu"."""
    found = _PATH.match(path)
    if not found or found.group(1) is None:
        return "menu"
    i, j, name = int(found.group(1)), found.group(2), found.group(3) or "name"
    top = grid.tops[i] if grid and i < len(grid.tops) else i
    if j is None:
        return f"b{top}_{name}"
    sub = grid.subs.get(i, [])[int(j)] if grid and int(j) < len(grid.subs.get(i, [])) else int(j)
    return f"b{top}_{sub}_{name}"


@dataclass
class Problems:
    """Errors and warnings in Chinese by grid field ("menu" for the whole menu)."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: dict[str, list[str]], messages: tuple[str, ...] | list[str], grid: Grid | None) -> None:
        for message in messages:
            path, _, text = message.partition(": ")
            kind.setdefault(field_of(path, grid), []).append(translate(text or message))

    def __bool__(self) -> bool:
        return bool(self.errors)


def check_problems(report: MenuCheck | None, exc: MenuError | None = None, grid: Grid | None = None) -> Problems:
    found = Problems()
    if exc is not None:
        found.add(found.errors, exc.problems, grid)
    if report is not None:
        found.add(found.errors, report.errors, grid)
        found.add(found.warnings, report.warnings, grid)
    return found


# -- pages -------------------------------------------------------------------------------------------------

def _form_version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        return -1  # no version: never saved over someone's change


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, config().account.tz).strftime("%Y-%m-%d %H:%M")


def _history() -> list[dict[str, Any]]:
    pushes = _service().history(10)
    return [{"at": _when(p.at), "changes": diff(pushes[k + 1].menu if k + 1 < len(pushes) else None, p.menu)}
            for k, p in enumerate(pushes)]


def _menu_page(form: dict[str, str], shown: Menu | None, problems: Problems, status: int = 200,
               unsaved: bool = False, version: int | None = None) -> tuple[str, int]:
    service = _service()
    last = service.last_pushed()
    changes = diff(last.menu, shown) if shown is not None and last is not None else None
    return render("console/menu.html", title="自定义菜单", form=form, shown=shown,
                  labels=phone_labels(shown) if shown else (), problems=problems, last=last,
                  last_at=_when(last.at) if last else "", changes=changes, history=_history(),
                  has_secret=service.api is not None, edited=service.store.menu_edit() is not None,
                  unsaved=unsaved, version=service.version() if version is None else version,
                  open_subs={int(k[1]) for k in problems.errors if re.match(r"b\d_\d", k)},
                  links=link_choices(), keys=click_keys(), tops=range(MAX_TOP_BUTTONS),
                  subs=range(MAX_SUB_BUTTONS), top_bytes=TOP_NAME_BYTES, sub_bytes=SUB_NAME_BYTES), status


@pages.get("/menu")
@page("menu")
def menu(who: Caller) -> tuple[str, int]:
    current = _service().current()
    report = _service().check(current) if current is not None else None
    return _menu_page(menu_form(current), current, check_problems(report))


@pages.post("/menu")
@page("menu")
def menu_save(who: Caller) -> tuple[str, int] | BaseResponse:
    service = _service()
    expected = _form_version()
    grid = form_grid()
    try:
        if request.form.get("action") == "drop":
            service.drop_edit(actor=who.user.name, expected_version=expected)
            flash("已恢复为 config.yaml 中的菜单", "ok")
            return redirect_to("console.menu")
        try:
            edited = parse_menu(grid.data)
        except MenuError as exc:
            return _menu_page(grid.form, None, check_problems(None, exc, grid), 422, unsaved=True, version=expected)
        report = service.check(edited)
        problems = check_problems(report, grid=grid)
        service.edit(edited, actor=who.user.name, expected_version=expected)
    except StaleMenu:
        # The edit stays in the form with the version it was based on: saving again cannot overwrite the newer menu.
        found = Problems(errors={"menu": ["菜单已被他人修改：请先刷新页面查看最新的菜单，再重新修改"]})
        return _menu_page(grid.form, None, found, 409, unsaved=True, version=expected)
    if request.form.get("action") != "push":
        flash("菜单已保存（尚未推送到微信）" + ("，但还有错误需要修改后才能推送" if problems else ""),
              "error" if problems else "ok")
        return redirect_to("console.menu")
    if problems:
        return _menu_page(menu_form(edited), edited, problems, 422)
    try:
        pushed = service.push(edited, actor=who.user.name)
    except NoWeChatAPI:
        flash("菜单已保存，但未推送：未配置 AppSecret（WECHAT_APP_SECRET），无法连接微信。", "error")
    except WeChatAPIError as exc:
        flash(f"菜单已保存，但未推送。{menu_wechat_error(exc.code, exc.message)}", "error")
    else:
        flash("菜单已推送到微信" + ("（首次推送）" if pushed.first else f"，{len(pushed.changes)} 处改动"), "ok")
    return redirect_to("console.menu")


# -- the JSON API -------------------------------------------------------------------------------------------

class LeafIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr
    type: Literal["click", "view"]
    key: StrictStr | None = None
    url: StrictStr | None = None


class ButtonIn(BaseModel):
    """A click or view button, or (with sub_button and no type) a top button opening 1–5 sub-buttons."""

    model_config = ConfigDict(extra="forbid")
    name: StrictStr
    type: Literal["click", "view"] | None = None
    key: StrictStr | None = None
    url: StrictStr | None = None
    sub_button: list[LeafIn] | None = Field(None, max_length=10)


class MenuBody(BaseModel):
    """menu/create's body (names at most 16 bytes on top and 60 below in UTF-8, keys 128, URLs 1024)."""

    model_config = ConfigDict(extra="forbid")
    button: list[ButtonIn] = Field(max_length=10)


class Problem(BaseModel):
    field: str = Field(description="the path, like menu.button[0].sub_button[1].name")
    message: str
    text: str = Field(description="the message in Chinese")


class MenuState(BaseModel):
    version: int = Field(description="send it back as ?version= with PUT: a stale one gets 409")
    menu: dict[str, Any] | None = Field(description="the menu to push (menu/create's body), null if none")
    source: Literal["edited", "config", "none"]
    errors: list[Problem] = Field(description="what stops a push")
    warnings: list[Problem]


class PushOut(BaseModel):
    at: datetime
    first: bool
    changes: list[str]


class PushedOut(BaseModel):
    at: datetime
    menu: dict[str, Any]


class PushedState(BaseModel):
    last: PushedOut | None
    changes: list[str] | None = Field(description="the menu to push against the last pushed one")
    history: list[PushedOut]


def _problem(message: str) -> Problem:
    path, _, text = message.partition(": ")
    return Problem(field=path, message=message, text=translate(text or message))


def _state() -> MenuState:
    service = _service()
    current = service.current()
    report = service.check(current) if current is not None else None
    source: Literal["edited", "config", "none"] = (
        "none" if current is None else "edited" if service.store.menu_edit() is not None else "config")
    return MenuState(version=service.version(), menu=to_wechat_dict(current) if current else None, source=source,
                     errors=[_problem(e) for e in report.errors] if report else [],
                     warnings=[_problem(w) for w in report.warnings] if report else [])


def _invalid(exc: MenuError) -> ApiError:
    path = exc.problems[0].partition(": ")[0]
    return ApiError(422, "invalid", "; ".join(exc.problems), path)


@operation("/menu", "GET", summary="The menu to push (the edit, else config.yaml's) and its check", tag="menu",
           area="menu", response=MenuState)
def menu_get(caller: Caller) -> MenuState:
    return _state()


@operation("/menu", "PUT", summary="Keep a menu as the one to push next (checked against WeChat's limits)",
           tag="menu", area="menu", body=MenuBody, query=VersionRequired, response=MenuState)
def menu_put(caller: Caller, body: MenuBody, query: VersionRequired) -> MenuState:
    try:
        _service().edit(parse_menu(body.model_dump(exclude_none=True)), actor=caller.user.name,
                        expected_version=query.version)
    except MenuError as exc:
        raise _invalid(exc) from None
    except StaleMenu as exc:
        raise stale(f"{exc} (菜单已被他人修改，请重新读取后再改)", exc.current) from None
    return _state()


@operation("/menu/push", "POST", summary="Push the menu to WeChat (menu/create); 502 with WeChat's errcode",
           tag="menu", area="menu", response=PushOut, errors=(422, 502))
def menu_push(caller: Caller) -> PushOut:
    service = _service()
    try:
        pushed = service.push(service.required(), actor=caller.user.name)
    except NoMenu as exc:
        raise ApiError(409, "no_menu", str(exc)) from None
    except NoWeChatAPI as exc:
        raise ApiError(409, "no_app_secret", str(exc)) from None
    except MenuError as exc:
        raise _invalid(exc) from None
    except WeChatAPIError as exc:
        raise ApiError(502, "wechat_refused", f"WeChat refused the menu: errcode {exc.code}: {exc.message} "
                       f"({menu_wechat_error(exc.code, exc.message)})", None, errcode=exc.code) from None
    return PushOut(at=datetime.fromtimestamp(pushed.at, config().account.tz), first=pushed.first,
                   changes=list(pushed.changes))


@operation("/menu/pushed", "GET", summary="The last pushed menu, what the edit changes against it, the history",
           tag="menu", area="menu", response=PushedState)
def menu_pushed(caller: Caller) -> PushedState:
    service = _service()
    tz = config().account.tz
    history = [PushedOut(at=datetime.fromtimestamp(p.at, tz), menu=to_wechat_dict(p.menu))
               for p in service.history(10)]
    current = service.current()
    last = service.last_pushed()
    return PushedState(last=history[0] if history else None,
                       changes=diff(last.menu, current) if last and current else None, history=history)
