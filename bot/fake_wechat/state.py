"""`FakeWeChatState`: the endpoint families composed behind one lock, and how a /cgi-bin request is answered."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.fake_wechat.faults import CallLog, Faults, make_fault
from bot.fake_wechat.material import Materials
from bot.fake_wechat.menu import Menus
from bot.fake_wechat.messages import Messages
from bot.fake_wechat.model import (
    PUBLISHING,
    ApiRequest,
    ApiResponse,
    FakeAccount,
    Fault,
    JsonDict,
    PushResult,
    RecordedCall,
    SentMessage,
    _Counter,
    _error,
    _WeChatError,
)
from bot.fake_wechat.publishing import Publishing
from bot.fake_wechat.tokens import DEFAULT_EXPIRES_IN, Tokens
from bot.fake_wechat.webhook import Webhook


@dataclass(frozen=True)
class _Route:
    method: str
    needs_token: bool
    handler: Callable[[ApiRequest, str | None], JsonDict]


class FakeWeChatState:
    """Everything the fake knows: accounts, tokens, calls, faults, materials, drafts, publish jobs, sends, menus.

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
        seq = _Counter()  # calls and pushes share one numbering
        self._tokens = Tokens(clock, expires_in, token_overlap)
        self._webhook = Webhook(self._changed, seq, self._tokens.account_for)
        self.set_webhook(webhook_url, webhook_token, webhook_aes_key)
        self._faults = Faults()
        self._held: Counter[str] = Counter()  # paths of requests waiting on a delay fault right now
        self._calls = CallLog(seq)
        self._materials = Materials()
        self._publishing = Publishing(
            publish_polls, self._materials.has, self._faults.take_publish, self._webhook.job_finished
        )
        self._messages = Messages(seq, self._publishing.is_article)
        self._menus = Menus()
        self.add_account(account or FakeAccount())
        self._routes: dict[str, _Route] = {
            "/cgi-bin/token": _Route("GET", False, self._tokens.api_token),
            "/cgi-bin/stable_token": _Route("POST", False, self._tokens.api_stable_token),
            "/cgi-bin/message/custom/send": _Route("POST", True, self._messages.api_custom_send),
            "/cgi-bin/material/add_material": _Route("POST", True, self._materials.api_add_material),
            "/cgi-bin/media/uploadimg": _Route("POST", True, self._materials.api_uploadimg),
            "/cgi-bin/draft/add": _Route("POST", True, self._publishing.api_draft_add),
            "/cgi-bin/freepublish/submit": _Route("POST", True, self._publishing.api_publish_submit),
            "/cgi-bin/freepublish/get": _Route("POST", True, self._publishing.api_publish_get),
            "/cgi-bin/message/mass/sendall": _Route("POST", True, self._publishing.api_mass_sendall),
            "/cgi-bin/menu/create": _Route("POST", True, self._menus.api_create),
            "/cgi-bin/menu/get": _Route("GET", True, self._menus.api_get),
            "/cgi-bin/menu/delete": _Route("GET", True, self._menus.api_delete),
        }

    # ---- configuration -------------------------------------------------------------------------

    @property
    def account(self) -> FakeAccount:
        """The first (default) account."""
        with self._lock:
            return self._tokens.default_account()

    def add_account(self, account: FakeAccount) -> None:
        """Register another account (appid must be unique)."""
        with self._lock:
            self._tokens.add_account(account)

    def set_webhook(self, url: str | None, token: str | None, aes_key: str | None = None) -> None:
        """Where PUBLISHJOBFINISH events go and how they are sent, as WeChat does for the account's mode.

        `url` None disables pushes. `token` is the account's token (required with a url). With `aes_key`, the
        account's EncodingAESKey, pushes are sent in safe mode (encrypted, `msg_signature`); without it they
        are plaintext, signed with `signature`. Each call replaces all three settings.
        """
        self._webhook.set(url, token, aes_key)

    def configure(
        self, *, expires_in: int | None = None, token_overlap: float | None = None, publish_polls: int | None = None
    ) -> None:
        """Change token lifetime (for tokens issued from now on), token overlap, or polls-until-finished."""
        Tokens.check_settings(expires_in, token_overlap)
        with self._lock:
            self._tokens.configure(expires_in, token_overlap)
            if publish_polls is not None:
                self._publishing.publish_polls = publish_polls

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
        seconds first (released early by reset/release_delays/stop; may combine with errcode or http_status;
        `held` lists the requests waiting);
        publish_status[/fail_idx]: the next submitted publish job ends in that state. times=-1: forever.
        """
        fault = make_fault(
            path, times=times, errcode=errcode, errmsg=errmsg, http_status=http_status, delay=delay,
            publish_status=publish_status, fail_idx=fail_idx,
        )
        with self._lock:
            self._faults.add(fault)
        return fault

    def faults(self) -> list[Fault]:
        """Faults not yet consumed, in order."""
        with self._lock:
            return self._faults.pending()

    def release_delays(self) -> None:
        """Let every request currently held by a delay fault answer now."""
        with self._lock:
            self._faults.release()

    def reset(self) -> None:
        """Forget calls, faults, messages, materials, drafts, jobs, sends, menus and pushes; keep accounts and tokens.

        Tokens survive so that a client which cached one keeps working across tests.
        """
        self.release_delays()
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._messages.clear()
            self._materials.clear()
            self._publishing.clear()
            self._menus.clear()
            self._webhook.clear()
            self._changed.notify_all()

    def expire_tokens(self) -> None:
        """Make every issued token expired (next use answers 42001)."""
        with self._lock:
            self._tokens.expire_all()

    def held(self) -> dict[str, int]:
        """Requests now waiting on a delay fault, by path: they arrived and WeChat has not acted on them yet."""
        with self._lock:
            return {path: n for path, n in self._held.items() if n}

    def calls(self, path: str | None = None, since: int = 0) -> list[RecordedCall]:
        """Recorded API calls (optionally for one path, or with seq > `since`), oldest first."""
        with self._lock:
            return self._calls.matching(path, since)

    def wait_calls(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until at least `count` calls (for `path`) are recorded; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._calls.matching(path)) >= count, timeout):
                raise TimeoutError(f"fewer than {count} calls to {path or 'any path'} within {timeout}s")
            return self._calls.matching(path)

    def menu(self, appid: str | None = None) -> JsonDict | None:
        """The menu an account (default: the first) created last, as menu/get shows it; None if none."""
        with self._lock:
            return self._menus.menu(appid or self._tokens.default_account().appid)

    def custom_messages(self) -> list[SentMessage]:
        """Customer-service messages accepted so far."""
        with self._lock:
            return self._messages.sent()

    def pushes(self) -> list[PushResult]:
        """Finished PUBLISHJOBFINISH pushes with their HTTP status (or error)."""
        with self._lock:
            return self._webhook.results()

    def wait_pushes(self, count: int, timeout: float = 5.0) -> list[PushResult]:
        """Block until at least `count` pushes have completed; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._webhook.results()) >= count, timeout):
                raise TimeoutError(f"fewer than {count} webhook pushes within {timeout}s")
            return self._webhook.results()

    def join_pushes(self, timeout: float = 10.0) -> None:
        """Wait for push threads still running (used on shutdown)."""
        self._webhook.join(timeout)

    def publish_job(self, publish_id: str) -> JsonDict:
        """The job as freepublish/get would show it now (without counting as a poll); KeyError if unknown."""
        with self._lock:
            return self._publishing.job(publish_id).get_response()

    def finish_publish(
        self, publish_id: str, status: int | None = None, fail_idx: Sequence[int] | None = None
    ) -> JsonDict:
        """Finish a publishing job now (and push the event); status None = its planned status (0 unless injected).

        KeyError if unknown, ValueError if it already finished or the status is not final.
        """
        with self._lock:
            result = self._publishing.finish(publish_id, status, fail_idx)
        self._webhook.start_pending()
        return result

    def push_publish_event(self, publish_id: str) -> None:
        """(Re)send the PUBLISHJOBFINISH event of a finished job in the background (see `wait_pushes`)."""
        with self._lock:
            job = self._publishing.job(publish_id)
            if job.status == PUBLISHING:
                raise ValueError(f"publish job {publish_id} is still publishing")
            self._webhook.resend(job)
        self._webhook.start_pending()

    def snapshot(self) -> JsonDict:
        """A JSON-able summary of drafts, publish jobs, mass sends, materials, menus, pushes, faults and settings."""
        with self._lock:
            publishing = self._publishing.snapshot()
            return {
                "accounts": list(self._tokens.accounts),
                "config": {
                    "expires_in": self._tokens.expires_in,
                    "token_overlap": self._tokens.overlap(),
                    "publish_polls": self._publishing.publish_polls,
                    "webhook_url": self._webhook.url,
                    "webhook_encrypted": self._webhook.aes_key is not None,
                },
                "tokens": self._tokens.issued(),
                "materials": self._materials.snapshot(),
                "drafts": publishing["drafts"],
                "publish_jobs": publishing["publish_jobs"],
                "mass_sends": publishing["mass_sends"],
                "custom_messages": len(self._messages.sent()),
                "menus": self._menus.snapshot(),
                "pushes": self._webhook.snapshot(),
                "faults": self._faults.snapshot(),
            }

    # ---- request handling ------------------------------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse:
        """Answer one /cgi-bin request: apply faults, check the token, run the endpoint, record the call."""
        with self._lock:
            fault, release = self._faults.take(req.path), self._faults.release_event
        if fault is not None and fault.delay:
            with self._lock:
                self._held[req.path] += 1
            try:
                release.wait(fault.delay)
            finally:
                with self._lock:
                    self._held[req.path] -= 1
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
        self._webhook.start_pending()
        return response

    def record_oversized(self, req: ApiRequest) -> None:
        """Record a call rejected with HTTP 413 before its body was read."""
        with self._lock:
            self._record(req, ApiResponse(status=413, text="request body too large"), None, None)

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
                appid = self._tokens.check_token(req.query.get("access_token"))
            return ApiResponse(payload=route.handler(req, appid)), appid
        except _WeChatError as exc:
            return ApiResponse(payload={"errcode": exc.errcode, "errmsg": exc.errmsg, **exc.extra}), appid

    def _record(self, req: ApiRequest, response: ApiResponse, appid: str | None, fault: Fault | None) -> None:
        self._calls.record(req, response, appid, fault)
        self._changed.notify_all()
