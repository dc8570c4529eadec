"""Editors' operations on questions and reply posts: the one service the CLI uses now and the console next.

Nothing here is reachable over HTTP. Every change that must not race with publishing is an atomic
edit in `bot.store` that checks the post's status (a post being published cannot be edited).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.config import Config
from bot.questions.batching import BatchResult, finish_crashed_batches, run_batch, run_due_batches
from bot.questions.desk import QuestionDesk
from bot.questions.post_states import move_post
from bot.questions.privacy import scrub_report
from bot.questions.publishing import FINAL_FAILURES, Publisher
from bot.questions.render import (
    TITLE_MAX,
    PostContentError,
    RenderedPost,
    is_answered,
    is_confirmed,
    question_text,
    render_post,
)
from bot.questions.similarity import compared_form
from bot.store import PostEdit, Store
from bot.wechat.api import WeChatAPI

if TYPE_CHECKING:
    from bot.accounts.audit import AuditLog
    from bot.rules.ruleset import RuleBook

EDITABLE = frozenset({"draft", "scheduled", "failed"})
SCHEDULABLE = frozenset({"draft", "scheduled", "failed"})
# Ids as the store makes them; anything else would name another key (``seq``, ``1:groups``).
_POST_ID = re.compile(r"\d+")
_GROUP_ID = re.compile(r"g\d+")
STATUSES = ("new", "batched", "answered", "published", "rejected", "merged")
TOPIC_MAX = 20
REASON_MAX = 200
_SCAN = 500  # questions read per round trip while listing
# Ids are handed out at intake in arrival order, so `received` falls as a listing walks down; an hour's slack
# covers workers whose clocks disagree before a date filter stops the walk.
_CLOCK_SLACK = 3600.0
_ROW_FIELDS = ("public", "topic", "received", "asker", "status", "post", "into", "notify", "reason")


class EditError(ValueError):
    """An editor's request that cannot be done now (the post or question is in the wrong state); says why."""


class NotFound(EditError):
    """The post, group or question named does not exist."""


class Invalid(EditError):
    """The request itself is malformed (an id, a length, a time, a link): asking again will not help."""


def check_id(kind: str, value: str) -> str:
    """`value` if it is a well-formed post, question or group id; EditError otherwise (before Redis is asked)."""
    pattern, example = (_GROUP_ID, "g1") if kind == "group" else (_POST_ID, "12")
    if not pattern.fullmatch(value):
        raise Invalid(f"{value!r} is not a {kind} id (like {example})")
    return value


@dataclass(frozen=True, slots=True)
class GroupReview:
    """One group's question text as it would be published, with the spans an editor should check by eye."""

    gid: str
    text: str
    unsure: tuple[tuple[int, int], ...]
    confirmed: bool
    answered: bool


def review_group(group: dict[str, Any]) -> GroupReview:
    """The group's question text and where the scrubber is unsure (all of it if scrubbing it again changes it)."""
    text = question_text(group)
    return GroupReview(str(group["id"]), text, unsure_spans(text), is_confirmed(group), is_answered(group))


@dataclass(frozen=True, slots=True)
class QuestionFilter:
    """Which questions an editor looks at: by status, topic and when they arrived (epoch s, [since, until))."""

    status: str = ""
    topic: str = ""
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if self.status and self.status not in STATUSES:
            raise Invalid(f"status {self.status!r} is not one of {', '.join(STATUSES)}")

    def matches(self, q: dict[str, str]) -> bool:
        received = float(q.get("received") or 0)
        return ((not self.status or q.get("status") == self.status) and (not self.topic or q.get("topic") == self.topic)
                and (self.since is None or received >= self.since) and (self.until is None or received < self.until))


@dataclass(frozen=True, slots=True)
class QuestionRow:
    """One question as the inbox shows it: scrubbed text with its unsure spans, and whether its asker is told."""

    qid: str
    text: str
    unsure: tuple[tuple[int, int], ...]
    topic: str
    received: float
    status: str
    post: str
    into: str
    reason: str
    asker: str  # a pseudonym
    notify: str  # told, link_waiting, after_publish, not_told


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a bulk action did: the ids changed and, for the others, why not."""

    done: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def unsure_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Where scrubbed `text` may still hold personal data (all of it if scrubbing it again changes it)."""
    report = scrub_report(text)
    return report.unsure if report.text == text else ((0, len(text)),)


