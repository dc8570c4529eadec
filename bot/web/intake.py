"""From a verified push to the reply body: dedup, dispatch, deadline, replay.

Pure routers (answers from in-memory state) reply with one Redis round trip: the reply is rendered
first and stored with the dedup claim. Other routers claim first, then run on a worker thread; if
they miss WeChat's deadline the push is answered `success` and the reply goes out later through the
customer-service API. Either way a retry gets the first delivery's reply and no handler runs twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import bot.metrics as metrics
from bot.questions.desk import deliver_pending_links
from bot.rules.model import RuleMatch
from bot.rules.ruleset import FixedRules, RuleBook
from bot.store import FORGED, Effect, Store, StoreError
from bot.wechat import messages as m
from bot.wechat.api import WeChatAPI, WeChatAPIError
from bot.wechat.edge import Envelope, WeChatEdge
from bot.wechat.errors import WeChatRequestError
from bot.wechat.outbound import custom_message, fits_passive, render_reply, split_text
from handlers.base import Context, Dispatcher, Outcome, Router, Written

log = logging.getLogger(__name__)

PENDING = b"P"
SILENT = b"S"
REPLY = b"R"
SUCCESS = "success"
BUSY_REPLY = "系统繁忙，请稍后再发送一次。"
CONTINUED = "\n（内容较长，余下部分随后发送）"
LINKS_WAITING = 1  # what the claim answers when answer links wait for the follower
FORGED_REASON = "signature already used with a different body (replayed query string)"
MIN_WAIT = 0.1  # seconds a slow handler always gets, however late the push seems


def opens_reply_window(msg: m.Inbound) -> bool:
    """Whether WeChat now lets us send this follower customer-service messages (48 h, or 1 min for events)."""
    return msg.is_user_message or isinstance(msg, m.ClickEvent | m.SubscribeEvent | m.ScanEvent)


@dataclass
class _Task:
    """A slow handler's hand-off between the request thread and the worker thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False
    xml: str | None = None


@dataclass(frozen=True, slots=True)
class DryRun:
    """How the bot would answer a message, found without claiming, storing or sending anything."""

    router: str  # the router that takes it
    reply: m.Reply | None  # None: nothing shown (answered `success`), or not run (see `stored`)
    stored: bool  # the router has side effects (storing a question): it was not run, its reply is unknown


