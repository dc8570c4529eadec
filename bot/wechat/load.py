"""A WeChat-like load generator: signed pushes from many connections, each retried as WeChat retries.

WeChat waits 5 s for an answer and sends the same push (same MsgId, same body) up to three times in all;
behind a load balancer a retry may reach another server, so each try goes to the next target in turn.
Used by the fault tests and `bench/load.py`.
"""

from __future__ import annotations

import http.client
import itertools
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from bot.wechat.simulator import Account, ReadReply, message_xml, read_reply, signed_request

ACK = re.compile(r"已收到您的问题（编号 (\d+)）|这个问题我们已经收到（编号 (\d+)）")
KEYWORDS = ("问卷", "干细胞", "免疫耐受", "豆制品", "帮助", "豆浆能喝吗", "ＭＳＣ")
QUESTIONS = ("提问：肾移植术后三年，他克莫司的血药浓度一直偏低，需要调整剂量吗",
             "提问：移植后可以吃豆腐和豆浆吗，每天吃多少合适",
             "Q: 吃药的时间如果晚了两个小时，还需要补吃吗")
EVENTS = (("subscribe", ""), ("CLICK", "MENU_SURVEY"), ("CLICK", "MENU_ARTICLES"))


@dataclass
class Try:
    """One HTTP attempt: where it went, its status (None: no answer) and how long it took."""

    target: str
    status: int | None
    seconds: float
    error: str = ""


@dataclass
class Push:
    """One push and what became of it."""

    index: int
    kind: str  # "question", "keyword" or "event"
    msg_id: int
    text: str  # a message's text, or the event and its key
    aes: bool
    phase: str  # the generator's phase when the push was made (set by the test: "before", "after" ...)
    tries: list[Try] = field(default_factory=list)
    reply: ReadReply | None = None  # the reply that ended the push; None: not answered after every try
    error: str = ""  # a final error: a 4xx, or a 200 whose body did not read as a signed reply
    seconds: float = 0.0
    query: dict[str, str] = field(default_factory=dict, repr=False)  # the signed request, sent on every try
    body: bytes = field(default=b"", repr=False)

    @property
    def answered_by(self) -> str | None:
        return self.tries[-1].target if self.reply is not None else None

    @property
    def qid(self) -> str | None:
        """The question id an acknowledgement named, else None."""
        found = ACK.search(self.reply.text) if self.reply is not None else None
        return (found[1] or found[2]) if found else None


