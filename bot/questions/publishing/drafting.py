"""Before WeChat sees the post: the groups released once, the cover uploaded once, the draft made once."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.questions.publishing.common import Step
from bot.questions.render import PostContentError, RenderedPost, is_answered, render_post
from bot.store import PostEdit

log = logging.getLogger(__name__)


class Drafting(Step):
    """render → release → cover → draft/add, each recorded on the post so a resumed attempt skips what is done."""

    def render(self, pid: str, post: Mapping[str, str]) -> RenderedPost:
        """The post as it will be published: confirmed question texts only (editors read each one)."""
        return render_post(post, self.store.groups(pid), self.pub, confirmed_only=True)

    def release(self, pid: str, post: Mapping[str, str], owner: str, now: datetime) -> None:
        """Once per post: unanswered groups go back to the queue; the answered groups' askers are queued."""
        if post.get("released") == "1":
            return
        groups = self.store.groups(pid)
        unanswered = [g for g in groups if g.get("state") == "open" and not is_answered(g)]
        if unanswered:
            self.store.return_questions(pid, [q for g in unanswered for q, _ in g["q"]])

            def mark(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
                return PostEdit(groups={gid: {**g, "state": "returned"} for gid, g in found.items() if g})

            self.store.edit_post(pid, [g["id"] for g in unanswered], {"publishing"}, mark)
        self.store.queue_notifications(pid, Counter(a for g in groups if is_answered(g) for _, a in g["q"]))
        self.record(pid, owner, now, {"released": "1"})

    def cover(self, pid: str, post: Mapping[str, str], owner: str, now: datetime) -> str:
        """The cover's permanent media_id, recorded on the post."""
        cover_id = post.get("cover_media_id", "")
        if not cover_id:
            cover_id, cover_url = self._upload_cover()
            self.record(pid, owner, now, {"cover_media_id": cover_id, "cover_url": cover_url})
        return cover_id

    def _upload_cover(self) -> tuple[str, str]:
        """Uploaded once per image content (material/add_material), then reused."""
        assert self.api is not None
        data = Path(self.pub.cover_image).read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:32]
        cached = self.store.cover(digest)
        if cached:
            return cached
        name = Path(self.pub.cover_image).name
        mime = "image/png" if name.lower().endswith(".png") else "image/jpeg"
        result = self.api.material.add("image", (name, io.BytesIO(data), mime))
        media_id, url = str(result["media_id"]), str(result.get("url", ""))
        self.store.set_cover(digest, media_id, url)
        return media_id, url

    def draft(self, pid: str, post: Mapping[str, str], owner: str, now: datetime, rendered: RenderedPost,
              cover_id: str) -> str:
        """The draft's media_id: the recorded one while the content is unchanged, else a new draft/add."""
        assert self.api is not None
        article = {"title": rendered.title, "author": self.pub.author, "digest": rendered.digest,
                   "content": rendered.html, "content_source_url": "", "thumb_media_id": cover_id,
                   "need_open_comment": 0, "only_fans_can_comment": 0}
        content = hashlib.sha256(json.dumps(article, sort_keys=True).encode()).hexdigest()[:32]
        draft = post.get("draft_media_id", "")
        taken = bool(draft) and post.get("submitted_draft") == draft  # WeChat may have used this draft
        if draft and post.get("draft_content", content) != content:
            if taken:
                raise PostContentError(
                    "the post was changed after it was handed to WeChat, which may have published it: check "
                    "the published list (发表记录) on the WeChat admin site; if it is there, record its link "
                    "with `posts mark-published`, if not, run `posts mark-not-published` and reschedule")
            # Edited since the draft was made (say, an answer corrected after WeChat refused the submit):
            # a new draft, or the correction would never reach the article.
            log.info("post %s changed since its draft was made; making a new draft", pid)
            draft = ""
        if not draft:
            draft = str(self.api.post("draft/add", data={"articles": [article]})["media_id"])
            self.record(pid, owner, now, {"draft_media_id": draft, "title": rendered.title, "draft_content": content})
        return draft