class Intake:
    """Turns one POSTed push into (HTTP status, body)."""

    def __init__(self, edge: WeChatEdge, dispatcher: Dispatcher, ctx: Context,
                 deliver: Callable[[str, list[m.Reply]], None], workers: int = 4) -> None:
        self.edge = edge
        self.dispatcher = dispatcher
        self.ctx = ctx
        self.deliver = deliver  # sends replies through the customer-service API, later
        self.ttl = ctx.config.webhook.dedup_ttl_seconds
        # A plaintext signature is accepted while its timestamp is within the skew window on either side.
        self.binding_ttl = 2 * max(self.ttl, edge.max_skew_seconds)
        self.deadline = ctx.config.webhook.reply_deadline_seconds
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="handler")
        self._trace = threading.local()  # this request thread's push, for its one log line

    def receive(self, args: Mapping[str, str], body: bytes) -> tuple[int, str]:
        started = time.monotonic()
        trace = self._trace
        trace.msg, trace.router, trace.outcome, trace.rule = None, "", "", ""
        try:
            status, reply = self._receive(args, body, started)
        except Exception:
            # A bug must not reach WeChat as a 500 (the follower would see "无法提供服务").
            log.exception("unexpected error handling a push")
            status, reply, trace.outcome = 200, SUCCESS, "error"
        self._account(trace, status, reply, started)
        return status, reply

    def _account(self, trace: threading.local, status: int, reply: str, started: float) -> None:
        """The push's metrics, and one log line: its id, kind, pseudonymous sender, router, outcome, time."""
        elapsed = time.monotonic() - started
        msg: m.Inbound | None = trace.msg
        outcome = trace.outcome or ("refused" if status >= 400 else "silent" if reply == SUCCESS else "replied")
        metrics.PUSHES.labels(msg.kind if msg else "unparsed", outcome).inc()
        metrics.PUSH_SECONDS.observe(elapsed)
        if trace.rule and outcome in ("replied", "silent", "late"):  # a retry's replay is not another hit
            metrics.RULE_HITS.labels(trace.rule).inc()
        # Ordinary answers at DEBUG: a line per push costs the webhook ~7% of its throughput (README); retries,
        # late replies, forgeries and errors are always worth a line.
        level = logging.DEBUG if outcome in ("replied", "silent") else logging.INFO
        if msg is None or not log.isEnabledFor(level):
            return  # a push refused before it was read is logged where it was refused
        fields = {"msg_id": msg.dedup_key, "kind": msg.kind, "follower": self.ctx.pseudonym(msg.openid),
                  "router": trace.router, "outcome": outcome, "duration_ms": round(elapsed * 1000, 2)}
        log.log(level, "push %(kind)s %(msg_id)s from %(follower)s: %(outcome)s by %(router)s in %(duration_ms)s ms",
                fields, extra=fields)

    def _receive(self, args: Mapping[str, str], body: bytes, started: float) -> tuple[int, str]:
        try:
            env = self.edge.open(args, body)
        except WeChatRequestError as exc:
            log.info("refused push: %s (HTTP %d)", exc.reason, exc.status)
            return exc.status, exc.reason
        msg = env.message
        self._trace.msg = msg
        try:
            router, found = self.dispatcher.route(msg, self.ctx)
        except Exception:
            log.exception("routing failed for %s %s", msg.kind, msg.dedup_key)
            self._trace.outcome = "error"
            return 200, SUCCESS
        self._trace.router = router.name
        if isinstance(found, RuleMatch):
            self._trace.rule = found.rule.id
        if router.pure:
            return self._pure(router, found, env)
        return self._slow(router, found, env, started)

    def dry_run(self, msg: m.Inbound, rules: RuleBook | None = None) -> DryRun:
        """Route `msg` as a push would be routed, with the live rules or the given `rules` (an unsaved edit).

        Only a pure router's handler runs (it reads memory only; its effects are dropped), so nothing changes.
        """
        ctx = self.ctx
        if rules is not None:
            ctx = replace(ctx, services=replace(ctx.services, rules=FixedRules(rules, ctx.store, ctx.config)))
        router, found = self.dispatcher.route(msg, ctx)
        if not router.pure:
            return DryRun(router.name, None, stored=True)
        return DryRun(router.name, router.handle(msg, found, ctx).reply, stored=False)

    # -- pure routers: one round trip -----------------------------------------------------------

    def _pure(self, router: Router, found: object, env: Envelope) -> tuple[int, str]:
        msg = env.message
        try:
            outcome = router.handle(msg, found, self.ctx)
            xml, rest = self._render(outcome.reply, msg)
        except Exception:
            log.exception("handler %s failed for %s %s", router.name, msg.kind, msg.dedup_key)
            outcome, xml, rest = Outcome(None), None, []
            self._trace.outcome = "error"
        effects = outcome.effects
        if opens_reply_window(msg):
            # Same round trip: are answer links waiting for this follower (WeChat refused them before)?
            effects = (*effects, *self._window_effects(msg),
                       self.ctx.store.pending_links_flag(self.ctx.pseudonym(msg.openid)))
        try:
            prior = self.ctx.store.claim(msg.dedup_key, REPLY + xml.encode() if xml else SILENT, self.ttl, effects,
                                         env.binding, self.binding_ttl)
        except StoreError as exc:
            # Without Redis we cannot deduplicate, but a pure reply has no side effects to repeat.
            log.warning("store unavailable (%s); replying to %s without dedup", type(exc).__name__, msg.dedup_key)
            prior = None
        if prior == FORGED:
            return self._forged(env)
        if prior == LINKS_WAITING:
            self.executor.submit(self._pending_links, msg)
        elif isinstance(prior, bytes):
            return self._replay(prior, env, time.monotonic() + self.deadline)
        if rest:
            self.executor.submit(self._deliver, msg, rest)
        return 200, self.edge.seal(xml, env) if xml else SUCCESS

    # -- other routers: claim, then handle under the deadline -----------------------------------

    def _slow(self, router: Router, found: object, env: Envelope, started: float) -> tuple[int, str]:
        msg = env.message
        deadline = self._deadline(started, env)
        store = self.ctx.store
        write = router.write(msg, found, self.ctx)
        try:
            if write is None:
                prior = store.claim(msg.dedup_key, PENDING, self.ttl, self._window_effects(msg), env.binding,
                                    self.binding_ttl)
            else:  # the handler's write rides on the claim; answer links waiting are reported by it too
                effects = (*self._window_effects(msg), store.pending_links_flag(self.ctx.pseudonym(msg.openid)))
                prior, result = store.claim_with(write, msg.dedup_key, PENDING, self.ttl, effects, env.binding,
                                                 self.binding_ttl)
                found = Written(found, result, prior == LINKS_WAITING)
        except StoreError as exc:
            if write is None:
                log.warning("store unavailable (%s); %s not handled", type(exc).__name__, msg.dedup_key)
                return 200, self.edge.seal(render_reply(m.TextReply(BUSY_REPLY), msg), env)
            log.warning("store unavailable (%s); %s not stored", type(exc).__name__, msg.dedup_key)
            prior, found = None, Written(found, None)  # the handler says what was not stored
        if prior == LINKS_WAITING:
            prior = None
        if prior == FORGED:
            return self._forged(env)
        if isinstance(prior, bytes):
            return self._replay(prior, env, deadline)
        task = _Task()
        self.executor.submit(self._work, task, router, found, msg)
        task.done.wait(max(0.0, deadline - time.monotonic()))
        with task.lock:
            if not task.done.is_set():
                task.abandoned = True  # the worker thread will deliver the reply itself
                self._trace.outcome = "late"  # missed the deadline: the reply goes by the API
                return 200, SUCCESS
        return 200, self.edge.seal(task.xml, env) if task.xml else SUCCESS

    def _work(self, task: _Task, router: Router, found: object, msg: m.Inbound) -> None:
        reply: m.Reply | None = None
        xml: str | None = None
        rest: list[m.Reply] = []
        effects: tuple[Effect, ...] = ()
        try:
            outcome = router.handle(msg, found, self.ctx)
            reply, effects = outcome.reply, tuple(outcome.effects)
            xml, rest = self._render(reply, msg)
        except Exception:
            log.exception("handler %s failed for %s %s", router.name, msg.kind, msg.dedup_key)
            reply, xml, rest = None, None, []
        with task.lock:
            abandoned = task.abandoned
            task.xml = xml
            task.done.set()
        if abandoned:
            rest = self._split_all(reply)  # the passive answer was `success`: send all of it
        try:
            self.ctx.store.settle(msg.dedup_key, REPLY + xml.encode() if xml and not abandoned else SILENT, self.ttl,
                                  effects)
        except StoreError:
            log.warning("could not record the outcome of %s", msg.dedup_key)
        if rest:
            self._deliver(msg, rest)

    # -- helpers ------------------------------------------------------------------------------

    def _window_effects(self, msg: m.Inbound) -> tuple[Effect, ...]:
        """A follower's own message restarts WeChat's 48 h for telling them answers (events do not)."""
        if not msg.is_user_message:
            return ()
        return (self.ctx.store.seen_effect(self.ctx.pseudonym(msg.openid), self.ctx.clock().timestamp()),)

    def _deadline(self, started: float, env: Envelope) -> float:
        """When to stop waiting (a monotonic time): `reply_deadline_seconds` after WeChat sent the push.

        WeChat's 5 s run from its send, and a push may have queued behind busy workers before `started`.
        Its signed timestamp names the second it was sent; a clock ahead of WeChat's only shortens the wait.
        """
        now = time.monotonic()
        queued = self.edge.clock() - int(env.timestamp) - 0.5  # sent within the second it names, on average
        waited = max(now - started, queued)
        return now + max(MIN_WAIT, self.deadline - waited)

    def _render(self, reply: m.Reply | None, msg: m.Inbound) -> tuple[str | None, list[m.Reply]]:
        """The passive XML, plus any text that did not fit and must follow by the API."""
        if reply is None:
            return None, []
        if isinstance(reply, m.TextReply) and not fits_passive(reply.content):
            parts = split_text(reply.content, 2047 - len(CONTINUED.encode()))
            first = m.TextReply(parts[0] + CONTINUED)
            return render_reply(first, msg), [m.TextReply(p) for p in parts[1:]]
        return render_reply(reply, msg), []

    @staticmethod
    def _split_all(reply: m.Reply | None) -> list[m.Reply]:
        if isinstance(reply, m.TextReply):
            return [m.TextReply(p) for p in split_text(reply.content)]
        return [reply] if reply is not None else []

    def _forged(self, env: Envelope) -> tuple[int, str]:
        # A captured query string re-used with another body: someone other than WeChat is pushing.
        self._trace.outcome = "forged"
        log.warning("refused push: signature %s… re-used with a different body (%s %s)",
                    env.binding[0][:8] if env.binding else "", env.message.kind, env.message.dedup_key)
        return 403, FORGED_REASON

    def _replay(self, prior: bytes, env: Envelope, deadline: float) -> tuple[int, str]:
        """A retry: answer exactly what the first delivery answered (waiting briefly if still running)."""
        if prior == PENDING:
            try:
                prior = self.ctx.store.wait_outcome(env.message.dedup_key, PENDING, deadline) or SILENT
            except StoreError:
                prior = SILENT
        self._trace.outcome = "replayed"
        if prior.startswith(REPLY):
            return 200, self.edge.seal(prior[1:].decode("utf-8"), env)
        return 200, SUCCESS

    def _pending_links(self, msg: m.Inbound) -> None:
        try:
            deliver_pending_links(self.ctx.store, self.ctx.services.api, msg.openid,
                                  self.ctx.pseudonym(msg.openid))
        except Exception:
            log.warning("waiting answer links for %s not delivered; kept for later", msg.dedup_key)

    def _deliver(self, msg: m.Inbound, replies: list[m.Reply]) -> None:
        try:
            self.deliver(msg.openid, replies)
        except Exception:
            log.exception("late delivery failed for %s", msg.dedup_key)