class Load:
    """`connections` threads sending pushes until `stop()`, in a mix of questions, keywords and events."""

    def __init__(self, targets: Sequence[str], account: Account, run_id: str, *, connections: int = 1,
                 mix: tuple[float, float, float] = (1.0, 0.0, 0.0), aes: bool | None = False,
                 timeout: float = 5.0, tries: int = 3, seed: int = 0) -> None:
        """`mix`: shares of questions, keywords and events; `aes`: None alternates plaintext and AES."""
        self.targets = [t.rstrip("/") for t in targets]
        self.account, self.run_id = account, run_id
        self.connections, self.mix, self.aes = connections, mix, aes
        self.timeout, self.max_tries, self.seed = timeout, tries, seed
        self.phase = "before"
        self.pushes: list[Push] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._next = itertools.count()
        self._threads: list[threading.Thread] = []
        self._base_id = int(time.time() * 1000) * 10**6

    # -- one push -----------------------------------------------------------------------------

    def make(self, i: int) -> Push:
        """Push number `i`, its kind drawn from the mix, signed (and encrypted) once for all its tries."""
        rnd = random.Random(self.seed * 1_000_003 + i)
        kind = rnd.choices(("question", "keyword", "event"), weights=self.mix)[0]
        aes = bool(i % 2) if self.aes is None else self.aes
        openid = f"o_load_{self.run_id}_{i}"
        msg_id = self._base_id + i
        if kind == "question":
            text = f"{rnd.choice(QUESTIONS)}？（{self.run_id}-{i}）"
            xml = message_xml(self.account, openid, text=text, msg_id=msg_id)
        elif kind == "keyword":
            text = rnd.choice(KEYWORDS)
            xml = message_xml(self.account, openid, text=text, msg_id=msg_id)
        else:
            event, key = rnd.choice(EVENTS)
            text = f"{event} {key}".strip()
            xml = message_xml(self.account, openid, event=event, event_key=key)
        query, body = signed_request(self.account, xml, aes=aes)
        return Push(i, kind, msg_id, text, aes, self.phase, query=query, body=body)

    def send(self, push: Push, first: int | None = None, tries: int | None = None) -> Push:
        """Send it as WeChat would: the same request up to `tries` times, each try to the next target."""
        started = time.monotonic()
        first = push.index if first is None else first
        path = "/wechat?" + urlencode(push.query)
        for attempt in range(self.max_tries if tries is None else tries):
            target = self.targets[(first + attempt) % len(self.targets)]
            t0 = time.monotonic()
            status, text, error = self._post(target, path, push.body)
            push.tries.append(Try(target, status, time.monotonic() - t0, error))
            if status is None or status >= 500:
                continue
            if status != 200:
                push.error = f"HTTP {status}: {text[:200]}"
            else:
                try:
                    push.reply = read_reply(self.account, text)
                except Exception as exc:
                    push.error = f"unreadable reply: {type(exc).__name__}: {exc}"
            break
        push.seconds = time.monotonic() - started
        return push

    def resend(self, push: Push, target: int) -> Push:
        """The same request once more, to target number `target`: a retry that arrives after an answer."""
        again = Push(push.index, push.kind, push.msg_id, push.text, push.aes, "resend", query=push.query,
                     body=push.body)
        return self.send(again, first=target, tries=1)

    def _post(self, target: str, path: str, body: bytes) -> tuple[int | None, str, str]:
        url = urlsplit(target)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=self.timeout)
        try:
            conn.request("POST", path, body, {"Content-Type": "text/xml"})
            res = conn.getresponse()
            return res.status, res.read().decode("utf-8", "replace"), ""
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out: WeChat retries
            return None, "", type(exc).__name__
        finally:
            conn.close()

    # -- the run ------------------------------------------------------------------------------

    def start(self) -> Load:
        for n in range(self.connections):
            thread = threading.Thread(target=self._run, name=f"load-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop making pushes and wait for those under way (each ends within tries × timeout)."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            raise RuntimeError("load threads still running")

    def _run(self) -> None:
        while not self.stopping.is_set():
            push = self.send(self.make(next(self._next)))
            with self._lock:
                self.pushes.append(push)

    def stop_after(self, seconds: float) -> None:
        self.stopping.wait(seconds)
        self.stop()

    def done(self) -> list[Push]:
        """The pushes finished so far, in the order they finished."""
        with self._lock:
            return list(self.pushes)

    def acked(self, phase: str | None = None) -> list[Push]:
        """Questions the bot acknowledged (their reply names a question id), of one phase or all."""
        return [p for p in self.done() if p.qid and (phase is None or p.phase == phase)]


@dataclass(frozen=True)
class Tally:
    """What the bot stored against what it acknowledged."""

    pushes: int
    acked: int
    stored: int
    lost: tuple[str, ...]  # acknowledged, but not stored
    misfiled: tuple[str, ...]  # acknowledged and stored, but not under the id the acknowledgement named
    duplicated: tuple[str, ...]  # texts stored more than once
    unanswered: int  # no answer after every try
    errors: tuple[str, ...]  # final errors (4xx, unreadable replies)


def tally(pushes: Sequence[Push], stored: Sequence[tuple[str, str | None]]) -> Tally:
    """Compare the pushes with the questions read back: `stored` is (question id, text as received)."""
    ids_by_text: dict[str, list[str]] = {}
    for qid, text in stored:
        ids_by_text.setdefault(text or "", []).append(qid)
    acked = [p for p in pushes if p.qid]
    lost = tuple(p.text for p in acked if p.text not in ids_by_text)
    misfiled = tuple(p.text for p in acked if p.text in ids_by_text and p.qid not in ids_by_text[p.text])
    duplicated = tuple(text for text, ids in ids_by_text.items() if len(ids) > 1)
    return Tally(len(pushes), len(acked), len(stored), lost, misfiled, duplicated, sum(p.reply is None for p in pushes),
                 tuple(f"{p.kind} {p.index}: {p.error}" for p in pushes if p.error))


class Questions(Protocol):
    """The part of the Store that reads questions back."""

    def pending_question_ids(self, start: int = 0, stop: int = -1) -> list[str]: ...

    def question_fields(self, qids: Sequence[str], fields: Sequence[str], chunk: int = 5000
                        ) -> list[list[str | None]]: ...


def stored_questions(store: Questions) -> list[tuple[str, str | None]]:
    """Every pending question as (id, text as received)."""
    ids = store.pending_question_ids()
    return [(qid, row[0]) for qid, row in zip(ids, store.question_fields(ids, ["text"]), strict=True)]
