"""Fault injection and the call log: what tests queue to go wrong, and what the fake saw.

Neither class locks: `FakeWeChatState` holds its lock around every call into them.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.fake_wechat.model import FINAL_PUBLISH_STATUSES, ApiRequest, ApiResponse, Fault, RecordedCall, _Counter

_REDACTED = "***"
_REDACT_KEYS = frozenset({"access_token", "secret"})


def make_fault(
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
    """A checked `Fault` (see `FakeWeChatState.inject`); ValueError for a combination WeChat could not produce."""
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
    return Fault(path, times, errcode, errmsg, http_status, delay, publish_status, tuple(fail_idx))


class Faults:
    """Queued faults, consumed in order, and the event that lets requests held by delay faults go."""

    def __init__(self) -> None:
        """No faults; delays wait until released."""
        self._faults: list[Fault] = []
        self.release_event = threading.Event()

    def add(self, fault: Fault) -> None:
        """Queue `fault` after those already queued."""
        self._faults.append(fault)

    def pending(self) -> list[Fault]:
        """Faults not yet consumed, in order."""
        return list(self._faults)

    def release(self) -> None:
        """Wake every request now waiting on a delay; later delays wait on a fresh event."""
        self.release_event.set()
        self.release_event = threading.Event()

    def clear(self) -> None:
        """Forget every queued fault."""
        self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """Consume the first request fault (not a publish fault) that applies to `path`."""
        return self._take(path, publish=False)

    def take_publish(self, path: str) -> Fault | None:
        """Consume the first publish fault that applies to `path`: it decides how the submitted job ends."""
        return self._take(path, publish=True)

    def snapshot(self) -> list[dict[str, Any]]:
        """The queued faults as JSON-able dicts."""
        return [dataclasses.asdict(f) for f in self._faults]

    def _take(self, path: str, publish: bool) -> Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.is_publish_fault == publish and fault.matches(path):
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


class CallLog:
    """Every /cgi-bin call as the fake answered it, with secrets redacted."""

    def __init__(self, seq: _Counter) -> None:
        """`seq` numbers the calls; pushes share it."""
        self._seq = seq
        self._calls: list[RecordedCall] = []

    def record(self, req: ApiRequest, response: ApiResponse, appid: str | None, fault: Fault | None) -> None:
        """Append the call; `appid` is the caller's if known (token endpoints name it in the request)."""
        seq = self._seq.next()
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
                seq=seq,
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

    def matching(self, path: str | None = None, since: int = 0) -> list[RecordedCall]:
        """Calls (for `path`, if given) with seq > `since`, oldest first."""
        return [c for c in self._calls if (path is None or c.path == path) and c.seq > since]

    def clear(self) -> None:
        """Forget every call (the sequence goes on)."""
        self._calls.clear()


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
