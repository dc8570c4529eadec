"""Batching pending questions into a draft reply post: grouped by topic, near-duplicates merged, oldest first.

Exactly once: a run holds the ``qa-batch`` lock, a scheduled run also claims its slot (``SET NX``), and
questions move from the pending queue into the post in atomic chunks. The post stays ``batching``
until its groups are written, so a run that died half-way is finished by the next one: no question
is lost or batched twice.

Near-duplicates: questions of one topic whose compared forms (`bot.questions.similarity`, stored at
intake) are equal, or score at least `SIMILARITY` with a group's first question. Candidate groups come
from an index on the question's sketch (computed at intake: the 8 smallest hashes of its telling
features, so near-duplicates share several); keys shared by very many groups stop being indexed and
at most `MAX_CANDIDATES` groups, those sharing the most keys, are compared per question, so grouping
is one pass, never pairwise. A question that is not merged but whose best candidate has a plain Dice
of at least `SUGGEST` is an unsure merge: its group lists that candidate in ``suggest`` for an editor
(`posts show`: "similar to g3 (0.52)"), who can merge them. Measured by bench/grouping.py.
"""

from __future__ import annotations

import gc
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.config import QASchedule, QuestionsConfig
from bot.questions.similarity import Features, compared_form, dice, features, similarity
from bot.store import Store

log = logging.getLogger(__name__)

SIMILARITY = 0.4  # score (bot.questions.similarity) at which a question joins a group
SUGGEST = 0.5  # plain Dice at which a question not merged is listed as possibly one with it
MAX_BUCKET = 4  # groups indexed under one LSH key
MAX_CANDIDATES = 3  # groups compared with one question, at most
MOVE_CHUNK = 2000  # questions per atomic move: keeps each Lua call short for the webhook's sake
LOCK_SECONDS = 300
CATCH_UP = timedelta(hours=24)  # a slot missed (scheduler down) up to this long ago still runs
_FIELDS = ("asker", "public", "norm", "sketch", "topic", "received", "form")


@dataclass(slots=True)
class Row:
    """What grouping needs of one question."""

    qid: str
    asker: str
    public: str
    norm: str
    sketch: str
    topic: str
    received: float
    form: str = ""  # the compared form stored at intake; computed from `norm` when missing

    def __post_init__(self) -> None:
        if not self.form:
            self.form = compared_form(self.norm)


@dataclass(slots=True, eq=False)  # compared by identity: groups are dict keys while collecting candidates
class _Group:
    topic: str
    text: str
    form: str
    oldest: float
    grams: Features | None = None  # the first question's features, computed when first compared
    questions: list[list[str]] = field(default_factory=list)  # [question id, asker]
    suggest: list[tuple[_Group, float]] = field(default_factory=list)  # older groups it may be one with

    def features(self) -> Features:
        if self.grams is None:
            self.grams = features(self.form)
        return self.grams


def _keys(row: Row) -> list[tuple[str, str]]:
    """Index keys: each hash of the row's sketch, within its topic (near-duplicates share several)."""
    return [(row.topic, h) for h in row.sketch.split()]


def _best(candidates: list[_Group], row: Row, threshold: float) -> tuple[_Group | None, float, _Group | None, float]:
    """The best candidate by merge score and by plain Dice (the one to suggest), each with its score."""
    grams = features(row.form)
    merge = look = None
    best = alike = -1.0
    for g in candidates:
        plain = dice(grams, g.features())
        if plain > alike:
            look, alike = g, plain
        # The merge score is at most the plain Dice: the guards (regexes) run only where they could matter.
        if plain >= threshold and plain > best:
            value = similarity(row.form, g.form, grams, g.features(), at_least=threshold)
            if value > best:
                merge, best = g, value
    return merge, best, look, alike