def make_deliver(api: WeChatAPI | None, store: Store, keep: int = 10000) -> Callable[[str, list[m.Reply]], None]:
    """Send replies by the customer-service API; what WeChat certainly did not send waits in the outbox."""

    def queue(openid: str, replies: list[m.Reply]) -> None:
        for pending in replies:
            store.push_outbox({"body": custom_message(pending, openid), "attempts": 0}, keep)
        metrics.LATE_REPLIES.labels("queued").inc(len(replies))

    def deliver(openid: str, replies: list[m.Reply]) -> None:
        if api is None:
            queue(openid, replies)
            log.warning("late reply queued: no WeChat API client configured")
            return
        for i, reply in enumerate(replies):
            try:
                api.send_custom(custom_message(reply, openid))
                metrics.LATE_REPLIES.labels("sent").inc()
            except WeChatAPIError as exc:
                if exc.safe_to_repeat:
                    queue(openid, replies[i:])
                    log.warning("late reply queued for retry: %s", exc)
                elif exc.outcome_unknown:
                    # This one may have arrived: a second copy is worse than none. The rest were not sent.
                    queue(openid, replies[i + 1:])
                    log.warning("late reply not sent again, WeChat may have delivered it: %s", exc)
                else:
                    metrics.LATE_REPLIES.labels("dropped").inc(len(replies) - i)
                    log.warning("late reply dropped: %s", exc)
                return

    return deliver
