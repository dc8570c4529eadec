"""The account's custom menu (自定义菜单): typed buttons, validated against WeChat's limits, diffed and drawn.

WeChat's limits (menu/create; counted in UTF-8 bytes): 1-3 top buttons, 1-5 sub-buttons under a top button,
names at most 16 bytes on top and 60 below, keys 128 bytes, URLs 1024 bytes, two levels only. The protocol
notes (/work/shared/wechat-protocol.md) are silent on the menu; these follow WeChat's menu/create page.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TOP_BUTTONS = 3
MAX_SUB_BUTTONS = 5
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
# The phone's menu bar: about 4 Chinese characters (8 Latin) on a top button and 7 on a sub-button before "…".
# An approximation by display width (CJK 2 columns, others 1): WeChat's real cut depends on the font and screen.
TOP_WIDTH = 8
SUB_WIDTH = 14
ELLIPSIS = "…"

_LEAF_FIELDS = frozenset({"name", "type", "key", "url", "sub_button"})
# Documented menu/create types this bot does not manage (their answers are not keyword rules or links).
_OTHER_TYPES = frozenset({"scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
                          "location_select", "media_id", "view_limited", "article_id", "article_view_limited"})
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")


class MenuError(ValueError):
    """A menu WeChat would refuse; `problems` lists each one with its path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class ClickButton:
    """Pushes a CLICK event with `key`; a keyword rule with the `click` input answers it."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class ViewButton:
    """Opens `url` in WeChat's browser."""

    name: str
    url: str


Leaf = ClickButton | ViewButton


@dataclass(frozen=True, slots=True)
class ParentButton:
    """A top button that opens 1-5 sub-buttons."""

    name: str
    sub_buttons: tuple[Leaf, ...]


Button = ClickButton | ViewButton | ParentButton


@dataclass(frozen=True, slots=True)
class Menu:
    buttons: tuple[Button, ...]

    def click_keys(self) -> list[str]:
        return [b.key for _, b in self.leaves() if isinstance(b, ClickButton)]

    def leaves(self) -> Iterator[tuple[str, Leaf]]:
        """Every clickable button with its path (``menu.button[1].sub_button[0]``)."""
        for i, button in enumerate(self.buttons):
            if isinstance(button, ParentButton):
                for j, sub in enumerate(button.sub_buttons):
                    yield f"menu.button[{i}].sub_button[{j}]", sub
            else:
                yield f"menu.button[{i}]", button


# -- parsing -------------------------------------------------------------------------------------------


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


