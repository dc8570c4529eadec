"""Drafts, publishing and mass sends: /cgi-bin/draft/add, /cgi-bin/freepublish/submit and get,
/cgi-bin/message/mass/sendall. Callers hold `FakeWeChatState`'s lock."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Sequence

from bot.fake_wechat.model import (
    FINAL_PUBLISH_STATUSES,
    PUBLISHING,
    ApiRequest,
    Fault,
    JsonDict,
    _Draft,
    _MassSend,
    _PublishJob,
    _WeChatError,
)
from bot.fake_wechat.protocol import UNICODE_ESCAPE, _new_id, _parse_json

TITLE_MAX_CHARS = 32
AUTHOR_MAX_CHARS = 16
DIGEST_MAX_CHARS = 128
CONTENT_MAX_CHARS = 20_000
CONTENT_MAX_BYTES = 1024 * 1024
MAX_DRAFT_ARTICLES = 8
CLIENTMSGID_MAX_BYTES = 64


class Publishing:
    """Drafts, publish jobs and mass sends, and the ids WeChat numbers them with."""

    def __init__(
        self, publish_polls: int, is_material: Callable[[str], bool],
        take_publish_fault: Callable[[str], Fault | None], on_finished: Callable[[_PublishJob], None],
    ) -> None:
        """`publish_polls`: gets that answer "publishing" before a job finishes (-1: never).

        `is_material` checks a draft's cover, `take_publish_fault` plans how a submitted job ends, and
        `on_finished` hears of each job as it finishes (to push its event).
        """
        self.publish_polls = publish_polls
        self._is_material = is_material
        self._take_publish_fault = take_publish_fault
        self._on_finished = on_finished
        self._publish_seq = 2247503050
        self._msg_id_seq = 1000000000
        self._msg_data_seq = 2247483648  # publish jobs and mass sends share it, as on WeChat
        self._drafts: dict[str, _Draft] = {}
        self._jobs: dict[str, _PublishJob] = {}
        self._article_ids: set[str] = set()
        self._mass_sends: list[_MassSend] = []
        self._clientmsgids: dict[tuple[str, str], int] = {}

    def job(self, publish_id: str) -> _PublishJob:
        """The job `publish_id`; KeyError if unknown."""
        return self._jobs[str(publish_id)]

    def is_article(self, article_id: object) -> bool:
        """True if a finished job published `article_id`."""
        return article_id in self._article_ids

    def finish(self, publish_id: str, status: int | None, fail_idx: Sequence[int] | None) -> JsonDict:
        """Finish a publishing job now (see `FakeWeChatState.finish_publish`); its freepublish/get answer."""
        job = self._jobs[str(publish_id)]
        if job.status != PUBLISHING:
            raise ValueError(f"publish job {publish_id} already finished with status {job.status}")
        if status is not None and status not in FINAL_PUBLISH_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_PUBLISH_STATUSES)}")
        self._finish_job(job, status, fail_idx)
        return job.get_response()

    def clear(self) -> None:
        """Forget drafts, jobs, published articles and mass sends; the id sequences go on."""
        self._drafts.clear()
        self._jobs.clear()
        self._article_ids.clear()
        self._mass_sends.clear()
        self._clientmsgids.clear()

    def snapshot(self) -> JsonDict:
        """Drafts, publish jobs and mass sends as JSON-able lists."""
        return {
            "drafts": [
                {"media_id": d.media_id, "appid": d.appid, "titles": [a.get("title") for a in d.articles]}
                for d in self._drafts.values()
            ],
            "publish_jobs": [
                {**j.get_response(), "media_id": j.media_id, "msg_data_id": j.msg_data_id, "polls": j.polls}
                for j in self._jobs.values()
            ],
            "mass_sends": [dataclasses.asdict(m) for m in self._mass_sends],
        }

    def api_draft_add(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """POST /cgi-bin/draft/add."""
        if UNICODE_ESCAPE.search(req.body):
            raise _WeChatError(40033)
        body = _parse_json(req)
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            raise _WeChatError(44003)
        if len(articles) > MAX_DRAFT_ARTICLES:
            raise _WeChatError(45008)
        for article in articles:
            if not isinstance(article, dict):
                raise _WeChatError(47001)
            self._validate_article(article)
        media_id = _new_id()
        self._drafts[media_id] = _Draft(media_id, appid or "", [dict(a) for a in articles])
        return {"media_id": media_id}

    def api_publish_submit(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """POST /cgi-bin/freepublish/submit."""
        body = _parse_json(req)
        owner = appid or ""
        draft = self._drafts.get(str(body.get("media_id")))
        if draft is None or draft.appid != owner:
            raise _WeChatError(40007)
        # WeChat deletes a draft once it is published, so a second submit of the same media_id is 40007.
        del self._drafts[draft.media_id]
        planned_status, planned_fail = 0, []
        fault = self._take_publish_fault(req.path)
        if fault is not None:
            planned_status, planned_fail = fault.publish_status or 0, list(fault.fail_idx)
        self._publish_seq += 1
        self._msg_data_seq += 1
        job = _PublishJob(
            publish_id=str(self._publish_seq),
            msg_data_id=self._msg_data_seq,
            appid=owner,
            media_id=draft.media_id,
            articles=draft.articles,
            planned_status=planned_status,
            planned_fail_idx=planned_fail,
        )
        self._jobs[job.publish_id] = job
        return {"errcode": 0, "errmsg": "ok", "publish_id": job.publish_id, "msg_data_id": job.msg_data_id}

    def api_publish_get(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """POST /cgi-bin/freepublish/get: each call is a poll, and enough polls finish the job."""
        body = _parse_json(req)
        job = self._jobs.get(str(body.get("publish_id")))
        if job is None or job.appid != (appid or ""):
            raise _WeChatError(53502)
        if job.status == PUBLISHING and self.publish_polls >= 0:
            if job.polls >= self.publish_polls:
                self._finish_job(job, None, None)
            else:
                job.polls += 1
        return job.get_response()

    def api_mass_sendall(self, req: ApiRequest, appid: str | None) -> JsonDict:
        """POST /cgi-bin/message/mass/sendall."""
        body = _parse_json(req)
        owner = appid or ""
        clientmsgid = body.get("clientmsgid")
        if clientmsgid is not None:
            clientmsgid = str(clientmsgid)
            if len(clientmsgid.encode("utf-8")) > CLIENTMSGID_MAX_BYTES:
                raise _WeChatError(45067)
            # Dedup comes before everything else: a retried send whose draft is gone must still say 45065.
            previous = self._clientmsgids.get((owner, clientmsgid))
            if previous is not None:
                raise _WeChatError(45065, msg_id=previous)
        filt = body.get("filter")
        is_to_all = bool(filt.get("is_to_all")) if isinstance(filt, dict) else False
        tag_id = filt.get("tag_id") if isinstance(filt, dict) else None
        msgtype = body.get("msgtype")
        media_id: str | None = None
        if msgtype == "mpnews":
            part = body.get("mpnews")
            media_id = part.get("media_id") if isinstance(part, dict) else None
            draft = self._drafts.get(str(media_id)) if media_id else None
            if draft is None or draft.appid != owner:
                raise _WeChatError(40007)
            del self._drafts[draft.media_id]  # WeChat removes a draft once it is mass-sent
        elif msgtype == "text":
            part = body.get("text")
            if not isinstance(part, dict) or not part.get("content"):
                raise _WeChatError(44004)
        else:
            raise _WeChatError(40008)
        self._msg_id_seq += 1
        self._msg_data_seq += 1
        send = _MassSend(
            self._msg_id_seq, self._msg_data_seq, owner, clientmsgid, msgtype, media_id, is_to_all, tag_id
        )
        self._mass_sends.append(send)
        if clientmsgid is not None:
            self._clientmsgids[(owner, clientmsgid)] = send.msg_id
        return {
            "errcode": 0,
            "errmsg": "send job submission success",
            "msg_id": send.msg_id,
            "msg_data_id": send.msg_data_id,
        }

    def _validate_article(self, article: JsonDict) -> None:
        title, content = article.get("title"), article.get("content")
        if not isinstance(title, str) or not title:
            raise _WeChatError(44003, "empty news data hint: title is required")
        if len(title) > TITLE_MAX_CHARS:
            raise _WeChatError(45003)
        if len(str(article.get("author") or "")) > AUTHOR_MAX_CHARS:
            raise _WeChatError(45110)
        if len(str(article.get("digest") or "")) > DIGEST_MAX_CHARS:
            raise _WeChatError(45004)
        if not isinstance(content, str) or not content:
            raise _WeChatError(44004)
        if len(content) >= CONTENT_MAX_CHARS or len(content.encode("utf-8")) >= CONTENT_MAX_BYTES:
            raise _WeChatError(45002)
        if article.get("article_type", "news") == "news":
            thumb = article.get("thumb_media_id")
            if not isinstance(thumb, str) or not self._is_material(thumb):
                raise _WeChatError(40007)

    def _finish_job(self, job: _PublishJob, status: int | None, fail_idx: Sequence[int] | None) -> None:
        job.status = job.planned_status if status is None else status
        job.fail_idx = list(job.planned_fail_idx if fail_idx is None else fail_idx)
        job.finished_at = int(time.time())
        if job.status in (0, 5, 6):
            job.article_id = _new_id()
            self._article_ids.add(job.article_id)
            job.article_urls = [f"https://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}" for _ in job.articles]
        self._on_finished(job)