def outcome_unknown(post: dict[str, str]) -> bool:
    """A failed post that may be live all the same: an editor must check WeChat's 发表记录 (published list)."""
    unknown = bool(post.get("submitted_draft")) or bool(post.get("publish_id") and not post.get("publish_status"))
    return post.get("status") == "failed" and unknown


def _topic(topic: str) -> str:
    topic = topic.strip()
    if not 0 < len(topic) <= TOPIC_MAX:
        raise Invalid(f"topic must be 1 to {TOPIC_MAX} characters, got {len(topic)}")
    return topic


def _reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise Invalid(f"reason must be at most {REASON_MAX} characters, got {len(reason)}")
    return reason


@dataclass(frozen=True)
class PostView:
    """Everything `posts show` prints: the post's fields, its groups and the WeChat errors met."""

    post: dict[str, str]
    groups: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(1 for g in self.groups if is_answered(g))


class PostService:
    """Questions in, batches, editing, scheduling and publishing of reply posts."""

    def __init__(self, config: Config, store: Store, api: WeChatAPI | None, clock: Callable[[], datetime],
                 rules: Callable[[], RuleBook] | None = None, audit: AuditLog | None = None) -> None:
        self.config = config
        self.audit = audit  # every editor's change is recorded here (None: tests that do not look)
        self.qa = config.questions
        self.store = store
        self.clock = clock
        self.tz = config.account.tz
        self.desk = QuestionDesk(self.qa, config.articles, store, self.tz, rules)  # rules: the live book, for tags
        self.publisher = Publisher(config, store, api, clock)

    @property
    def api(self) -> WeChatAPI | None:
        return self.publisher.api

    # -- questions ----------------------------------------------------------------------------

    def pending(self, limit: int = 50) -> tuple[int, list[dict[str, str]]]:
        """How many questions wait for the next batch, and the oldest `limit` of them."""
        keys = ("id", "public", "topic", "received", "asker", "status")
        rows = self.store.question_fields(self.store.pending_question_ids(0, limit - 1), keys)
        return self.store.pending_count(), [{k: v or "" for k, v in zip(keys, row, strict=True)} for row in rows]

    def question(self, qid: str) -> dict[str, str]:
        q = self.store.question(check_id("question", qid))
        if q is None:
            raise NotFound(f"no question {qid}")
        return q

    def _record(self, actor: str, action: str, target: str, before: dict[str, Any] | None = None,
                after: dict[str, Any] | None = None) -> None:
        if self.audit is not None:
            self.audit.record(actor, action, target, before, after)

    def _walk(self, filt: QuestionFilter, top: int) -> Iterator[dict[str, str]]:
        """Questions matching `filt` from id `top` down (newest first), read in pipelined chunks."""
        while top > 0:
            qids = [str(i) for i in range(top, max(top - _SCAN, 0), -1)]
            top -= _SCAN
            for qid, row in zip(qids, self.store.question_fields(qids, _ROW_FIELDS), strict=True):
                if row[4] is None:  # no such hash (never stored, or a test's prefix was cleared)
                    continue
                q = {k: v or "" for k, v in zip(_ROW_FIELDS, row, strict=True)}
                q["id"] = qid
                if filt.since is not None and float(q["received"] or 0) < filt.since - _CLOCK_SLACK:
                    return
                if filt.matches(q):
                    yield q

    def questions(self, filt: QuestionFilter, cursor: str = "", limit: int = 50) -> tuple[list[QuestionRow], str]:
        """One page of matching questions, newest first, and the cursor of the next page ('' at the end)."""
        last = self.store.last_question_id()
        # A cursor past the newest id (made up, or from another store) starts at the newest: never a walk
        # over ids that were never issued.
        top = min(int(check_id("question", cursor)) - 1, last) if cursor else last
        rows: list[QuestionRow] = []
        for q in self._walk(filt, top):
            if len(rows) == limit:
                return rows, rows[-1].qid
            rows.append(self._row(q))
        return rows, ""

    def matching(self, filt: QuestionFilter) -> list[str]:
        """Every matching question's id (for an action on all that match the filter, not one page)."""
        return [q["id"] for q in self._walk(filt, self.store.last_question_id())]

    def _row(self, q: dict[str, str]) -> QuestionRow:
        return QuestionRow(q["id"], q["public"], unsure_spans(q["public"]), q["topic"], float(q["received"] or 0),
                           q["status"], q["post"], q["into"], q["reason"], q["asker"], self._notify_state(q))

    def _notify_state(self, q: dict[str, str]) -> str:
        """Whether the asker is told the answer's link: told, link_waiting, after_publish or not_told."""
        if q["notify"] != "1" or q["status"] == "rejected":
            return "not_told"
        if q["id"] in self.store.open_questions(q["asker"]):
            return "after_publish"  # the openid is kept for this question until its asker has been told
        if self.store.has_pending_links(q["asker"]):
            return "link_waiting"  # WeChat refused to send it, or the 48 h window had closed
        # Released without a waiting link: told, unless it was never published (the asker unsubscribed).
        return "told" if q["status"] in ("published", "merged") else "not_told"

    def question_row(self, qid: str) -> QuestionRow:
        q = self.question(qid)
        return self._row({**{k: q.get(k, "") for k in _ROW_FIELDS}, "id": qid})

    def reject_question(self, qid: str, reason: str = "", *, actor: str = "cli") -> None:
        """Take one question out: from the queue, or from its group in a post being edited; `reason` is kept."""
        reason = _reason(reason)
        before = self._reject(qid, reason)
        self._record(actor, "question.reject", f"question:{qid}", before, {"status": "rejected", "reason": reason})

    def _reject(self, qid: str, reason: str) -> dict[str, str]:
        q = self.question(qid)
        if q.get("status") == "new":
            if not self.store.reject_pending(qid, reason):
                raise EditError(f"question {qid} was just batched; try again")
            return {"status": "new"}
        pid = q.get("post", "")
        if q.get("status") not in ("batched", "answered") or not pid:
            raise EditError(f"question {qid} is {q.get('status')}: it cannot be rejected now")
        group = next((g for g in self.store.groups(pid) if any(x == qid for x, _ in g["q"])), None)
        if group is None:
            raise EditError(f"question {qid} is in no group of post {pid}")
        gid = group["id"]
        fields = {"status": "rejected", "reason": reason} if reason else {"status": "rejected"}

        def change(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
            self._editable_groups(post, found, pid)
            g = found[gid]
            assert g is not None
            rest = [pair for pair in g["q"] if pair[0] != qid]
            asker = next(a for x, a in g["q"] if x == qid)
            updated = {**g, "q": rest, "askers": len({a for _, a in rest}), "state": g["state"] if rest else "rejected"}
            return PostEdit(groups={gid: updated}, questions={qid: fields}, release={asker: [qid]})

        self._edit(pid, [gid], change)
        return {"status": q.get("status", ""), "post": pid}

    def _pending(self, qid: str) -> dict[str, str]:
        q = self.question(qid)
        if q.get("status") != "new":
            where = f" (post {q['post']})" if q.get("post") else ""
            raise EditError(f"question {qid} is {q.get('status')}{where}: only pending questions can change here")
        return q

    def set_topic(self, qid: str, topic: str, *, actor: str = "cli") -> None:
        """Move a pending question to another topic (its group in the next post follows it)."""
        topic = _topic(topic)
        old = self._set_topic(qid, topic)
        self._record(actor, "question.topic", f"question:{qid}", {"topic": old}, {"topic": topic})

    def _set_topic(self, qid: str, topic: str) -> str:
        q = self._pending(qid)
        if q.get("into"):
            raise EditError(f"question {qid} is merged into {q['into']}: change the topic of {q['into']}")
        # Questions merged into this one follow it, or the next batch would split them off.
        updates = {child: {"topic": topic} for child in (qid, *self._merged_into(qid))}
        if not self.store.update_pending(updates):
            raise EditError(f"question {qid} was just batched; change its group in the post instead")
        return q.get("topic", "")

    def _merged_into(self, qid: str) -> list[str]:
        """Pending questions an editor merged into `qid`."""
        pending = self.store.pending_question_ids()
        return [p for p, (into,) in zip(pending, self.store.question_fields(pending, ("into",)), strict=True)
                if into == qid]

    def merge_question(self, qid: str, into: str, *, actor: str = "cli") -> None:
        """Merge pending question `qid` into pending `into`: the next batch puts both in one group, one answer."""
        self._merge(qid, into)
        self._record(actor, "question.merge", f"question:{qid}", None, {"into": into})

    def _merge(self, qid: str, into: str) -> None:
        if qid == into:
            raise Invalid("a question cannot be merged into itself")
        self._pending(qid)
        target = self._pending(into)
        if target.get("into"):
            raise EditError(f"question {into} is itself merged into {target['into']}: merge into that one")
        form = target.get("form") or compared_form(target.get("norm", ""))
        # Grouping joins questions of one topic and one compared form: sharing both puts them in one group.
        joined = {"into": into, "topic": target.get("topic", ""), "form": form}
        updates = {qid: joined, into: {"form": form}, **{child: joined for child in self._merged_into(qid)}}
        if not self.store.update_pending(updates):
            raise EditError(f"question {qid} or {into} was just batched; merge their groups in the post instead")

    def bulk(self, action: str, qids: list[str], *, actor: str = "cli", reason: str = "", topic: str = "",
             into: str = "") -> BulkResult:
        """Apply `action` (reject, topic, merge) to each question; one that cannot change is skipped with why."""
        if action not in ("reject", "topic", "merge"):
            raise Invalid(f"action {action!r} is not reject, topic or merge")
        if action == "topic":
            topic = _topic(topic)
        reason = _reason(reason)
        if action == "merge":
            self._pending(check_id("question", into))
        done: list[str] = []
        skipped: list[tuple[str, str]] = []
        for qid in dict.fromkeys(qids):  # one audit entry for the whole action, below
            if action == "merge" and qid == into:
                continue
            try:
                if action == "reject":
                    self._reject(qid, reason)
                elif action == "topic":
                    self._set_topic(qid, topic)
                else:
                    self._merge(qid, into)
            except EditError as exc:
                skipped.append((qid, str(exc)))
            else:
                done.append(qid)
        after: dict[str, Any] = {"count": len(done), "ids": done[:100], "skipped": len(skipped)}
        after.update({k: v for k, v in (("reason", reason), ("topic", topic), ("into", into)) if v})
        self._record(actor, f"questions.{action}", f"questions:{len(done)}", None, after)
        return BulkResult(tuple(done), tuple(skipped))

    # -- batching -----------------------------------------------------------------------------

    def title_for(self, when: datetime) -> str:
        local = when.astimezone(self.tz)
        return self.qa.publishing.title.format(date=f"{local.month}月{local.day}日")[:TITLE_MAX]

    def run_digest(self, now: datetime | None = None) -> BatchResult:
        """Batch every pending question into a new draft post now (`python -m bot digest run`)."""
        now = now or self.clock()
        return run_batch(self.store, self.qa, self.title_for(now), now)

    def run_due(self, now: datetime | None = None) -> list[BatchResult]:
        """Each schedule's latest slot, once across every process (cron job and catch-up)."""
        now = now or self.clock()
        return run_due_batches(self.store, self.qa, self.title_for(now), now)

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """The scheduler's periodic job: catch up missed batches, publish, poll, notify."""
        now = now or self.clock()
        done: dict[str, int] = {}
        # A batch that died half-way is finished now, not at the next slot (its questions wait meanwhile).
        resumed = finish_crashed_batches(self.store, self.qa, self.title_for(now))
        if resumed:
            done["resumed_batches"] = len(resumed)
        done["batched"] = sum(1 for r in self.run_due(now) if r.post)
        done.update(self.publisher.tick(now))
        return done

    # -- reading posts ------------------------------------------------------------------------

    def list_posts(self, limit: int = 50) -> list[dict[str, str]]:
        return [p for p in (self.store.post(pid) for pid in self.store.post_ids(limit)) if p]

    def show(self, pid: str) -> PostView:
        post = self.store.post(check_id("post", pid))
        if post is None:
            raise NotFound(f"no post {pid}")
        return PostView(post, self.store.groups(pid), self.store.post_errors(pid))

    def preview(self, pid: str) -> RenderedPost:
        view = self.show(pid)
        try:
            return render_post(view.post, view.groups, self.qa.publishing)
        except PostContentError as exc:
            raise EditError(str(exc)) from None

    # -- editing ------------------------------------------------------------------------------

    def _edit(self, pid: str, gids: list[str],
              change: Callable[[dict[str, str], dict[str, dict[str, Any] | None]], PostEdit]) -> PostEdit:
        check_id("post", pid)
        for gid in gids:
            check_id("group", gid)
        try:
            return self.store.edit_post(pid, gids, EDITABLE, change)
        except LookupError:
            raise NotFound(f"no post {pid}") from None
        except PermissionError as exc:
            raise EditError(f"{exc}: only draft, scheduled or failed posts can be edited") from None

    @staticmethod
    def _editable_groups(post: dict[str, str], found: dict[str, dict[str, Any] | None], pid: str) -> None:
        for gid, g in found.items():
            if g is None:
                raise NotFound(f"post {pid} has no group {gid}")
            if g.get("state") != "open":
                raise EditError(f"group {gid} is {g.get('state')}")
        if post.get("released") == "1":
            raise EditError(f"post {pid} was already sent to WeChat once: its groups can no longer change")

    def edit(self, pid: str, *, title: str | None = None, intro: str | None = None, actor: str = "cli") -> None:
        fields: dict[str, str] = {}
        if title is not None:
            title = title.strip()
            if not 0 < len(title) <= TITLE_MAX:
                raise Invalid(f"title must be 1 to {TITLE_MAX} characters (WeChat's limit), got {len(title)}")
            fields["title"] = title
        if intro is not None:
            fields["intro"] = intro.strip()
        self._edit(pid, [], lambda post, found: PostEdit(post=fields))
        self._record(actor, "post.edit", f"post:{pid}", None, fields)

    def answer(self, pid: str, gid: str, answer: str, question: str | None = None, *, actor: str = "cli") -> None:
        """Set a group's answer (and optionally how its question reads in the post)."""
        answer = answer.strip()
        if not answer:
            raise Invalid("the answer is empty")

        def change(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
            g = found.get(gid)
            if g is None:
                raise NotFound(f"post {pid} has no group {gid}")
            if g.get("state") != "open":
                raise EditError(f"group {gid} is {g.get('state')}")
            updated = {**g, "answer": answer}
            if question is not None and question.strip():
                updated["question"] = updated["confirmed"] = question.strip()  # the editor wrote it: seen
            questions = {q: {"status": "answered"} for q, _ in g["q"] if q not in g.get("merged", [])}
            return PostEdit(groups={gid: updated}, questions=questions, result=g.get("answer", ""))

        before = self._edit(pid, [gid], change).result
        after = {"answer": answer, **({"question": question.strip()} if question and question.strip() else {})}
        self._record(actor, "post.answer", f"post:{pid}/{gid}", {"answer": before}, after)

    def confirm(self, pid: str, gids: list[str], question: str | None = None, *, actor: str = "cli") -> None:
        """An editor read these groups' question texts and lets them be published as they read (or as `question`)."""
        if not gids:
            raise Invalid("name the groups whose question text you have read (like g1 g2)")
        if question is not None and len(gids) != 1:
            raise Invalid("a new question text is for one group at a time")

        def change(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
            groups = {}
            for gid, g in found.items():  # like an answer, the wording may change until the post is published
                if g is None:
                    raise NotFound(f"post {pid} has no group {gid}")
                if g.get("state") != "open":
                    raise EditError(f"group {gid} is {g.get('state')}")
                updated = {**g, "question": question.strip()} if question and question.strip() else dict(g)
                updated["confirmed"] = question_text(updated)
                groups[gid] = updated
            return PostEdit(groups=groups)

        self._edit(pid, list(dict.fromkeys(gids)), change)
        self._record(actor, "post.confirm", f"post:{pid}", None,
                     {"groups": list(dict.fromkeys(gids)), **({"question": question.strip()} if question else {})})

    def review(self, pid: str) -> list[GroupReview]:
        """The open groups' question texts for an editor to read before confirming them."""
        return [review_group(g) for g in self.show(pid).groups if g.get("state") == "open"]

    def unconfirmed(self, view: PostView) -> list[str]:
        """Answered groups whose question text no editor has confirmed: the post cannot be published yet."""
        return [str(g["id"]) for g in view.groups if is_answered(g) and not is_confirmed(g)]

    def reject(self, pid: str, gid: str, *, actor: str = "cli") -> None:
        """Leave a group out of the post; its questions are rejected and their askers' openids released."""

        def change(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
            self._editable_groups(post, found, pid)
            g = found[gid]
            assert g is not None
            release: dict[str, list[str]] = {}
            for qid, asker in g["q"]:
                release.setdefault(asker, []).append(qid)
            return PostEdit(groups={gid: {**g, "state": "rejected"}},
                            questions={q: {"status": "rejected"} for q, _ in g["q"]}, release=release)

        self._edit(pid, [gid], change)
        self._record(actor, "post.reject", f"post:{pid}/{gid}", {"state": "open"}, {"state": "rejected"})

    def merge(self, pid: str, gid: str, into: str, *, actor: str = "cli") -> None:
        """Merge group `gid` into `into`: one answer for both; the askers of both are told."""
        if gid == into:
            raise Invalid("a group cannot be merged into itself")

        def change(post: dict[str, str], found: dict[str, dict[str, Any] | None]) -> PostEdit:
            self._editable_groups(post, found, pid)
            src, dst = found[gid], found[into]
            assert src is not None and dst is not None
            moved = [q for q, _ in src["q"]]
            both = dst["q"] + src["q"]
            target = {**dst, "q": both, "askers": len({a for _, a in both}),
                      "merged": [*dst.get("merged", []), *moved]}
            questions = {q: {"status": "merged", "into": into} for q in moved}
            return PostEdit(groups={gid: {**src, "state": "merged", "into": into, "q": []}, into: target},
                            questions=questions)

        self._edit(pid, [gid, into], change)
        self._record(actor, "post.merge", f"post:{pid}/{gid}", {"state": "open"}, {"state": "merged", "into": into})

    # -- scheduling and publishing ------------------------------------------------------------

    def parse_time(self, text: str) -> datetime:
        """An editor's time: "now", "YYYY-MM-DD HH:MM" in the account's time zone, or ISO 8601 with an offset."""
        if text.strip().lower() == "now":
            return self.clock()
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            raise Invalid(f"{text!r}: use 'YYYY-MM-DD HH:MM' (account time) or 'now'") from None
        return when if when.tzinfo else when.replace(tzinfo=self.tz)

    def schedule(self, pid: str, at: datetime, *, actor: str = "cli") -> None:
        """Publish at `at` (aware); the post must render. A failed post is retried from its last good step."""
        if at.tzinfo is None:
            raise Invalid("the time must carry a time zone")
        view = self.show(pid)
        if view.post.get("status") not in SCHEDULABLE:
            raise EditError(f"post {pid} is {view.post.get('status')}: only draft or failed posts can be scheduled")
        self.preview(pid)  # refuses what WeChat would refuse (nothing answered, too long)
        if waiting := self.unconfirmed(view):
            # Followers' own words go out only after a person has read them (the scrubber misses some names).
            raise EditError(f"post {pid}: the question text of group(s) {' '.join(waiting)} has not been confirmed "
                            f"by an editor; read it (posts review {pid}), then posts confirm {pid} "
                            f"{' '.join(waiting)} (or give it new wording with --question)")
        fields = {"scheduled_at": repr(at.timestamp()), "attempts": "0", "failure": ""}
        if view.post.get("publish_id"):
            if view.post.get("publish_status") not in FINAL_FAILURES:
                raise EditError(f"post {pid} was submitted to WeChat (publish_id {view.post['publish_id']}) and its "
                                "job has not failed: it may be live, so it cannot be published again")
            # The job failed for good and used its draft up; a new attempt makes a new one.
            fields.update(publish_id="", draft_media_id="", draft_content="", polls="0", publish_status="",
                          submitted_draft="")
            self.store.unmap_publish_id(view.post["publish_id"])  # its late events must not reach the new attempt
        if not move_post(self.store, pid, SCHEDULABLE, "scheduled", now=self.clock().timestamp(),
                         score=at.timestamp(), fields=fields):
            raise EditError(f"post {pid} changed meanwhile; look at it again")
        self._record(actor, "post.schedule", f"post:{pid}", {"status": view.post.get("status", "")},
                     {"status": "scheduled", "at": at.isoformat(timespec="minutes")})

    def unschedule(self, pid: str, *, actor: str = "cli") -> None:
        check_id("post", pid)
        if not move_post(self.store, pid, ("scheduled",), "draft", now=self.clock().timestamp(),
                         fields={"scheduled_at": ""}):
            raise EditError(f"post {pid} is not scheduled (a post being published cannot be stopped)")
        self._record(actor, "post.unschedule", f"post:{pid}", {"status": "scheduled"}, {"status": "draft"})

    def mark_published(self, pid: str, url: str, *, actor: str = "cli") -> None:
        """An editor found a post whose publishing outcome was unknown in WeChat's published list: record it live.

        Its askers are then told by the scheduler's next tick, as after any publish.
        """
        check_id("post", pid)
        if not re.fullmatch(r"https://mp\.weixin\.qq\.com/\S{1,1000}", url):
            raise Invalid(f"{url!r} is not the article's link (https://mp.weixin.qq.com/...)")
        self._outcome_unknown(pid)
        now = self.clock().timestamp()
        if not move_post(self.store, pid, ("failed",), "published", now=now, fields={
                "url": url, "published_at": repr(now), "failure": "", "owner": "", "marked_by_editor": "1"}):
            raise EditError(f"post {pid} changed meanwhile; look at it again")
        self._record(actor, "post.mark_published", f"post:{pid}", {"status": "failed"},
                     {"status": "published", "url": url})

    def mark_not_published(self, pid: str, *, actor: str = "cli") -> None:
        """An editor checked WeChat's published list and the post is not there: a reschedule starts afresh.

        Only for a failed post whose outcome is unknown. If it was live after all, rescheduling publishes it twice.
        """
        post = self._outcome_unknown(pid)
        if post.get("publish_id"):
            self.store.unmap_publish_id(post["publish_id"])
        if not move_post(self.store, pid, ("failed",), now=self.clock().timestamp(), fields={
                "submitted_draft": "", "draft_media_id": "", "draft_content": "", "publish_id": "", "polls": "0",
                "publish_status": "", "failure": "checked by an editor: not published; reschedule to publish"}):
            raise EditError(f"post {pid} changed meanwhile; look at it again")
        self._record(actor, "post.mark_not_published", f"post:{pid}", {"status": "failed"},
                     {"status": "failed", "checked": "not published"})

    def _outcome_unknown(self, pid: str) -> dict[str, str]:
        """The post, if it failed without knowing whether WeChat published it; EditError otherwise."""
        check_id("post", pid)
        post = self.show(pid).post
        if not outcome_unknown(post):
            raise EditError(f"post {pid} is {post.get('status')}: only a failed post whose publishing outcome is "
                            "unknown can be marked published or not published")
        return post

    def publish_now(self, pid: str, *, actor: str = "cli") -> bool:
        """Schedule for now and, when this process can reach WeChat, publish at once; True if it started here."""
        now = self.clock()
        self.schedule(pid, now, actor=actor)
        return self.api is not None and self.publisher.publish(pid, now)
