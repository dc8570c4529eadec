"""The custom menu's service (the CLI and the console): the menu to push, its checks, pushes and their history.

A CLICK button whose key no enabled rule answers (input ``click``, now) is an error, not a warning: the
follower would get only the generic default reply, a button that seems broken. `allow_unanswered` pushes
anyway (say, before the rule is imported). Names the phone cuts short and many link domains are warnings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import cast
from urllib.parse import urlsplit

from bot.accounts.audit import AuditLog
from bot.store import Store
from bot.wechat.api import WeChatAPI, WeChatAPIError
from bot.wechat.menu import (
    SUB_WIDTH,
    TOP_WIDTH,
    Button,
    Leaf,
    Menu,
    MenuError,
    ParentButton,
    ViewButton,
    check_menu,
    diff,
    from_wechat_json,
    parse_menu,
    phone_label,
    to_wechat_dict,
    to_wechat_json,
)

MENU_NOT_FOUND = 46003
MAX_LINK_DOMAINS = 3  # WeChat's 65316; its own article links (mp.weixin.qq.com) do not count, as we read it
OWN_DOMAINS = frozenset({"mp.weixin.qq.com"})


class NoMenu(LookupError):
    """There is no menu to push: no `menu:` in config.yaml and none edited."""


class StaleMenu(RuntimeError):
    """The menu was saved by someone else since the version an edit was based on; nothing changed."""

    def __init__(self, current: int) -> None:
        super().__init__("menu: changed by someone else meanwhile; reload and try again")
        self.current = current


class NoWeChatAPI(RuntimeError):
    """No AppSecret is configured, so nothing can be sent to WeChat."""


@dataclass(frozen=True, slots=True)
class MenuCheck:
    menu: Menu
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PushedMenu:
    menu: Menu
    at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class MenuPush:
    menu: Menu
    at: float
    changes: tuple[str, ...]  # against the previous push (every button "+" on the first)
    first: bool


class MenuService:
    """The menu from config.yaml (or the one edited), checked against the rules, pushed with menu/create."""

    def __init__(self, store: Store, api: WeChatAPI | None, configured: Menu | None,
                 answers_click: Callable[[str], bool], clock: Callable[[], float] = time.time,
                 audit: AuditLog | None = None, article_links: tuple[tuple[str, str], ...] = (),
                 article_url: Callable[[str], str | None] = lambda article_id: None) -> None:
        self.store = store
        self.audit = audit
        self.api = api
        self.configured = configured
        self.answers_click = answers_click
        self.clock = clock
        self.article_links = dict(article_links)  # config.yaml's `article:` buttons: path -> article id
        self.article_url = article_url  # an article's URL in the live catalog (None: no such article now)

    def current(self) -> Menu | None:
        """The menu edited for the next push if any, else config.yaml's; None when the bot manages no menu.

        config.yaml's `article:` buttons get the article's URL in the live catalog, so that an article's new
        link (edited in the console) is what the next push sends."""
        edited = self.store.menu_edit()
        if edited:
            return from_stored(edited)
        if self.configured is None or not self.article_links:
            return self.configured
        return Menu(tuple(self._live(button, f"menu.button[{i}]") for i, button in enumerate(self.configured.buttons)))

    def _live(self, button: Button, path: str) -> Button:
        if isinstance(button, ParentButton):
            return replace(button, sub_buttons=tuple(cast(Leaf, self._live(sub, f"{path}.sub_button[{j}]"))
                                                     for j, sub in enumerate(button.sub_buttons)))
        article_id = self.article_links.get(path)
        if isinstance(button, ViewButton) and article_id is not None:
            # An article deleted since: config.yaml's URL stays (the catalog refuses to drop one rules use).
            return replace(button, url=self.article_url(article_id) or button.url)
        return button

    def required(self) -> Menu:
        """`current()`, or NoMenu saying how to give the bot one."""
        menu = self.current()
        if menu is None:
            raise NoMenu("no menu: add a menu: section to config.yaml (the bot then owns the account's menu)")
        return menu

    def version(self) -> int:
        """Bumped by every edit and drop: an edit passes the one it was based on (StaleMenu if it moved)."""
        return self.store.menu_version()

    def edit(self, menu: Menu, *, actor: str, expected_version: int | None = None) -> Menu:
        """Keep `menu` (checked) as the one to push next, over config.yaml's (audited as `actor`)."""
        menu = check_menu(menu)
        before = self.current()
        if self.store.save_menu_edit(to_wechat_json(menu), expected_version) < 0:
            raise StaleMenu(self.version())
        if before != menu:
            self._record(actor, "menu.edit", before, menu)
        return menu

    def drop_edit(self, *, actor: str, expected_version: int | None = None) -> None:
        """Forget the edited menu: config.yaml's applies again."""
        before = self.current()
        if self.store.drop_menu_edit(expected_version) < 0:
            raise StaleMenu(self.version())
        if before != self.current():
            self._record(actor, "menu.drop_edit", before, self.current())

    def _record(self, actor: str, action: str, before: Menu | None, after: Menu | None,
                **extra: object) -> None:
        if self.audit is not None:
            self.audit.record(actor, action, "menu",
                              before={"menu": to_wechat_dict(before)} if before else {},
                              after={**({"menu": to_wechat_dict(after)} if after else {}), **extra})

    def check(self, menu: Menu) -> MenuCheck:
        """WeChat's limits (MenuError), then the rules behind CLICK keys (errors) and what looks odd (warnings)."""
        menu = check_menu(menu)
        errors = [f"{path}.key: no enabled rule answers {button.key!r} for a menu click (the follower would get "
                  "the default reply); add a rule with inputs [click] and this keyword"
                  for path, button in menu.leaves()
                  if not isinstance(button, ViewButton) and not self.answers_click(button.key)]
        warnings: list[str] = []
        for i, top in enumerate(menu.buttons):
            names = [(f"menu.button[{i}]", top.name, TOP_WIDTH)]
            if isinstance(top, ParentButton):
                names += [(f"menu.button[{i}].sub_button[{j}]", s.name, SUB_WIDTH)
                          for j, s in enumerate(top.sub_buttons)]
            warnings += [f"{path}.name: {name!r} shows as {phone_label(name, width)!r} on the phone"
                         for path, name, width in names if phone_label(name, width) != name]
        domains = sorted({(urlsplit(b.url).hostname or "") for _, b in menu.leaves() if isinstance(b, ViewButton)}
                         - OWN_DOMAINS)
        if len(domains) > MAX_LINK_DOMAINS:
            warnings.append(f"menu: links to {len(domains)} domains ({', '.join(domains)}); WeChat may refuse more "
                            f"than {MAX_LINK_DOMAINS} (65316)")
        return MenuCheck(menu, tuple(errors), tuple(warnings))

    def push(self, menu: Menu, *, allow_unanswered: bool = False, actor: str) -> MenuPush:
        """Check, send with menu/create, record it; WeChatAPIError (nothing recorded) if WeChat refuses."""
        report = self.check(menu)
        if report.errors and not allow_unanswered:
            raise MenuError(list(report.errors))
        api = self._api()
        previous = self.last_pushed()
        body = to_wechat_json(report.menu)
        # Bytes: the client sends them as they are, raw UTF-8 (WeChat refuses \uXXXX escapes).
        api.post("menu/create", data=body.encode("utf-8"))
        at = self.clock()
        self.store.record_menu_push(body, at)
        changes = tuple(diff(previous.menu if previous else None, report.menu))
        self._record(actor, "menu.push", previous.menu if previous else None, report.menu, changes=list(changes))
        return MenuPush(report.menu, at, changes, previous is None)

    def fetch(self) -> Menu | None:
        """The menu WeChat has now (menu/get), or None when it has none (46003)."""
        try:
            result = self._api().get("menu/get")
        except WeChatAPIError as exc:
            if exc.code == MENU_NOT_FOUND:
                return None
            raise
        return from_wechat_json(result)

    def last_pushed(self) -> PushedMenu | None:
        history = self.history(1)
        return history[0] if history else None

    def history(self, limit: int = 10) -> list[PushedMenu]:
        """The last pushes, newest first."""
        return [PushedMenu(parse_menu(item["menu"]), float(item["at"])) for item in self.store.menu_pushes(limit)]

    def _api(self) -> WeChatAPI:
        if self.api is None:
            raise NoWeChatAPI("no AppSecret configured (set WECHAT_APP_SECRET): nothing can be sent to WeChat")
        return self.api


def from_stored(body: str) -> Menu:
    return parse_menu(json.loads(body))
