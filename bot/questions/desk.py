"""Followers' questions: recognise them, normalise and tag them, store them once, acknowledge them.

A question is kept with the follower's pseudonym; the openid is stored beside it only so the asker
can be told where the answer is (see `bot.store`, ``follower:{asker}``), and not at all when askers
are not told (``questions.notify_askers`` off). Nothing here logs text.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import bot.metrics as metrics
from bot.config import ArticleConfig, QASchedule, QuestionsConfig
from bot.questions.privacy import clip, scrub
from bot.questions.similarity import compared_form, features
from bot.rules.normalization import normalize
from bot.store import Store, Write
from bot.wechat import messages as m
from bot.wechat.api import WeChatAPI, WeChatAPIError
from bot.wechat.outbound import custom_message

if TYPE_CHECKING:
    from bot.rules.ruleset import RuleBook

MAX_TEXT_CHARS = 2000  # WeChat caps a text message near this; longer input is cut, not refused
MIN_BODY_CHARS = 2  # "提问：" followed by one character is not a question
OTHER_TOPIC = "其他问题"
SKETCH_SIZE = 8
_NON_WORD = re.compile(r"[\W_]+")
_FILLER = re.compile("请问|您好|你好|谢谢|麻烦")
_PLACEHOLDER = re.compile(r"\[[^\[\]]{1,16}\]")  # what bot.questions.privacy.scrub puts in place of personal data
_WEEKDAYS = "一二三四五六日"
_MARKER_TRIM = " \t\r\n:：,，、.。-—"
URGENT_NOTE = "如有发热、尿量明显减少、移植肾区疼痛等紧急情况，请立即就医，不要等待答疑。"


# -- recognising and normalising -----------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def fold_words(words: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """(length, NFKC-casefolded form) of each configured word, computed once, not per message."""
    return tuple((len(w), unicodedata.normalize("NFKC", w).casefold()) for w in words)


def question_body(text: str, markers: Sequence[str]) -> str | None:
    """The question after a marker ("提问：…", "Q: …", "？…"), or None; a bare marker is not a question."""
    text = text.strip()
    heads: dict[int, str] = {}  # the message's first n characters, folded once per marker length
    for n, folded in fold_words(tuple(markers)):
        head = heads.get(n)
        if head is None:
            # Compare in NFKC so "Ｑ：" and "Q:" are one marker, but cut the original text.
            head = heads[n] = unicodedata.normalize("NFKC", text[:n]).casefold()
        if head == folded:
            body = text[n:].strip(_MARKER_TRIM)
            return body if len(body) >= MIN_BODY_CHARS else None
    return None


def normalize_question(text: str) -> str:
    """The form two questions are compared in: `bot.rules.normalize` without punctuation, spaces and
    the politeness around a question ("请问", "您好", "谢谢" ...), which says nothing about what is asked."""
    return _FILLER.sub("", _NON_WORD.sub("", normalize(text)))


def sketch(form: str) -> str:
    """A bottom-k MinHash sketch of the compared form's features: near-duplicates share some of these hashes."""
    grams = features(form)
    # Frame-only bigrams (术后, 能吃) are in most questions: hashing them would only crowd the sketch.
    telling = [g for g, weight in grams.items() if weight >= 1] or list(grams)
    hashes = sorted({hashlib.blake2b(g.encode(), digest_size=6).hexdigest() for g in telling})
    return " ".join(hashes[:SKETCH_SIZE])


_Index = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


class Tagger:
    """Topic tags: a question mentioning a keyword of an article, or of a rule answering with it, gets its tags.

    The rules and articles are the live ones admins edit (`rules` gives the current book, which carries the
    catalog); the index follows both versions. `articles` serve when the book carries no catalog.
    """

    def __init__(self, articles: Sequence[ArticleConfig], rules: Callable[[], RuleBook] | None = None) -> None:
        self._articles = tuple(articles)
        self._fixed = self._of_articles(self._articles)
        self._rules = rules
        self._built: tuple[tuple[int, int], _Index] | None = None

    @staticmethod
    def _words(keywords: Sequence[str]) -> tuple[str, ...]:
        return tuple(k for k in (normalize_question(w) for w in keywords) if k)

    @classmethod
    def _of_articles(cls, articles: Sequence[ArticleConfig]) -> _Index:
        return tuple((cls._words(a.keywords), a.tags) for a in articles if a.tags)

    def _index(self) -> _Index:
        if self._rules is None:
            return self._fixed
        book = self._rules()
        catalog = book.catalog
        key = (book.version, catalog.version if catalog is not None else -1)
        built = self._built
        if built is None or built[0] != key:
            articles = catalog.articles if catalog is not None else self._articles
            tags_of = {a.id: a.tags for a in articles if a.tags}
            from_rules = tuple((self._words(r.keywords), tags_of[r.answer.article_id]) for r in book.rules
                               if r.enabled and not r.urgent and r.match != "regex" and r.answer.kind == "article"
                               and r.answer.article_id in tags_of)
            fixed = self._of_articles(articles) if catalog is not None else self._fixed
            built = self._built = (key, fixed + from_rules)
        return built[1]

    def tags(self, norm: str) -> tuple[str, ...]:
        found: list[str] = []
        for words, tags in self._index():
            if any(w in norm for w in words):
                found.extend(t for t in tags if t not in found)
        return tuple(found)


# -- when the next reply post is due ---------------------------------------------------------------


