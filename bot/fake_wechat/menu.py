"""The custom menu: /cgi-bin/menu/create, menu/get and menu/delete. Callers hold `FakeWeChatState`'s lock.

menu/create is checked as WeChat documents it (the protocol notes are silent on the menu): 1-3 buttons,
1-5 sub-buttons, two levels, names at most 16 bytes on top and 60 below, keys 128, URLs 1024 (UTF-8), each
button type with the field it needs; the first violation is answered with its errcode (40016-40027,
40054/40055 for a URL that is not http(s), our reading of "invalid url domain"). menu/get answers as WeChat
does, every leaf with an empty ``sub_button``, or 46003 when no menu was created.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from bot.fake_wechat.model import ApiRequest, JsonDict, _WeChatError
from bot.fake_wechat.protocol import UNICODE_ESCAPE, _parse_json

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
NAME_MAX_BYTES = (16, 60)  # top, sub
KEY_MAX_BYTES = 128
URL_MAX_BYTES = 1024
# Each documented button type and the field it needs (miniprogram also needs appid and pagepath).
BUTTON_FIELDS = {"click": "key", "view": "url", "scancode_push": "key", "scancode_waitmsg": "key",
                 "pic_sysphoto": "key", "pic_photo_or_album": "key", "pic_weixin": "key", "location_select": "key",
                 "media_id": "media_id", "view_limited": "media_id", "article_id": "article_id",
                 "article_view_limited": "article_id", "miniprogram": "url"}
_HTTP_URL = re.compile(r"https?://[^\s/?#]+\S*")


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


class Menus:
    """The menu each account created last."""

    def __init__(self) -> None:
        self._menus: dict[str, JsonDict] = {}

    def menu(self, appid: str) -> JsonDict | None:
        """The account's menu as menu/get shows it, or None."""
        menu = self._menus.get(appid)
        return copy.deepcopy(menu) if menu is not None else None

    def clear(self) -> None:
        """Forget every menu."""
        self._menus.clear()

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self._menus)

    def api_create(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """POST /cgi-bin/menu/create."""
        if UNICODE_ESCAPE.search(req.body):
            raise _WeChatError(40033)
        body = _parse_json(req)
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
            raise _WeChatError(40016)
        self._menus[appid or ""] = {"button": [_button(b, top=True) for b in buttons]}
        return {"errcode": 0, "errmsg": "ok"}

    def api_get(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """GET /cgi-bin/menu/get."""
        menu = self.menu(appid or "")
        if menu is None:
            raise _WeChatError(46003)
        return {"menu": menu}

    def api_delete(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """GET /cgi-bin/menu/delete (answers ok when there was none, as WeChat does)."""
        self._menus.pop(appid or "", None)
        return {"errcode": 0, "errmsg": "ok"}


def _button(data: Any, top: bool) -> JsonDict:
    """One button as stored (menu/get's shape), or the errcode WeChat answers for its first problem."""
    bad_type, bad_name, bad_key, bad_url = (40017, 40018, 40019, 40020) if top else (40024, 40025, 40026, 40027)
    if not isinstance(data, dict):
        raise _WeChatError(47001)
    name = data.get("name")
    if not isinstance(name, str) or not name or _nbytes(name) > NAME_MAX_BYTES[not top]:
        raise _WeChatError(bad_name)
    subs = data.get("sub_button")
    if subs:
        if not top:
            raise _WeChatError(40022)
        if not isinstance(subs, list) or len(subs) > MAX_SUB_BUTTONS:
            raise _WeChatError(40023)
        return {"name": name, "sub_button": [_button(s, top=False) for s in subs]}
    kind = data.get("type")
    if kind not in BUTTON_FIELDS:
        raise _WeChatError(bad_type)
    field = BUTTON_FIELDS[kind]
    value = data.get(field)
    if field == "key" and (not isinstance(value, str) or not value or _nbytes(value) > KEY_MAX_BYTES):
        raise _WeChatError(bad_key)
    if field == "url":
        if not isinstance(value, str) or not value or _nbytes(value) > URL_MAX_BYTES:
            raise _WeChatError(bad_url)
        if not _HTTP_URL.fullmatch(value):
            raise _WeChatError(40055 if top else 40054)
    if not isinstance(value, str) or not value:
        raise _WeChatError(40007 if field == "media_id" else 47001)
    stored = {"type": kind, "name": name, field: value}
    if kind == "miniprogram":
        for extra in ("appid", "pagepath"):
            if not isinstance(data.get(extra), str) or not data[extra]:
                raise _WeChatError(47001, f"data format error hint: miniprogram button needs {extra}")
            stored[extra] = data[extra]
    return {**stored, "sub_button": []}