class _Parser:
    """Collects every problem with its path instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.keys: dict[str, str] = {}  # click key -> path of its first use

    def fail(self, path: str, problem: str) -> None:
        self.problems.append(f"{path}: {problem}")

    def text(self, data: Mapping[str, Any], field: str, path: str, limit: int) -> str | None:
        value = data.get(field)
        if value is None:
            self.fail(f"{path}.{field}", "is required")
            return None
        if not isinstance(value, str):
            self.fail(f"{path}.{field}", f"must be a string, not {type(value).__name__}")
            return None
        if not value.strip():
            self.fail(f"{path}.{field}", "must not be empty")
            return None
        if any("\ud800" <= c <= "\udfff" for c in value):  # JSON may carry them; UTF-8 cannot
            self.fail(f"{path}.{field}", "not valid text (lone surrogates)")
            return None
        if value != value.strip():
            self.fail(f"{path}.{field}", "must not start or end with spaces")
            return None
        if _nbytes(value) > limit:
            self.fail(f"{path}.{field}", f"{_nbytes(value)} bytes, at most {limit}")
            return None
        return value

    def button(self, data: Any, path: str, top: bool) -> Button | None:
        if not isinstance(data, Mapping):
            self.fail(path, "must be a mapping with name and type (or sub_button)")
            return None
        unknown = sorted(set(data) - _LEAF_FIELDS)
        kind = data.get("type")
        if kind == "miniprogram":
            self.fail(f"{path}.type", "miniprogram buttons are not supported by this bot: use click or view")
            return None
        if unknown:
            self.fail(path, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
        name = self.text(data, "name", path, TOP_NAME_BYTES if top else SUB_NAME_BYTES)
        subs = data.get("sub_button")
        if subs:  # menu/get shows an empty sub_button on every leaf
            if not top:
                self.fail(f"{path}.sub_button", "a sub-button cannot have sub-buttons (WeChat allows two levels)")
                return None
            return self.parent(data, subs, path, name)
        if subs is not None and not isinstance(subs, list):
            self.fail(f"{path}.sub_button", "must be a list")
            return None
        return self.leaf(data, path, name)

    def parent(self, data: Mapping[str, Any], subs: Any, path: str, name: str | None) -> Button | None:
        extra = [f for f in ("type", "key", "url") if f in data]
        if extra:
            self.fail(path, f"a button with sub_button has no {', '.join(extra)} (tapping it opens the sub-buttons)")
        if not isinstance(subs, list):
            self.fail(f"{path}.sub_button", "must be a list")
            return None
        if len(subs) > MAX_SUB_BUTTONS:
            self.fail(f"{path}.sub_button", f"{len(subs)} sub-buttons, at most {MAX_SUB_BUTTONS}")
        leaves = [self.button(s, f"{path}.sub_button[{j}]", top=False) for j, s in enumerate(subs)]
        if name is None or extra or any(b is None for b in leaves):
            return None
        return ParentButton(name, tuple(b for b in leaves if isinstance(b, ClickButton | ViewButton)))

    def leaf(self, data: Mapping[str, Any], path: str, name: str | None) -> Button | None:
        kind = data.get("type")
        if kind is None:
            self.fail(f"{path}.type", "is required: click or view (or give the button a sub_button list)")
            return None
        if kind in _OTHER_TYPES:
            self.fail(f"{path}.type", f"{kind!r} buttons are not supported by this bot: use click or view")
            return None
        if kind not in ("click", "view"):
            self.fail(f"{path}.type", f"unknown type {kind!r}: use click or view")
            return None
        other = "url" if kind == "click" else "key"
        if other in data:
            self.fail(f"{path}.{other}", f"a {kind} button has no {other}")
        if kind == "click":
            key = self.text(data, "key", path, KEY_BYTES)
            if key is not None:
                if key in self.keys:
                    self.fail(f"{path}.key", f"duplicate key {key!r} (also {self.keys[key]}.key)")
                else:
                    self.keys[key] = path
            return ClickButton(name, key) if name is not None and key is not None and other not in data else None
        url = self.text(data, "url", path, URL_BYTES)
        if url is not None and not _URL.fullmatch(url):
            self.fail(f"{path}.url", f"must be an http(s) URL, got {url!r}")
            url = None
        return ViewButton(name, url) if name is not None and url is not None and other not in data else None


def parse_menu(data: Any, path: str = "menu") -> Menu:
    """The menu in `data` (menu/create's shape: ``{"button": [...]}``); MenuError lists every problem."""
    parser = _Parser()
    if not isinstance(data, Mapping):
        raise MenuError([f"{path}: must be a mapping with a button list"])
    unknown = sorted(set(data) - {"button"})
    if unknown:
        parser.fail(path, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    items = data.get("button")
    if not isinstance(items, list):
        raise MenuError([*parser.problems, f"{path}.button: must be a list of 1 to {MAX_TOP_BUTTONS} buttons"])
    if not 1 <= len(items) <= MAX_TOP_BUTTONS:
        parser.fail(f"{path}.button", f"{len(items)} buttons, must be 1 to {MAX_TOP_BUTTONS}")
    buttons = [parser.button(item, f"{path}.button[{i}]", top=True) for i, item in enumerate(items)]
    if parser.problems:
        raise MenuError(parser.problems)
    return Menu(tuple(b for b in buttons if b is not None))


def check_menu(menu: Menu) -> Menu:
    """`menu` checked again (a Menu built by hand skips `parse_menu`)."""
    return parse_menu(to_wechat_dict(menu))


# -- WeChat's JSON ---------------------------------------------------------------------------------------


def _leaf_dict(button: Leaf) -> dict[str, str]:
    if isinstance(button, ClickButton):
        return {"type": "click", "name": button.name, "key": button.key}
    return {"type": "view", "name": button.name, "url": button.url}


def to_wechat_dict(menu: Menu) -> dict[str, Any]:
    """menu/create's body as a dict (also the `menu:` section of config.yaml)."""
    return {"button": [{"name": b.name, "sub_button": [_leaf_dict(s) for s in b.sub_buttons]}
                       if isinstance(b, ParentButton) else _leaf_dict(b) for b in menu.buttons]}


def to_wechat_json(menu: Menu) -> str:
    """menu/create's body: raw UTF-8 text, never ``\\uXXXX`` escapes (WeChat refuses those with 40033)."""
    return json.dumps(to_wechat_dict(menu), ensure_ascii=False, separators=(",", ":"))


def from_wechat_json(result: Mapping[str, Any] | str) -> Menu:
    """The menu in a menu/get answer (``{"menu": {"button": [...]}}``, leaves carrying an empty sub_button)."""
    data = json.loads(result) if isinstance(result, str) else result
    menu = data.get("menu") if isinstance(data, Mapping) else None
    if not isinstance(menu, Mapping):
        raise MenuError(["menu: the answer has no menu object"])
    # menu/get also returns a `menuid` once personalised menus exist; only the default menu is managed here.
    return parse_menu({k: v for k, v in menu.items() if k != "menuid"})


# -- how it looks, and what changed -------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Columns on a phone, roughly: wide and full-width characters (CJK) 2, combining marks 0, others 1."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def phone_label(name: str, width: int) -> str:
    """`name` as the phone shows it in `width` columns: cut with "…" when it does not fit."""
    if display_width(name) <= width:
        return name
    shown, used = "", 0
    for c in name:
        used += display_width(c)
        if used > width:
            break
        shown += c
    return shown + ELLIPSIS


@dataclass(frozen=True, slots=True)
class PhoneButton:
    label: str  # what the phone shows
    name: str
    sub_labels: tuple[str, ...] = ()


def phone_labels(menu: Menu) -> tuple[PhoneButton, ...]:
    """How the phone truncates each name (top ≈ 4 Chinese characters or 8 Latin, sub-buttons ≈ 7 Chinese)."""
    return tuple(PhoneButton(phone_label(b.name, TOP_WIDTH), b.name,
                             tuple(phone_label(s.name, SUB_WIDTH) for s in b.sub_buttons)
                             if isinstance(b, ParentButton) else ())
                 for b in menu.buttons)


def action(button: Button) -> str:
    if isinstance(button, ClickButton):
        return f"click {button.key}"
    if isinstance(button, ViewButton):
        return f"view {button.url}"
    return f"{len(button.sub_buttons)} sub-buttons"


def _named(buttons: tuple[Button, ...]) -> dict[str, Button]:
    """Buttons by name; a repeated name is told apart by its occurrence ("名称 #2")."""
    named: dict[str, Button] = {}
    for b in buttons:
        label, n = b.name, 1
        while label in named:
            n += 1
            label = f"{b.name} #{n}"
        named[label] = b
    return named


def _flat(menu: Menu | None) -> dict[str, Button]:
    flat: dict[str, Button] = {}
    for name, button in _named(menu.buttons if menu else ()).items():
        flat[name] = button
        if isinstance(button, ParentButton):
            flat.update({f"{name} › {sub}": b for sub, b in _named(button.sub_buttons).items()})
    return flat


def _order(menu: Menu | None) -> dict[str, list[str]]:
    """The order of the buttons on each level: "" for the top, a parent's name for its sub-buttons."""
    if menu is None:
        return {}
    levels = {"": list(_named(menu.buttons))}
    for name, button in _named(menu.buttons).items():
        if isinstance(button, ParentButton):
            levels[name] = list(_named(button.sub_buttons))
    return levels


def diff(old: Menu | None, new: Menu) -> list[str]:
    """What changed, one line each: ``+`` added, ``-`` removed, ``~`` changed, ``↕`` reordered."""
    before, after = _flat(old), _flat(new)
    lines = [f"+ {path} ({action(b)})" for path, b in after.items() if path not in before]
    lines += [f"- {path} ({action(b)})" for path, b in before.items() if path not in after]
    for path, b in after.items():
        a = before.get(path)
        if a is not None and a != b and not (isinstance(a, ParentButton) and isinstance(b, ParentButton)):
            lines.append(f"~ {path}: {action(a)} → {action(b)}")
    old_order, new_order = _order(old), _order(new)
    for level, names in new_order.items():
        was = old_order.get(level)
        if was is None:
            continue
        kept_was, kept_now = [n for n in was if n in names], [n for n in names if n in was]
        if kept_was != kept_now:
            where = "top buttons" if not level else f"{level} sub-buttons"
            lines.append(f"↕ {where}: {', '.join(kept_was)} → {', '.join(kept_now)}")
    return lines
