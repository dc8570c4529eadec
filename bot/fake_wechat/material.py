"""Uploads: permanent image/thumb material (/cgi-bin/material/add_material) and article images
(/cgi-bin/media/uploadimg). Callers hold `FakeWeChatState`'s lock."""

from __future__ import annotations

import dataclasses

from bot.fake_wechat.model import ApiRequest, JsonDict, UploadedFile, _Material, _WeChatError
from bot.fake_wechat.protocol import _new_id

IMAGE_MAX_BYTES = 10 * 1024 * 1024  # add_material?type=image (protocol doc section 8.2)
THUMB_MAX_BYTES = 64 * 1024  # add_material?type=thumb
UPLOADIMG_MAX_BYTES = 1024 * 1024  # media/uploadimg (section 8.1)


class Materials:
    """Permanent material by media_id; article images are checked but not kept (WeChat only hands out a URL)."""

    def __init__(self) -> None:
        """No material yet."""
        self._materials: dict[str, _Material] = {}

    def has(self, media_id: str) -> bool:
        """True if `media_id` names uploaded material (drafts need it for their cover)."""
        return media_id in self._materials

    def clear(self) -> None:
        """Forget every upload."""
        self._materials.clear()

    def snapshot(self) -> list[JsonDict]:
        """The material as JSON-able dicts."""
        return [dataclasses.asdict(m) for m in self._materials.values()]

    def api_add_material(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        """POST /cgi-bin/material/add_material."""
        kind = req.query.get("type")
        if kind == "image":
            upload = _upload(req, IMAGE_MAX_BYTES, frozenset({"bmp", "png", "jpeg", "jpg", "gif"}))
        elif kind == "thumb":
            upload = _upload(req, THUMB_MAX_BYTES, frozenset({"jpg", "jpeg"}))
        else:
            # voice/video materials exist on WeChat but this fake does not model them.
            raise _WeChatError(40004)
        media_id = _new_id()
        url = f"http://mmbiz.qpic.cn/fake/{media_id}/0?wx_fmt=jpeg"
        self._materials[media_id] = _Material(media_id, kind, upload.filename, len(upload.data), url)
        return {"media_id": media_id, "url": url}

    def api_uploadimg(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        """POST /cgi-bin/media/uploadimg."""
        _upload(req, UPLOADIMG_MAX_BYTES, frozenset({"jpg", "jpeg", "png"}))
        return {"url": f"http://mmbiz.qpic.cn/fake/{_new_id()}/0?wx_fmt=jpeg"}


def _upload(req: ApiRequest, limit: int, extensions: frozenset[str]) -> UploadedFile:
    upload = req.file("media")
    if upload is None or not upload.data:
        raise _WeChatError(41005)
    ext = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    if ext and ext not in extensions:
        raise _WeChatError(40005)
    if len(upload.data) > limit:
        raise _WeChatError(40009)
    return upload