def group_questions(rows: Sequence[Row], threshold: float = SIMILARITY,
                    suggest: float = SUGGEST) -> list[dict[str, Any]]:
    """Groups as stored on a post: by topic (topics in order of their oldest question), oldest first.

    A question scoring at least `threshold` with a candidate group joins it; else, when the plain Dice with a
    candidate is at least `suggest` (an unsure merge), its new group lists that one in ``suggest``.
    """
    groups: list[_Group] = []
    exact: dict[tuple[str, str], _Group] = {}
    buckets: dict[tuple[str, str], list[_Group]] = {}
    for row in sorted(rows, key=lambda r: (r.received, int(r.qid))):
        group = exact.get((row.topic, row.form))
        if group is None:
            keys = _keys(row)
            found = [g for k in keys for g in buckets.get(k, ())]
            unsure: _Group | None = None
            alike = 0.0
            if found:
                votes: dict[_Group, int] = {}
                for g in found:
                    votes[g] = votes.get(g, 0) + 1
                # Groups sharing the most keys with the question are the likeliest near-duplicates: try those.
                best = sorted(votes, key=votes.__getitem__, reverse=True) if len(votes) > MAX_CANDIDATES else votes
                group, value, unsure, alike = _best(list(itertools.islice(best, MAX_CANDIDATES)), row, threshold)
                if value < threshold:
                    group = None
            if group is None:
                group = _Group(row.topic, row.public, row.form, row.received)
                if unsure is not None and alike >= suggest:
                    group.suggest.append((unsure, alike))
                groups.append(group)
                for k in keys:
                    bucket = buckets.setdefault(k, [])
                    if len(bucket) < MAX_BUCKET:  # a pair this common says little: stop indexing it
                        bucket.append(group)
            exact[(row.topic, row.form)] = group
        group.questions.append([row.qid, row.asker])
    topics: dict[str, list[_Group]] = {}
    for g in groups:  # already oldest first, so topics come out in order of their oldest question
        topics.setdefault(g.topic, []).append(g)
    ordered = [g for topic_groups in topics.values() for g in topic_groups]
    ids = {g: f"g{i}" for i, g in enumerate(ordered, 1)}
    out: list[dict[str, Any]] = []
    for g in ordered:
        group_json: dict[str, Any] = {
            "id": ids[g], "topic": g.topic, "text": g.text, "q": g.questions,
            "askers": len({asker for _, asker in g.questions}), "oldest": g.oldest, "answer": "", "state": "open"}
        if g.suggest:
            group_json["suggest"] = [[ids[other], round(value, 2)] for other, value in g.suggest]
        out.append(group_json)
    return out


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One batch run: the new post (if any), its size, posts finished after a crash, or why it skipped."""

    post: str | None = None
    questions: int = 0
    groups: int = 0
    resumed: tuple[str, ...] = ()
    skipped: str = ""


def run_batch(store: Store, qa: QuestionsConfig, title: str, now: datetime, slot: str = "") -> BatchResult:
    """Move every pending question received by `now` into a new draft post (idempotent per `slot`)."""
    with store.lock("qa-batch", ttl=LOCK_SECONDS, wait=0) as held:
        if not held:
            return BatchResult(skipped="another batch is running")
        resumed = tuple(pid for pid in store.batching_posts() if _complete(store, qa, pid, title) is not None)
        ts = now.timestamp()
        pid = store.begin_batch(now=ts, cutoff=ts, slot=slot)
        if pid is None:
            return BatchResult(resumed=resumed, skipped=f"slot {slot} already batched")
        if not pid:
            return BatchResult(resumed=resumed)
        done = _complete(store, qa, pid, title)
        if done is None:  # this run's lock expired and another process finished the post meanwhile
            log.warning("post %s: its batch was finished by another process", pid)
            return BatchResult(post=pid, resumed=resumed, skipped=f"post {pid} was finished by another process")
        questions, groups = done
        log.info("batched %d questions into post %s (%d groups)", questions, pid, groups)
        return BatchResult(post=pid, questions=questions, groups=groups, resumed=resumed)


def finish_crashed_batches(store: Store, qa: QuestionsConfig, title: str) -> tuple[str, ...]:
    """Finish posts whose batch run died half-way (every scheduler tick, not only when a slot is due)."""
    if not store.batching_posts():  # the common case costs one SMEMBERS, no lock
        return ()
    with store.lock("qa-batch", ttl=LOCK_SECONDS, wait=0) as held:
        if not held:
            return ()  # a running batch finishes them itself
        return tuple(pid for pid in store.batching_posts() if _complete(store, qa, pid, title) is not None)


def _complete(store: Store, qa: QuestionsConfig, pid: str, title: str) -> tuple[int, int] | None:
    """Move the rest of a batching post's questions in, group them, make it a draft (resumable)."""
    post = store.post(pid)
    if post is None or post.get("status") != "batching":
        return None
    cutoff = float(post["cutoff"])
    while True:
        moved = store.move_to_post(pid, cutoff, MOVE_CHUNK)
        if moved is None:  # another process finished this batch (our lock expired): its questions stay pending
            return None
        if moved < MOVE_CHUNK:
            break
    # Hundreds of thousands of small objects, none in a cycle: the cyclic collector would only rescan them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        rows = [Row(f[0], f[1], f[2], f[3], f[4], f[5], float(f[6] or 0), f[7])
                for f in store.read_post_questions(pid, _FIELDS)]
        groups = group_questions(rows)
        fields = {"title": title, "intro": qa.publishing.intro, "questions": str(len(rows)),
                  "groups": str(len(groups)), "attempts": "0"}
        if not store.finish_batch(pid, groups, fields):
            return None
        return len(rows), len(groups)
    finally:
        if collecting:
            gc.enable()


def latest_slot(schedule: QASchedule, now: datetime, lookback: timedelta = CATCH_UP) -> datetime | None:
    """The schedule's most recent fire time in (now - lookback, now], if any."""
    trigger = schedule.trigger()
    when = trigger.get_next_fire_time(None, now - lookback)
    last = None
    while when is not None and when <= now:
        last = when
        when = trigger.get_next_fire_time(when, when + timedelta(seconds=1))
    return last


def run_due_batches(store: Store, qa: QuestionsConfig, title: str, now: datetime) -> list[BatchResult]:
    """Run each schedule's latest slot unless some process already did (cron job and catch-up tick)."""
    results = []
    for schedule in qa.schedules:
        slot_time = latest_slot(schedule, now)
        if slot_time is None:
            continue
        slot = f"{schedule.name}:{int(slot_time.timestamp())}"
        if store.slot_claimed(slot):
            continue
        results.append(run_batch(store, qa, title, now, slot))
    return results
