"""`FakeWeChatState`: everything the fake knows, behind one lock, and how it answers a /cgi-bin request."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from bot.fake_wechat.model import (
    FINAL_PUBLISH_STATUSES,
    PUBLISHING,
    ApiRequest,
    ApiResponse,
    FakeAccount,
    Fault,
    JsonDict,
    PushResult,
    RecordedCall,
    SentMessage,
    UploadedFile,
    _Draft,
    _error,
    _MassSend,
    _Material,
    _PublishJob,
    _Token,
    _WeChatError,
)
from bot.fake_wechat.protocol import MPHELPER_OPENID, _new_id, _parse_json, publish_event_xml
from bot.wechat.crypto import MessageCrypto
from bot.wechat.simulator import Account as _PushAccount
from bot.wechat.simulator import signed_request

IMAGE_MAX_BYTES = 10 * 1024 * 1024  # add_material?type=image (protocol doc section 8.2)
THUMB_MAX_BYTES = 64 * 1024  # add_material?type=thumb
UPLOADIMG_MAX_BYTES = 1024 * 1024  # media/uploadimg (section 8.1)
TITLE_MAX_CHARS = 32
AUTHOR_MAX_CHARS = 16
DIGEST_MAX_CHARS = 128
CONTENT_MAX_CHARS = 20_000
CONTENT_MAX_BYTES = 1024 * 1024
MAX_DRAFT_ARTICLES = 8
CLIENTMSGID_MAX_BYTES = 64
DEFAULT_EXPIRES_IN = 7200
# WeChat keeps an old token usable 300 s out of a 7200 s lifetime; the fake scales that ratio so that
# tests with short lifetimes keep the same semantics.
OVERLAP_RATIO = 300 / 7200

# A `\uXXXX` escape preceded by an even number of backslashes (an escaped backslash followed by "u" is fine).
_UNICODE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")
_REDACTED = "***"
_REDACT_KEYS = frozenset({"access_token", "secret"})


@dataclass(frozen=True)
class _Route:
    method: str
    needs_token: bool
    handler: Callable[[ApiRequest, str | None], JsonDict]


def _redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (_REDACTED if k in _REDACT_KEYS else v) for k, v in mapping.items()}


def _body_summary(req: ApiRequest) -> Any:
    """What the call log keeps of a request body: parsed JSON, a multipart summary, or a text excerpt."""
    if req.files or req.form:
        return {
            "form": _redact(req.form),
            "files": [{"field": f.field, "filename": f.filename, "size": len(f.data)} for f in req.files],
        }
    if not req.body:
        return None
    try:
        data = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return req.body[:2000].decode("utf-8", "replace")
    return _redact(data) if isinstance(data, dict) else data






class FakeWeChatState:
    """Everything the fake knows: accounts, tokens, calls, faults, materials, drafts, publish jobs, sends.

    One lock guards it all; handlers hold it while they run (they are fast), never while waiting on a delay
    fault or pushing to the webhook.
    """

    def __init__(
        self,
        account: FakeAccount | None = None,
        *,
        webhook_url: str | None = None,
        webhook_token: str | None = None,
        webhook_aes_key: str | None = None,
        expires_in: int = DEFAULT_EXPIRES_IN,
        token_overlap: float | None = None,
        publish_polls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`publish_polls`: freepublish/get answers "publishing" this many times, then finishes (-1: never).

        `webhook_url`, `webhook_token`, `webhook_aes_key`: where pushes go and how they are sent (`set_webhook`).

        `token_overlap`: how long a superseded token stays valid; None = expires_in * 300/7200.
        `clock` drives token expiry only, so tests may substitute a fake one.
        """
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._clock = clock
        self._accounts: dict[str, FakeAccount] = {}
        self._tokens: dict[str, _Token] = {}
        self._stable: dict[str, str] = {}  # appid -> current stable token
        self._expires_in = expires_in
        self._token_overlap = token_overlap
        self._publish_polls = publish_polls
        self._webhook_url: str | None = None
        self._webhook_token: str | None = None
        self._webhook_aes_key: str | None = None
        self.set_webhook(webhook_url, webhook_token, webhook_aes_key)
        self._release = threading.Event()
        self._push_threads: list[threading.Thread] = []
        self._pending_pushes: list[_PublishJob] = []
        self._seq = 0
        self._publish_seq = 2247503050
        self._msg_id_seq = 1000000000
        self._msg_data_seq = 2247483648
        self._calls: list[RecordedCall] = []
        self._faults: list[Fault] = []
        self._messages: list[SentMessage] = []
        self._materials: dict[str, _Material] = {}
        self._drafts: dict[str, _Draft] = {}
        self._jobs: dict[str, _PublishJob] = {}
        self._article_ids: set[str] = set()
        self._mass_sends: list[_MassSend] = []
        self._clientmsgids: dict[tuple[str, str], int] = {}
        self._pushes: list[PushResult] = []
        self.add_account(account or FakeAccount())
        self._routes: dict[str, _Route] = {
            "/cgi-bin/token": _Route("GET", False, self._api_token),
            "/cgi-bin/stable_token": _Route("POST", False, self._api_stable_token),
            "/cgi-bin/message/custom/send": _Route("POST", True, self._api_custom_send),
            "/cgi-bin/material/add_material": _Route("POST", True, self._api_add_material),
            "/cgi-bin/media/uploadimg": _Route("POST", True, self._api_uploadimg),
            "/cgi-bin/draft/add": _Route("POST", True, self._api_draft_add),
            "/cgi-bin/freepublish/submit": _Route("POST", True, self._api_publish_submit),
            "/cgi-bin/freepublish/get": _Route("POST", True, self._api_publish_get),
            "/cgi-bin/message/mass/sendall": _Route("POST", True, self._api_mass_sendall),
        }

    # ---- configuration -------------------------------------------------------------------------

    @property
    def account(self) -> FakeAccount:
        """The first (default) account."""
        with self._lock:
            return next(iter(self._accounts.values()))

    def add_account(self, account: FakeAccount) -> None:
        """Register another account (appid must be unique)."""
        with self._lock:
            if account.appid in self._accounts:
                raise ValueError(f"account {account.appid} already exists")
            self._accounts[account.appid] = dataclasses.replace(account)

    def set_webhook(self, url: str | None, token: str | None, aes_key: str | None = None) -> None:
        """Where PUBLISHJOBFINISH events go and how they are sent, as WeChat does for the account's mode.

        `url` None disables pushes. `token` is the account's token (required with a url). With `aes_key`, the
        account's EncodingAESKey, pushes are sent in safe mode (encrypted, `msg_signature`); without it they
        are plaintext, signed with `signature`. Each call replaces all three settings.
        """
        if url is not None and not token:
            raise ValueError("webhook_token is required when webhook_url is set (pushes are signed)")
        if aes_key:
            if not token:
                raise ValueError("webhook_token is required with webhook_aes_key (msg_signature uses it)")
            try:
                MessageCrypto(token, "", (aes_key,))
            except ValueError:
                raise ValueError("webhook_aes_key must be a 43-character EncodingAESKey") from None
        with self._lock:
            self._webhook_url, self._webhook_token = url, token
            self._webhook_aes_key = aes_key or None

    def configure(
        self, *, expires_in: int | None = None, token_overlap: float | None = None, publish_polls: int | None = None
    ) -> None:
        """Change token lifetime (for tokens issued from now on), token overlap, or polls-until-finished."""
        if expires_in is not None and expires_in <= 0:
            raise ValueError("expires_in must be positive")
        if token_overlap is not None and token_overlap < 0:
            raise ValueError("token_overlap must be >= 0")
        with self._lock:
            if expires_in is not None:
                self._expires_in = expires_in
            if token_overlap is not None:
                self._token_overlap = token_overlap
            if publish_polls is not None:
                self._publish_polls = publish_polls

    # ---- test controls -------------------------------------------------------------------------

    def inject(
        self,
        path: str,
        *,
        times: int = 1,
        errcode: int | None = None,
        errmsg: str | None = None,
        http_status: int | None = None,
        delay: float | None = None,
        publish_status: int | None = None,
        fail_idx: Sequence[int] = (),
    ) -> Fault:
        """Queue a fault for `path` (exact /cgi-bin/... path or "*"); faults are consumed in order.

        errcode[/errmsg]: answer that error; http_status: answer a non-JSON 4xx/5xx; delay: wait that many
        seconds first (released early by reset/release_delays/stop; may combine with errcode or http_status);
        publish_status[/fail_idx]: the next submitted publish job ends in that state. times=-1: forever.
        """
        if not (path == "*" or path.startswith("/cgi-bin/")):
            raise ValueError("path must be '*' or start with /cgi-bin/")
        if times == 0 or times < -1:
            raise ValueError("times must be >= 1, or -1 for forever")
        if errcode is not None and http_status is not None:
            raise ValueError("errcode and http_status are exclusive")
        if http_status is not None and not 400 <= http_status <= 599:
            raise ValueError("http_status must be 4xx or 5xx")
        if delay is not None and delay < 0:
            raise ValueError("delay must be >= 0")
        if publish_status is not None:
            if publish_status not in FINAL_PUBLISH_STATUSES:
                raise ValueError(f"publish_status must be one of {sorted(FINAL_PUBLISH_STATUSES)}")
            if errcode is not None or http_status is not None or delay is not None:
                raise ValueError("publish_status cannot be combined with other fault kinds")
            if path not in ("*", "/cgi-bin/freepublish/submit"):
                raise ValueError("publish_status faults apply to '/cgi-bin/freepublish/submit' (or '*')")
        elif errcode is None and http_status is None and delay is None:
            raise ValueError("a fault needs errcode, http_status, delay or publish_status")
        fault = Fault(path, times, errcode, errmsg, http_status, delay, publish_status, tuple(fail_idx))
        with self._lock:
            self._faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        """Faults not yet consumed, in order."""
        with self._lock:
            return list(self._faults)

    def release_delays(self) -> None:
        """Let every request currently held by a delay fault answer now."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()  # later delays wait again

    def reset(self) -> None:
        """Forget calls, faults, messages, materials, drafts, jobs, sends and pushes; keep accounts and tokens.

        Tokens survive so that a client which cached one keeps working across tests.
        """
        self.release_delays()
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._messages.clear()
            self._materials.clear()
            self._drafts.clear()
            self._jobs.clear()
            self._article_ids.clear()
            self._mass_sends.clear()
            self._clientmsgids.clear()
            self._pushes.clear()
            self._pending_pushes.clear()
            self._changed.notify_all()

    def expire_tokens(self) -> None:
        """Make every issued token expired (next use answers 42001)."""
        with self._lock:
            now = self._clock()
            for tok in self._tokens.values():
                tok.expires_at = min(tok.expires_at, now)

    def calls(self, path: str | None = None, since: int = 0) -> list[RecordedCall]:
        """Recorded API calls (optionally for one path, or with seq > `since`), oldest first."""
        with self._lock:
            return [c for c in self._calls if (path is None or c.path == path) and c.seq > since]

    def wait_calls(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until at least `count` calls (for `path`) are recorded; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: sum(1 for c in self._calls if path is None or c.path == path) >= count, timeout
            ):
                raise TimeoutError(f"fewer than {count} calls to {path or 'any path'} within {timeout}s")
            return [c for c in self._calls if path is None or c.path == path]

    def custom_messages(self) -> list[SentMessage]:
        """Customer-service messages accepted so far."""
        with self._lock:
            return list(self._messages)

    def pushes(self) -> list[PushResult]:
        """Finished PUBLISHJOBFINISH pushes with their HTTP status (or error)."""
        with self._lock:
            return list(self._pushes)

    def wait_pushes(self, count: int, timeout: float = 5.0) -> list[PushResult]:
        """Block until at least `count` pushes have completed; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._pushes) >= count, timeout):
                raise TimeoutError(f"fewer than {count} webhook pushes within {timeout}s")
            return list(self._pushes)

    def join_pushes(self, timeout: float = 10.0) -> None:
        """Wait for push threads still running (used on shutdown)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._push_threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def publish_job(self, publish_id: str) -> JsonDict:
        """The job as freepublish/get would show it now (without counting as a poll); KeyError if unknown."""
        with self._lock:
            return self._jobs[str(publish_id)].get_response()

    def finish_publish(
        self, publish_id: str, status: int | None = None, fail_idx: Sequence[int] | None = None
    ) -> JsonDict:
        """Finish a publishing job now (and push the event); status None = its planned status (0 unless injected).

        KeyError if unknown, ValueError if it already finished or the status is not final.
        """
        with self._lock:
            job = self._jobs[str(publish_id)]
            if job.status != PUBLISHING:
                raise ValueError(f"publish job {publish_id} already finished with status {job.status}")
            if status is not None and status not in FINAL_PUBLISH_STATUSES:
                raise ValueError(f"status must be one of {sorted(FINAL_PUBLISH_STATUSES)}")
            self._finish_job(job, status, fail_idx)
            result = job.get_response()
        self._start_pending_pushes()
        return result

    def push_publish_event(self, publish_id: str) -> None:
        """(Re)send the PUBLISHJOBFINISH event of a finished job in the background (see `wait_pushes`)."""
        with self._lock:
            job = self._jobs[str(publish_id)]
            if job.status == PUBLISHING:
                raise ValueError(f"publish job {publish_id} is still publishing")
            if self._webhook_url is None:
                raise ValueError("no webhook_url configured")
            self._pending_pushes.append(job)
        self._start_pending_pushes()

    def snapshot(self) -> JsonDict:
        """A JSON-able summary of drafts, publish jobs, mass sends, materials, pushes, faults and settings."""
        with self._lock:
            return {
                "accounts": [a.appid for a in self._accounts.values()],
                "config": {
                    "expires_in": self._expires_in,
                    "token_overlap": self._overlap(),
                    "publish_polls": self._publish_polls,
                    "webhook_url": self._webhook_url,
                    "webhook_encrypted": self._webhook_aes_key is not None,
                },
                "tokens": len(self._tokens),
                "materials": [dataclasses.asdict(m) for m in self._materials.values()],
                "drafts": [
                    {"media_id": d.media_id, "appid": d.appid, "titles": [a.get("title") for a in d.articles]}
                    for d in self._drafts.values()
                ],
                "publish_jobs": [
                    {**j.get_response(), "media_id": j.media_id, "msg_data_id": j.msg_data_id, "polls": j.polls}
                    for j in self._jobs.values()
                ],
                "mass_sends": [dataclasses.asdict(m) for m in self._mass_sends],
                "custom_messages": len(self._messages),
                "pushes": [dataclasses.asdict(p) for p in self._pushes],
                "faults": [dataclasses.asdict(f) for f in self._faults],
            }

    # ---- request handling ------------------------------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse:
        """Answer one /cgi-bin request: apply faults, check the token, run the endpoint, record the call."""
        with self._lock:
            fault, release = self._take_fault(req.path), self._release
        if fault is not None and fault.delay:
            release.wait(fault.delay)
        with self._lock:
            appid: str | None = None
            if fault is not None and fault.http_status is not None:
                response = ApiResponse(
                    status=fault.http_status,
                    text=f"<html><body><h1>{fault.http_status} fake upstream error</h1></body></html>",
                )
            elif fault is not None and fault.errcode is not None:
                response = _error(fault.errcode, fault.errmsg)
            else:
                response, appid = self._dispatch(req)
            self._record(req, response, appid, fault)
        self._start_pending_pushes()
        return response

    def record_oversized(self, req: ApiRequest) -> None:
        """Record a call rejected with HTTP 413 before its body was read."""
        with self._lock:
            self._record(req, ApiResponse(status=413, text="request body too large"), None, None)

    def _take_fault(self, path: str) -> Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.is_publish_fault or not fault.matches(path):
                continue
            self._consume(i)
            return fault
        return None

    def _consume(self, index: int) -> None:
        fault = self._faults[index]
        if fault.times == -1:
            return
        if fault.times == 1:
            del self._faults[index]
        else:
            self._faults[index] = dataclasses.replace(fault, times=fault.times - 1)

    def _dispatch(self, req: ApiRequest) -> tuple[ApiResponse, str | None]:
        route = self._routes.get(req.path)
        if route is None:
            return ApiResponse(
                status=404, payload={"errcode": 404, "errmsg": f"fake wechat: no endpoint {req.path}"}
            ), None
        if req.method != route.method:
            return _error(43001 if route.method == "GET" else 43002), None
        appid: str | None = None
        try:
            if route.needs_token:
                appid = self._check_token(req.query.get("access_token"))
            return ApiResponse(payload=route.handler(req, appid)), appid
        except _WeChatError as exc:
            return ApiResponse(payload={"errcode": exc.errcode, "errmsg": exc.errmsg, **exc.extra}), appid

    def _record(self, req: ApiRequest, response: ApiResponse, appid: str | None, fault: Fault | None) -> None:
        self._seq += 1
        body = _body_summary(req)
        if appid is None and req.path == "/cgi-bin/token":
            appid = req.query.get("appid") or None
        elif appid is None and req.path == "/cgi-bin/stable_token" and isinstance(body, dict):
            appid = str(body.get("appid") or "") or None
        kind = None
        if fault is not None:
            kind = "delay"
            if fault.http_status is not None:
                kind = "http_status"
            elif fault.errcode is not None:
                kind = "errcode"
        self._calls.append(
            RecordedCall(
                seq=self._seq,
                time=time.time(),
                method=req.method,
                path=req.path,
                query=_redact(req.query),
                body=body,
                appid=appid,
                http_status=response.status,
                errcode=response.errcode,
                fault=kind,
            )
        )
        self._changed.notify_all()

    # ---- tokens ----------------------------------------------------------------------------------

    def _overlap(self) -> float:
        return self._token_overlap if self._token_overlap is not None else self._expires_in * OVERLAP_RATIO

    def _check_credentials(self, grant_type: Any, appid: Any, secret: Any) -> str:
        if grant_type != "client_credential":
            raise _WeChatError(40002)
        if not appid:
            raise _WeChatError(41002)
        if not secret:
            raise _WeChatError(41004)
        account = self._accounts.get(str(appid))
        if account is None:
            raise _WeChatError(40013)
        if secret != account.secret:
            raise _WeChatError(40125)
        return account.appid

    def _issue(self, appid: str, stable: bool) -> str:
        token = secrets.token_urlsafe(102)  # 136 chars of [A-Za-z0-9_-], like real tokens (reserve 512)
        self._tokens[token] = _Token(appid, self._clock() + self._expires_in, stable)
        return token

    def _check_token(self, token: str | None) -> str:
        if not token:
            raise _WeChatError(41001)
        record = self._tokens.get(token)
        if record is None or record.revoked:
            raise _WeChatError(40001)
        if self._clock() >= record.expires_at:
            raise _WeChatError(40001 if record.superseded else 42001)
        return record.appid

    def _api_token(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        q = req.query
        appid = self._check_credentials(q.get("grant_type"), q.get("appid"), q.get("secret"))
        # A new /token token supersedes the older ones; they stay valid for the overlap window only.
        limit = self._clock() + self._overlap()
        for tok in self._tokens.values():
            if tok.appid == appid and not tok.stable and not tok.superseded:
                tok.superseded = True
                tok.expires_at = min(tok.expires_at, limit)
        return {"access_token": self._issue(appid, stable=False), "expires_in": self._expires_in}

    def _api_stable_token(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        body = _parse_json(req)
        appid = self._check_credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        force = body.get("force_refresh") in (True, "true", 1)
        now = self._clock()
        current = self._stable.get(appid)
        record = self._tokens.get(current) if current else None
        if current and record and not force and not record.revoked:
            remaining = record.expires_at - now
            # WeChat renews the stable token shortly before expiry; until then everyone gets the same one.
            if remaining > self._overlap():
                return {"access_token": current, "expires_in": int(remaining)}
        if record is not None:
            if force:
                record.revoked = True  # force_refresh invalidates the previous stable token at once
            else:
                record.superseded = True
        token = self._issue(appid, stable=True)
        self._stable[appid] = token
        return {"access_token": token, "expires_in": self._expires_in}

    # ---- messages --------------------------------------------------------------------------------

    def _api_custom_send(self, req: ApiRequest, appid: str | None) -> JsonDict:
        body = _parse_json(req)
        touser, msgtype = body.get("touser"), body.get("msgtype")
        if not isinstance(touser, str) or not touser:
            raise _WeChatError(40003)
        part = body.get(msgtype) if isinstance(msgtype, str) else None
        if msgtype == "text":
            if not isinstance(part, dict) or not isinstance(part.get("content"), str) or not part["content"]:
                raise _WeChatError(44004)
        elif msgtype == "news":
            articles = part.get("articles") if isinstance(part, dict) else None
            if not isinstance(articles, list) or not articles:
                raise _WeChatError(44003)
            if len(articles) > 1:
                raise _WeChatError(45008)  # news is limited to one article since 2018-10
        elif msgtype in ("image", "voice", "video", "mpnews"):
            if not isinstance(part, dict) or not part.get("media_id"):
                raise _WeChatError(40007)
        elif msgtype == "mpnewsarticle":
            if not isinstance(part, dict) or part.get("article_id") not in self._article_ids:
                raise _WeChatError(53600)
        elif msgtype in ("music", "msgmenu", "wxcard", "miniprogrampage"):
            if not isinstance(part, dict):
                raise _WeChatError(47001, f"data format error hint: missing {msgtype} object")
        else:
            raise _WeChatError(40008)
        # seq + 1 is the seq this call is about to be recorded with, linking the message to its call.
        self._messages.append(SentMessage(self._seq + 1, appid or "", touser, str(msgtype), body))
        return {"errcode": 0, "errmsg": "ok"}

    def _api_mass_sendall(self, req: ApiRequest, appid: str | None) -> JsonDict:
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

    # ---- media -----------------------------------------------------------------------------------

    def _upload(self, req: ApiRequest, limit: int, extensions: frozenset[str]) -> UploadedFile:
        upload = req.file("media")
        if upload is None or not upload.data:
            raise _WeChatError(41005)
        ext = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        if ext and ext not in extensions:
            raise _WeChatError(40005)
        if len(upload.data) > limit:
            raise _WeChatError(40009)
        return upload

    def _api_add_material(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        kind = req.query.get("type")
        if kind == "image":
            upload = self._upload(req, IMAGE_MAX_BYTES, frozenset({"bmp", "png", "jpeg", "jpg", "gif"}))
        elif kind == "thumb":
            upload = self._upload(req, THUMB_MAX_BYTES, frozenset({"jpg", "jpeg"}))
        else:
            # voice/video materials exist on WeChat but this fake does not model them.
            raise _WeChatError(40004)
        media_id = _new_id()
        url = f"http://mmbiz.qpic.cn/fake/{media_id}/0?wx_fmt=jpeg"
        self._materials[media_id] = _Material(media_id, kind, upload.filename, len(upload.data), url)
        return {"media_id": media_id, "url": url}

    def _api_uploadimg(self, req: ApiRequest, _appid: str | None) -> JsonDict:
        self._upload(req, UPLOADIMG_MAX_BYTES, frozenset({"jpg", "jpeg", "png"}))
        return {"url": f"http://mmbiz.qpic.cn/fake/{_new_id()}/0?wx_fmt=jpeg"}

    # ---- drafts and publishing ----------------------------------------------------------------------

    def _api_draft_add(self, req: ApiRequest, appid: str | None) -> JsonDict:
        if _UNICODE_ESCAPE.search(req.body):
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
            if not isinstance(thumb, str) or thumb not in self._materials:
                raise _WeChatError(40007)

    def _api_publish_submit(self, req: ApiRequest, appid: str | None) -> JsonDict:
        body = _parse_json(req)
        owner = appid or ""
        draft = self._drafts.get(str(body.get("media_id")))
        if draft is None or draft.appid != owner:
            raise _WeChatError(40007)
        # WeChat deletes a draft once it is published, so a second submit of the same media_id is 40007.
        del self._drafts[draft.media_id]
        planned_status, planned_fail = 0, []
        for i, fault in enumerate(self._faults):
            if fault.is_publish_fault and fault.matches(req.path):
                self._consume(i)
                planned_status, planned_fail = fault.publish_status or 0, list(fault.fail_idx)
                break
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

    def _api_publish_get(self, req: ApiRequest, appid: str | None) -> JsonDict:
        body = _parse_json(req)
        job = self._jobs.get(str(body.get("publish_id")))
        if job is None or job.appid != (appid or ""):
            raise _WeChatError(53502)
        if job.status == PUBLISHING and self._publish_polls >= 0:
            if job.polls >= self._publish_polls:
                self._finish_job(job, None, None)
            else:
                job.polls += 1
        return job.get_response()

    def _finish_job(self, job: _PublishJob, status: int | None, fail_idx: Sequence[int] | None) -> None:
        job.status = job.planned_status if status is None else status
        job.fail_idx = list(job.planned_fail_idx if fail_idx is None else fail_idx)
        job.finished_at = int(time.time())
        if job.status in (0, 5, 6):
            job.article_id = _new_id()
            self._article_ids.add(job.article_id)
            job.article_urls = [f"https://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}" for _ in job.articles]
        if self._webhook_url is not None:
            self._pending_pushes.append(job)

    # ---- webhook pushes ------------------------------------------------------------------------------

    def _start_pending_pushes(self) -> None:
        """Start a background push for each job queued under the lock (so no response waits on the webhook)."""
        with self._lock:
            jobs, self._pending_pushes = self._pending_pushes, []
            url, token, aes_key = self._webhook_url, self._webhook_token, self._webhook_aes_key
            self._push_threads = [t for t in self._push_threads if t.is_alive()]
            if url is None or token is None:
                return
            for job in jobs:
                account = self._accounts.get(job.appid) or next(iter(self._accounts.values()))
                xml = publish_event_xml(
                    account.original_id, job.publish_id, job.status, job.article_id, job.article_urls,
                    job.fail_idx, job.finished_at,
                )
                # WeChat encrypts for the account the event belongs to: its appid ends the ciphertext.
                sender = _PushAccount(token, account.appid, aes_key or "", account.original_id)
                thread = threading.Thread(
                    target=self._push, args=(url, sender, job.publish_id, job.status, xml),
                    name=f"fake-wechat-push-{job.publish_id}", daemon=True,
                )
                self._push_threads.append(thread)
                thread.start()

    def _push(self, url: str, sender: _PushAccount, publish_id: str, status: int, xml: str) -> None:
        encrypted = bool(sender.aes_key)
        # Plaintext: signature/timestamp/nonce/openid and the XML. Safe mode adds encrypt_type=aes and
        # msg_signature (over token, timestamp, nonce, Encrypt) and sends <xml><ToUserName/><Encrypt/></xml>.
        params, body = signed_request(sender, xml, aes=encrypted)
        params["openid"] = MPHELPER_OPENID  # real pushes carry the sender's openid too
        http_status: int | None = None
        error: str | None = None
        try:
            resp = requests.post(url, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=5)
            http_status = resp.status_code
            resp.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._seq += 1
            self._pushes.append(PushResult(self._seq, publish_id, status, url, http_status, error, encrypted))
            self._changed.notify_all()