def next_due(schedules: Sequence[QASchedule], now: datetime) -> datetime | None:
    """The next time any schedule batches questions into a reply post."""
    times = [t for t in (s.trigger().get_next_fire_time(None, now) for s in schedules) if t is not None]
    return min(times) if times else None


def format_due(when: datetime, tz: ZoneInfo) -> str:
    local = when.astimezone(tz)
    return f"{local.month}月{local.day}日（周{_WEEKDAYS[local.weekday()]}）{local:%H:%M}"


# -- storing and acknowledging ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """What became of one question: stored ("new"), a repeat ("dup") or over the daily limit ("limit")."""

    outcome: str
    qid: str
    due: datetime | None


def prepare(body: str, tagger: Tagger) -> dict[str, str]:
    """What intake stores of a question besides who asked: scrubbed copy, compared form, sketch, tags, topic."""
    public = clip(scrub(body), MAX_TEXT_CHARS)  # scrub first: a cut could leave half a number unrecognised
    # Compared and hashed without the personal data (nor the placeholders that replaced it).
    norm = (normalize_question(_PLACEHOLDER.sub("", public)) or normalize_question(public) or public)[:MAX_TEXT_CHARS]
    tags = tagger.tags(norm)
    form = compared_form(norm)
    return {"public": public, "norm": norm, "form": form, "sketch": sketch(form), "tags": ",".join(tags),
            "topic": tags[0] if tags else OTHER_TOPIC}


class QuestionDesk:
    """Takes questions in from the webhook: one atomic store call, then the acknowledgment text."""

    def __init__(self, qa: QuestionsConfig, articles: Sequence[ArticleConfig], store: Store, tz: ZoneInfo,
                 rules: Callable[[], RuleBook] | None = None) -> None:
        self.qa = qa
        self.store = store
        self.tz = tz
        self.tagger = Tagger(articles, rules)
        self._due: datetime | None = None  # the next due time stays right until it passes

    def next_due(self, now: datetime) -> datetime | None:
        due = self._due
        if due is None or due <= now:
            due = self._due = next_due(self.qa.schedules, now)
        return due

    def write(self, *, openid: str, asker: str, body: str, text: str, now: datetime) -> Write:
        """The store call keeping `body` (the question; `text`: the whole message) unless a repeat or over the limit."""
        fields = {"asker": asker, "text": text[:MAX_TEXT_CHARS], **prepare(body, self.tagger)}
        return self.store.question_write(
            asker, openid if self.qa.notify_askers else "",  # never told: nothing needs the openid
            fields, now=now.timestamp(), day=now.astimezone(self.tz).strftime("%Y%m%d"),
            dup_hash=hashlib.blake2b(fields["norm"].encode(), digest_size=10).hexdigest(),
            daily_limit=self.qa.daily_limit, dup_ttl=self.qa.duplicate_days * 86400)

    def received(self, result: Sequence[bytes], now: datetime) -> Received:
        """What the store answered for `write` (outcome, id or count), as the acknowledgment needs it."""
        outcome, qid = (r.decode() if isinstance(r, bytes) else str(r) for r in result)
        metrics.QUESTIONS.labels(outcome).inc()
        return Received(outcome, qid, self.next_due(now))

    def receive(self, *, openid: str, asker: str, body: str, text: str, now: datetime) -> Received:
        """Store a question on its own (the webhook stores it with its dedup claim instead, see `write`)."""
        write = self.write(openid=openid, asker=asker, body=body, text=text, now=now)
        return self.received(self.store.add_question(write), now)

    def reply(self, received: Received) -> str:
        due = format_due(received.due, self.tz) if received.due else "近期"
        if received.outcome == "new":
            tell = "，届时会把文章链接发给您" if self.qa.notify_askers else ""
            return (f"已收到您的问题（编号 {received.qid}）。我们将于 {due} 整理本期问题，"
                    f"医生解答后以答疑文章统一发布{tell}。\n{URGENT_NOTE}")
        if received.outcome == "dup":
            return (f"这个问题我们已经收到（编号 {received.qid}），无需重复发送。"
                    f"我们将于 {due} 整理本期问题并统一解答。")
        return (f"您今天已提交 {self.qa.daily_limit} 个问题，达到每日上限，请明天再发送其他问题。"
                f"已收到的问题将于 {due} 整理并统一解答。\n{URGENT_NOTE}")


def pending_links_text(links: Sequence[dict[str, str]]) -> str:
    """The note appended to a follower's next reply when WeChat refused to send them the link earlier."""
    lines = ["您之前提出的问题已在答疑文章中解答："]
    lines.extend(f"《{link.get('title', '答疑')}》{link.get('url', '')}" for link in links)
    return "\n".join(lines)


def deliver_pending_links(store: Store, api: WeChatAPI | None, openid: str, asker: str) -> int:
    """Send the follower their waiting answer links now that their message reopened the reply window.

    Links WeChat still refuses are kept for the next time. Returns how many were sent.
    """
    links = store.take_pending_links(asker)
    if not links:
        return 0
    try:
        if api is None:
            raise WeChatAPIError(-1, "no WeChat API client configured")
        api.send_custom(custom_message(m.TextReply(pending_links_text(links)), openid))
    except WeChatAPIError:
        for link in links:
            store.add_pending_link(asker, link)
        raise
    return len(links)


def with_pending_links(store: Store, asker: str, text: str) -> str:
    """`text` plus any answer links waiting for this follower (taken from Redis, so they are shown once).

    Other routers may call this for their replies too; it costs one Redis round trip.
    """
    links = store.take_pending_links(asker)
    return f"{text}\n\n{pending_links_text(links)}" if links else text
