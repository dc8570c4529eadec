"""Pushing PUBLISHJOBFINISH events to the bot's webhook, plaintext or in safe mode, from background threads.

Unlike the other families this one takes `FakeWeChatState`'s lock itself where it says so: its pushes run
outside any request, and no response may wait on the webhook.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import requests

from bot.fake_wechat.model import FakeAccount, JsonDict, PushResult, _Counter, _PublishJob
from bot.fake_wechat.protocol import MPHELPER_OPENID, publish_event_xml
from bot.wechat.crypto import MessageCrypto
from bot.wechat.simulator import Account as _PushAccount
from bot.wechat.simulator import signed_request


class Webhook:
    """Where pushes go, the jobs waiting to be pushed, the push threads and what each push got back."""

    def __init__(self, changed: threading.Condition, seq: _Counter, account_for: Callable[[str], FakeAccount]) -> None:
        """`changed` is the state's lock (notified as pushes end), `seq` the call log's, `account_for` the
        account a job's appid belongs to."""
        self._lock = changed
        self._seq = seq
        self._account_for = account_for
        self.url: str | None = None
        self._token: str | None = None
        self.aes_key: str | None = None
        self._threads: list[threading.Thread] = []
        self._pending: list[_PublishJob] = []
        self._results: list[PushResult] = []

    def set(self, url: str | None, token: str | None, aes_key: str | None) -> None:
        """Check and replace all three settings (see `FakeWeChatState.set_webhook`); takes the lock."""
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
            self.url, self._token = url, token
            self.aes_key = aes_key or None

    def job_finished(self, job: _PublishJob) -> None:
        """Queue the event of a job that just finished, if pushes are on; the caller holds the lock."""
        if self.url is not None:
            self._pending.append(job)

    def resend(self, job: _PublishJob) -> None:
        """Queue the event of a finished job again; ValueError without a url. The caller holds the lock."""
        if self.url is None:
            raise ValueError("no webhook_url configured")
        self._pending.append(job)

    def results(self) -> list[PushResult]:
        """Finished pushes, oldest first; the caller holds the lock."""
        return list(self._results)

    def clear(self) -> None:
        """Forget finished and queued pushes; the caller holds the lock."""
        self._results.clear()
        self._pending.clear()

    def snapshot(self) -> list[JsonDict]:
        """Finished pushes as JSON-able dicts; the caller holds the lock."""
        return [dataclasses.asdict(p) for p in self._results]

    def start_pending(self) -> None:
        """Start a background push for each job queued under the lock (so no response waits on the webhook)."""
        with self._lock:
            jobs, self._pending = self._pending, []
            url, token, aes_key = self.url, self._token, self.aes_key
            self._threads = [t for t in self._threads if t.is_alive()]
            if url is None or token is None:
                return
            for job in jobs:
                account = self._account_for(job.appid)
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
                self._threads.append(thread)
                thread.start()

    def join(self, timeout: float) -> None:
        """Wait (up to `timeout` in total) for push threads still running."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

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
            self._results.append(PushResult(self._seq.next(), publish_id, status, url, http_status, error, encrypted))
            self._lock.notify_all()
