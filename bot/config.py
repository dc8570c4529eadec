"""One validated configuration object, loaded once from `config.yaml` plus the environment.

Secrets come from the environment and override the file (`WECHAT_TOKEN`, `WECHAT_APP_ID`,
`WECHAT_APP_SECRET`, `WECHAT_ENCODING_AES_KEY`, `WECHAT_ENCODING_AES_KEY_PREVIOUS`, `BOT_SECRET_KEY`).
Every error names the field it is about, e.g. ``config.yaml: wechat.encoding_aes_key: must be 43 ...``.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.rules.model import Rule, RuleError
from bot.rules.parsing import parse_rules
from bot.rules.survey import survey_link
from bot.wechat.menu import Menu, MenuError, parse_menu

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
# development: no AppSecret (the fake WeChat API) or declared; staging: an AppSecret with a WeChat API on loopback;
# production: declared (BOT_ENV=production), or an AppSecret with WeChat's real API.
Mode = Literal["development", "staging", "production"]
PASSIVE_TEXT_LIMIT = 2047  # UTF-8 bytes WeChat accepts in a passive text reply

ENV_SECRETS = {
    "token": "WECHAT_TOKEN",
    "app_id": "WECHAT_APP_ID",
    "app_secret": "WECHAT_APP_SECRET",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "encoding_aes_key_previous": "WECHAT_ENCODING_AES_KEY_PREVIOUS",
}


class ConfigError(ValueError):
    """A configuration problem; the message names the field."""


@dataclass(frozen=True, slots=True)
class AccountConfig:
    name: str
    original_id: str
    timezone: str
    contact: str  # the department's contact line, used in urgent-care guidance
    public_base_url: str  # where followers reach this server (tracked survey links)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    token: str
    app_id: str
    app_secret: str  # empty: no real credentials; `make run` then uses the fake WeChat server
    encoding_aes_key: str
    encoding_aes_key_previous: str
    api_base_url: str
    api_timeout_seconds: float
    api_max_retries: int
    require_encryption: bool  # safe mode: refuse plaintext pushes (their signature does not cover the body)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    reply_deadline_seconds: float  # answer `success` and send later through the API after this
    dedup_ttl_seconds: int
    max_body_bytes: int
    default_reply: str  # the polite answer to what no feature handles


@dataclass(frozen=True, slots=True)
class ArticleConfig:
    id: str
    title: str
    summary: str
    url: str
    cover: str
    tags: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SurveyConfig:
    title: str
    url: str
    invitation: str
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QASchedule:
    """When pending questions are batched into a new draft reply post (standard 5-field crontab)."""

    name: str
    cron: str  # weekday numbers already turned into names (APScheduler 3 counts 0 as Monday, crontab as Sunday)
    timezone: str

    def trigger(self) -> Any:
        return _cron_trigger(self.cron, self.timezone)


@functools.lru_cache(maxsize=32)
def _cron_trigger(cron: str, timezone: str) -> Any:
    """APScheduler's CronTrigger, built once per expression (building one costs ~150 µs)."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))


@dataclass(frozen=True, slots=True)
class QAPublishing:
    mode: str  # "freepublish" (article URL, no push) or "mass_send" (pushed to every follower)
    cover_image: str  # absolute path of the JPG/PNG cover
    author: str
    title: str  # may contain {date} (account-local M月D日); at most 32 characters once filled in
    intro: str
    disclaimer: str  # the fixed medical disclaimer footer of every reply post
    max_attempts: int  # publish attempts (each after a retryable error) before the post is marked failed
    lease_seconds: int  # a publisher silent this long is presumed dead and its post resumed by another
    notify_lease_seconds: int  # an asker claimed this long ago and not acknowledged is told again


@dataclass(frozen=True, slots=True)
class QuestionsConfig:
    """Followers' questions and the Q&A reply posts that answer them (issue 4)."""

    markers: tuple[str, ...]  # a message starting with one of these (and more text) is a question
    unmatched_enabled: bool  # also take long messages that no rule answers as questions
    unmatched_min_chars: int
    daily_limit: int  # questions per follower per account-local day
    duplicate_days: int  # the same text from the same follower within this many days is one question
    notify_askers: bool  # send each asker the article link once published
    latest_keywords: tuple[str, ...]  # whole messages answered with the latest published reply post
    schedules: tuple[QASchedule, ...]
    publishing: QAPublishing
    tick_seconds: int  # the scheduler's Q&A tick: due posts, publish-job polls, askers, missed batch slots


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long personal data stays (see the key layout in `bot.store`)."""

    unmatched_days: int  # the admins' list of unanswered messages, per day
    outbox_max: int  # late replies waiting for the API (each holds an openid); the oldest go first


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Accounts of the admins' and editors' console: sessions, log-in throttling, password hashing, audit."""

    session_idle_minutes: int  # a session unused this long ends
    session_max_hours: int  # and every session ends this long after its log-in
    login_max_failures: int  # failed log-ins per account within the window before attempts are refused
    login_max_failures_per_address: int  # the same per client address (an office may share one)
    login_window_minutes: int
    login_lockout_seconds: int  # the first refusal's length; it doubles with each further failure
    login_lockout_max_minutes: int
    audit_days: int  # audit entries are kept this long
    audit_max: int  # and at most this many (the oldest go first)
    argon2_time_cost: int  # argon2id parameters; hashes made with others are redone at the next log-in
    argon2_memory_kib: int
    argon2_parallelism: int
    trusted_proxies: int = 0  # reverse proxies in front that set X-Forwarded-For (deploy/nginx: 1); 0 = none
    api_requests_per_minute: int = 300  # /api/ calls per caller (user or token; else client address), then 429
    admin_password: str = field(default="", repr=False)  # BOT_ADMIN_PASSWORD: the first admin on an empty store


DEFAULT_CONSOLE = ConsoleConfig(
    session_idle_minutes=30, session_max_hours=12, login_max_failures=5, login_max_failures_per_address=20,
    login_window_minutes=15, login_lockout_seconds=60, login_lockout_max_minutes=60, audit_days=365,
    audit_max=100_000, argon2_time_cost=3, argon2_memory_kib=65536, argon2_parallelism=4)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; sections the features read are typed, the rest stay raw."""

    account: AccountConfig
    wechat: WeChatConfig
    webhook: WebhookConfig
    articles: tuple[ArticleConfig, ...]
    survey: SurveyConfig
    secret_key: str
    seed_rules: tuple[Rule, ...]  # stored in Redis on first start; admins edit them there
    help_keywords: frozenset[str]  # whole messages (NFKC, casefolded) that ask for the topic list
    questions: QuestionsConfig
    source: str  # where it was loaded from, for messages
    retention: RetentionConfig = RetentionConfig(unmatched_days=30, outbox_max=10000)
    console: ConsoleConfig = DEFAULT_CONSOLE
    mode: Mode = "development"
    warnings: tuple[str, ...] = ()  # unsafe settings tolerated outside production, one line each
    menu: Menu | None = None  # the custom menu the bot pushes; None: the bot does not manage the menu
    # The menu's `article: ID` links, (button path, article id): pushed with the live catalog's URL of the article.
    menu_articles: tuple[tuple[str, str], ...] = ()
    metrics_token: str = ""  # METRICS_TOKEN: bearer token for /metrics; empty: this host's scrapers only
    raw: Mapping[str, Any] = field(default_factory=dict)

    def article(self, article_id: str) -> ArticleConfig | None:
        return next((a for a in self.articles if a.id == article_id), None)

    @property
    def aes_keys(self) -> tuple[str, ...]:
        """The EncodingAESKeys to try, current first; empty when safe mode is not configured."""
        return tuple(k for k in (self.wechat.encoding_aes_key, self.wechat.encoding_aes_key_previous) if k)


# --------------------------------------------------------------------------------------------------
# Field readers: each takes the section mapping and the dotted path used in error messages.


class _Section:
    """A mapping plus its dotted path, with typed getters whose errors name the field."""

    def __init__(self, data: Any, path: str, source: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: {path}: must be a mapping")
        self.data = data
        self.path = path
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        name = f"{self.path}.{key}" if self.path else key
        return ConfigError(f"{self.source}: {name}: {problem}")

    def section(self, key: str) -> _Section:
        return _Section(self.data.get(key), f"{self.path}.{key}" if self.path else key, self.source)

    def string(self, key: str, default: str | None = None, *, allow_empty: bool = False) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {type(value).__name__}")
        value = value.strip()
        if not value and not allow_empty:
            raise self.fail(key, "must not be empty")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {type(value).__name__}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low:g} and {high:g}, got {value:g}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return value

    def str_list(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        if required and not value:
            raise self.fail(key, "must not be empty")
        return tuple(v.strip() for v in value)

    def url(self, key: str, default: str | None = None, *, allow_empty: bool = False) -> str:
        value = self.string(key, default, allow_empty=allow_empty)
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise self.fail(key, f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if key == "api_base_url" else value


def _secret(section: _Section, key: str, env: Mapping[str, str], *, allow_empty: bool) -> str:
    """A secret: the environment variable wins over the file."""
    from_env = env.get(ENV_SECRETS[key], "").strip()
    if from_env:
        return from_env
    try:
        return section.string(key, "", allow_empty=allow_empty)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (or set {ENV_SECRETS[key]})") from None


def _check_aes_key(section: _Section, key: str, value: str) -> None:
    if not value:
        return
    if not re.fullmatch(r"[A-Za-z0-9]{43}", value):
        raise section.fail(key, "must be 43 letters and digits (the EncodingAESKey from the WeChat admin page)")
    if len(base64.b64decode(value + "=")) != 32:  # pragma: no cover - 43 base64 chars always give 32 bytes
        raise section.fail(key, "does not decode to a 32-byte AES key")


def _parse_articles(root: _Section) -> tuple[ArticleConfig, ...]:
    items = root.data.get("articles", [])
    if not isinstance(items, list):
        raise root.fail("articles", "must be a list")
    articles: list[ArticleConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        s = _Section(item, f"articles[{i}]", root.source)
        article_id = s.string("id")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", article_id):
            raise s.fail("id", "use lowercase letters, digits, '-' and '_' (at most 64)")
        if article_id in seen:
            raise s.fail("id", f"duplicate article id {article_id!r}")
        seen.add(article_id)
        articles.append(
            ArticleConfig(
                id=article_id,
                title=s.string("title"),
                summary=s.string("summary"),
                url=s.url("url"),
                cover=s.url("cover", "", allow_empty=True),
                tags=s.str_list("tags"),
                keywords=s.str_list("keywords"),
            )
        )
    return tuple(articles)


def _seed_rules(root: _Section, articles: tuple[ArticleConfig, ...], survey: SurveyConfig) -> tuple[Rule, ...]:
    """The `rules:` section, plus one rule per article and one for the survey from their keywords."""
    items = root.data.get("rules", [])
    if not isinstance(items, list):
        raise root.fail("rules", "must be a list")
    explicit_ids = {i.get("id") for i in items if isinstance(i, Mapping)}
    generated: list[dict[str, Any]] = [
        {"id": f"article-{a.id}", "name": a.title, "keywords": list(a.keywords),
         "answer": {"kind": "article", "article_id": a.id}}
        for a in articles
        if a.keywords and f"article-{a.id}" not in explicit_ids
    ]
    if survey.keywords and "survey" not in explicit_ids:
        generated.append({"id": "survey", "name": survey.title, "keywords": list(survey.keywords),
                          "answer": {"kind": "survey"}})
    try:
        return tuple(parse_rules([*items, *generated], article_ids={a.id for a in articles}))
    except RuleError as exc:
        raise ConfigError(f"{root.source}: " + "; ".join(exc.errors)) from None


# -- the custom menu ---------------------------------------------------------------------------------------

MENU_SURVEY_WHO = "menu"  # whom the menu's survey link names: clicks are counted, nobody is identified


def _resolve_links(item: Any, path: str, articles: tuple[ArticleConfig, ...], survey_url: str,
                   problems: list[str], links: dict[str, str]) -> Any:
    """A view button's `article: ID` or `survey: true` turned into its URL (config.yaml's shorthand); an
    article's path is kept in `links` so that a push can use the article's URL of the day."""
    if not isinstance(item, Mapping) or not ({"article", "survey"} & item.keys()):
        return item
    item = dict(item)
    refs = [k for k in ("url", "article", "survey") if k in item]
    url = "https://invalid.example/"  # stands in while a problem is reported, so only that problem is
    if len(refs) > 1:
        problems.append(f"{path}: give one of url, article or survey, not {' and '.join(refs)}")
    elif item.setdefault("type", "view") != "view":
        problems.append(f"{path}.type: a button with {refs[0]} is a view button, not {item['type']!r}")
    elif "article" in item:
        article = next((a for a in articles if a.id == item["article"]), None)
        if article is None:
            known = ", ".join(a.id for a in articles) or "none configured"
            problems.append(f"{path}.article: unknown article {item['article']!r} (articles: {known})")
        else:
            url = article.url
            links[path] = article.id
    elif item["survey"] is not True:
        problems.append(f"{path}.survey: must be true (the survey's tracked link), not {item['survey']!r}")
    else:
        url = survey_url
    item.pop("article", None)
    item.pop("survey", None)
    item["url"] = url
    return item


def _parse_menu_section(root: _Section, articles: tuple[ArticleConfig, ...], survey_url: str,
                        links: dict[str, str]) -> Menu | None:
    """`menu:` in menu/create's shape (plus `article:`/`survey:` links); absent: the bot leaves the menu alone.

    `links` receives the path of every `article:` button and its article id."""
    data = root.data.get("menu")
    if data is None:
        return None
    problems: list[str] = []
    if isinstance(data, Mapping) and isinstance(data.get("button"), list):
        buttons = []
        for i, button in enumerate(data["button"]):
            button = _resolve_links(button, f"menu.button[{i}]", articles, survey_url, problems, links)
            if isinstance(button, Mapping) and isinstance(button.get("sub_button"), list):
                button = {**button, "sub_button": [
                    _resolve_links(sub, f"menu.button[{i}].sub_button[{j}]", articles, survey_url, problems,
                                   links)
                    for j, sub in enumerate(button["sub_button"])]}
            buttons.append(button)
        data = {**data, "button": buttons}
    try:
        menu = parse_menu(data)
    except MenuError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(f"{root.source}: " + "; ".join(problems))
    return menu


# -- questions and reply posts (issue 4) -----------------------------------------------------------

DEFAULT_MARKERS = ("提问", "问：", "问:", "Q:", "q:", "？", "?")
DEFAULT_COVER = Path(__file__).resolve().parent / "questions" / "assets" / "qa-cover.png"
DEFAULT_DISCLAIMER = ("免责声明：本文内容仅供健康科普参考，不能替代医生面诊和个体化的诊疗建议。"
                      "请勿据此自行调整免疫抑制剂等药物；如出现发热、尿量减少、移植肾区疼痛等情况，请立即就医。")
# Production defaults; tests that kill and restart the scheduler shorten them in their config file.
DEFAULT_LEASE_SECONDS = 600
DEFAULT_NOTIFY_LEASE_SECONDS = 300
DEFAULT_TICK_SECONDS = 30
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _flag(section: _Section, key: str, default: bool) -> bool:
    value = section.data.get(key, default)
    if not isinstance(value, bool):
        raise section.fail(key, f"must be true or false, not {value!r}")
    return value


def _crontab_weekdays(expr: str) -> str:
    """`expr` with crontab weekday numbers (0 or 7 = Sunday) written as names, which APScheduler 3 reads right."""
    fields = expr.split()
    if len(fields) != 5:
        return expr  # APScheduler reports the field count

    def name(part: str) -> str:
        base, slash, step = part.partition("/")
        base = re.sub(r"\d+", lambda m: _CRON_WEEKDAYS[int(m.group())] if int(m.group()) < 8 else m.group(), base)
        return base + slash + step

    fields[4] = ",".join(name(p) for p in fields[4].split(","))
    return " ".join(fields)


def _parse_schedules(qs: _Section, default_tz: str) -> tuple[QASchedule, ...]:
    items = qs.data.get("schedules", [{"name": "weekly", "cron": "0 18 * * fri"}])
    if not isinstance(items, list) or not items:
        raise qs.fail("schedules", "must be a non-empty list of {name, cron, timezone}")
    schedules: list[QASchedule] = []
    for i, item in enumerate(items):
        s = _Section(item, f"{qs.path}.schedules[{i}]", qs.source)
        name = s.string("name", f"schedule{i + 1}")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
            raise s.fail("name", "use letters, digits, '-' and '_' (at most 32)")
        if name in {x.name for x in schedules}:
            raise s.fail("name", f"duplicate schedule name {name!r}")
        timezone = s.string("timezone", default_tz)
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise s.fail("timezone", f"unknown time zone {timezone!r}") from None
        raw = s.string("cron")
        cron = _crontab_weekdays(raw)
        try:
            _cron_trigger(cron, timezone)
        except (ValueError, TypeError) as exc:
            raise s.fail("cron", f"invalid cron expression {raw!r} (minute hour day month weekday): {exc}") from None
        schedules.append(QASchedule(name=name, cron=cron, timezone=timezone))
    return tuple(schedules)


def _parse_publishing(qs: _Section) -> QAPublishing:
    pub = qs.section("publishing")
    mode = pub.string("mode", "freepublish")
    if mode not in ("freepublish", "mass_send"):
        raise pub.fail("mode", f"must be freepublish or mass_send, got {mode!r}")
    cover = pub.string("cover_image", "", allow_empty=True)
    path = DEFAULT_COVER
    if cover:
        path = Path(cover)
        if not path.is_absolute():
            path = Path(qs.source).resolve().parent / path  # relative to the config file
    if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".gif", ".bmp"):
        raise pub.fail("cover_image", "must be a .jpg, .png, .gif or .bmp image")
    if not path.is_file():
        raise pub.fail("cover_image", f"no such file {str(path)!r}")
    if path.stat().st_size > 10 * 1024 * 1024:
        raise pub.fail("cover_image", "must be at most 10 MB (WeChat's limit for image material)")
    author = pub.string("author", "", allow_empty=True)
    if len(author) > 16:
        raise pub.fail("author", "must be at most 16 characters (WeChat's limit)")
    title = pub.string("title", "答疑 · {date}")
    try:
        sample_title = title.format(date="12月31日")
    except (KeyError, IndexError, ValueError):
        raise pub.fail("title", "may contain only the placeholder {date}") from None
    if len(sample_title) > 32:
        raise pub.fail("title", "must be at most 32 characters with the date filled in (WeChat's limit)")
    return QAPublishing(
        mode=mode,
        cover_image=str(path),
        author=author,
        title=title,
        intro=pub.string("intro", "感谢大家的提问！以下是本期整理的问题和医生的解答。"),
        disclaimer=pub.string("disclaimer", DEFAULT_DISCLAIMER),
        max_attempts=pub.integer("max_attempts", 5, 1, 20),
        lease_seconds=pub.integer("lease_seconds", DEFAULT_LEASE_SECONDS, 1, 86400),
        notify_lease_seconds=pub.integer("notify_lease_seconds", DEFAULT_NOTIFY_LEASE_SECONDS, 1, 86400),
    )


def _parse_questions(qs: _Section, account: AccountConfig) -> QuestionsConfig:
    markers = qs.str_list("markers") if "markers" in qs.data else DEFAULT_MARKERS
    unmatched = qs.section("unmatched")
    return QuestionsConfig(
        markers=tuple(sorted(markers, key=len, reverse=True)),  # longest first: "问：" before "问"
        unmatched_enabled=_flag(unmatched, "enabled", False),
        unmatched_min_chars=unmatched.integer("min_chars", 15, 2, 500),
        daily_limit=qs.integer("daily_limit", 5, 1, 1000),
        duplicate_days=qs.integer("duplicate_days", 7, 1, 365),
        notify_askers=_flag(qs, "notify_askers", True),
        latest_keywords=qs.str_list("latest_keywords") if "latest_keywords" in qs.data else ("答疑", "最新答疑"),
        schedules=_parse_schedules(qs, account.timezone),
        publishing=_parse_publishing(qs),
        tick_seconds=qs.integer("tick_seconds", DEFAULT_TICK_SECONDS, 1, 3600),
    )


def _parse_console(cs: _Section, env: Mapping[str, str]) -> ConsoleConfig:
    d = DEFAULT_CONSOLE
    console = ConsoleConfig(
        session_idle_minutes=cs.integer("session_idle_minutes", d.session_idle_minutes, 1, 24 * 60),
        session_max_hours=cs.integer("session_max_hours", d.session_max_hours, 1, 24 * 30),
        login_max_failures=cs.integer("login_max_failures", d.login_max_failures, 1, 100),
        login_max_failures_per_address=cs.integer("login_max_failures_per_address",
                                                  d.login_max_failures_per_address, 1, 1000),
        login_window_minutes=cs.integer("login_window_minutes", d.login_window_minutes, 1, 24 * 60),
        login_lockout_seconds=cs.integer("login_lockout_seconds", d.login_lockout_seconds, 1, 3600),
        login_lockout_max_minutes=cs.integer("login_lockout_max_minutes", d.login_lockout_max_minutes, 1, 24 * 60),
        audit_days=cs.integer("audit_days", d.audit_days, 1, 3650),
        audit_max=cs.integer("audit_max", d.audit_max, 100, 10_000_000),
        argon2_time_cost=cs.integer("argon2_time_cost", d.argon2_time_cost, 1, 20),
        argon2_memory_kib=cs.integer("argon2_memory_kib", d.argon2_memory_kib, 1024, 4 * 1024 * 1024),
        argon2_parallelism=cs.integer("argon2_parallelism", d.argon2_parallelism, 1, 16),
        trusted_proxies=cs.integer("trusted_proxies", d.trusted_proxies, 0, 5),
        api_requests_per_minute=cs.integer("api_requests_per_minute", d.api_requests_per_minute, 1, 100_000),
        admin_password=env.get("BOT_ADMIN_PASSWORD", ""),
    )
    if console.session_max_hours * 60 < console.session_idle_minutes:
        raise cs.fail("session_max_hours", "must not be shorter than session_idle_minutes")
    if console.login_lockout_max_minutes * 60 < console.login_lockout_seconds:
        raise cs.fail("login_lockout_max_minutes", "must not be shorter than login_lockout_seconds")
    return console


def parse_config(data: Any, env: Mapping[str, str], source: str = "config.yaml") -> Config:
    """Validate a loaded YAML document plus environment into a `Config`."""
    root = _Section(data, "", source)

    acc = root.section("account")
    timezone = acc.string("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise acc.fail("timezone", f"unknown time zone {timezone!r}") from None
    account = AccountConfig(
        name=acc.string("name"),
        original_id=acc.string("original_id", SAMPLE_ORIGINAL_ID),
        timezone=timezone,
        contact=acc.string("contact"),
        public_base_url=acc.url("public_base_url", "http://127.0.0.1:8000").rstrip("/"),
    )

    wx = root.section("wechat")
    aes_key = _secret(wx, "encoding_aes_key", env, allow_empty=True)
    aes_previous = _secret(wx, "encoding_aes_key_previous", env, allow_empty=True)
    _check_aes_key(wx, "encoding_aes_key", aes_key)
    _check_aes_key(wx, "encoding_aes_key_previous", aes_previous)
    if aes_previous and not aes_key:
        raise wx.fail("encoding_aes_key", "is required when a previous key is set")
    token = _secret(wx, "token", env, allow_empty=False)
    if not re.fullmatch(r"[A-Za-z0-9]{3,32}", token):
        raise wx.fail("token", "must be 3 to 32 letters or digits, as on the WeChat admin page")
    app_id = _secret(wx, "app_id", env, allow_empty=False)
    if not re.fullmatch(r"wx[0-9a-zA-Z]{14,18}", app_id):
        raise wx.fail("app_id", f"must look like wx followed by 16 letters/digits, got {app_id!r}")
    base_url = env.get("WECHAT_API_BASE_URL", "").strip()
    wechat = WeChatConfig(
        token=token,
        app_id=app_id,
        app_secret=_secret(wx, "app_secret", env, allow_empty=True),
        encoding_aes_key=aes_key,
        encoding_aes_key_previous=aes_previous,
        api_base_url=(
            _Section({"api_base_url": base_url}, "WECHAT_API_BASE_URL", "environment").url("api_base_url")
            if base_url
            else wx.url("api_base_url", DEFAULT_API_BASE_URL)
        ),
        api_timeout_seconds=wx.number("api_timeout_seconds", 5.0, 0.1, 60.0),
        api_max_retries=wx.integer("api_max_retries", 3, 0, 10),
        # On by default with a key: WeChat encrypts every push in safe and compatible mode alike.
        require_encryption=wx.boolean("require_encryption", bool(aes_key)),
    )
    if wechat.require_encryption and not aes_key:
        raise wx.fail("require_encryption", "needs wechat.encoding_aes_key (or WECHAT_ENCODING_AES_KEY)")

    wh = root.section("webhook")
    default_reply = wh.string(
        "default_reply", "您好，我们已收到您的消息。发送“帮助”可查看能为您做什么。"
    )
    if len(default_reply.encode("utf-8")) > PASSIVE_TEXT_LIMIT:
        raise wh.fail("default_reply", f"is longer than WeChat's {PASSIVE_TEXT_LIMIT}-byte reply limit")
    webhook = WebhookConfig(
        reply_deadline_seconds=wh.number("reply_deadline_seconds", 4.0, 0.5, 4.5),
        dedup_ttl_seconds=wh.integer("dedup_ttl_seconds", 300, 60, 86400),
        max_body_bytes=wh.integer("max_body_bytes", 65536, 1024, 1 << 20),
        default_reply=default_reply,
    )

    sv = root.section("survey")
    survey = SurveyConfig(
        title=sv.string("title"),
        url=sv.url("url"),
        invitation=sv.string("invitation"),
        keywords=sv.str_list("keywords"),
    )

    secret_key = env.get("BOT_SECRET_KEY", "").strip() or root.string("secret_key", "", allow_empty=True)
    if len(secret_key) < 16:
        raise root.fail("secret_key", "must be at least 16 characters (or set BOT_SECRET_KEY)")

    metrics_token = env.get("METRICS_TOKEN", "").strip()
    if metrics_token and (len(metrics_token) < 24 or not metrics_token.isascii()):
        raise ConfigError("environment: METRICS_TOKEN: must be at least 24 ASCII characters (openssl rand -hex 16)")

    articles = _parse_articles(root)
    menu_articles: dict[str, str] = {}
    menu = _parse_menu_section(root, articles, survey_link(account.public_base_url, secret_key, MENU_SURVEY_WHO),
                               menu_articles)
    keep = root.section("retention")
    config = Config(
        account=account,
        wechat=wechat,
        webhook=webhook,
        articles=articles,
        survey=survey,
        secret_key=secret_key,
        seed_rules=_seed_rules(root, articles, survey),
        help_keywords=frozenset(unicodedata.normalize("NFKC", k).casefold()
                                for k in root.str_list("help_keywords") or ("帮助", "?", "help")),
        questions=_parse_questions(root.section("questions"), account),
        source=source,
        retention=RetentionConfig(unmatched_days=keep.integer("unmatched_days", 30, 1, 365),
                                  outbox_max=keep.integer("outbox_max", 10000, 100, 1_000_000)),
        menu=menu,
        menu_articles=tuple(menu_articles.items()),
        console=_parse_console(root.section("console"), env),
        metrics_token=metrics_token,
        raw=dict(root.data),
    )
    return _apply_mode(config, env)


# -- development, staging and production ---------------------------------------------------------------

# The sample config.yaml's values: public in the repository, so anyone could sign pushes or forge links with them.
SAMPLE_VALUES: Mapping[str, str] = {
    "wechat.token": "devtoken123",
    "wechat.app_id": "wxdev0000000000001",
    "wechat.encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "wechat.encoding_aes_key_previous": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "secret_key": "dev-secret-key-change-me-in-production",
}
SECRET_ENV = {"wechat.token": "WECHAT_TOKEN", "wechat.app_id": "WECHAT_APP_ID",
              "wechat.encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
              "wechat.encoding_aes_key_previous": "WECHAT_ENCODING_AES_KEY_PREVIOUS", "secret_key": "BOT_SECRET_KEY"}
SAMPLE_ORIGINAL_ID = "gh_000000000000"
MIN_PRODUCTION_SECRET_KEY = 32


def is_local_host(host: str) -> bool:
    """A loopback, private or link-local address (or localhost): nothing a phone on the internet reaches."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified


def _mode(env: Mapping[str, str], wechat: WeChatConfig) -> Mode:
    """Production when declared (BOT_ENV) or when an AppSecret talks to WeChat's real API, whatever is declared."""
    declared = env.get("BOT_ENV", "").strip().lower()
    if declared not in ("", "production", "development"):
        raise ConfigError(f"environment: BOT_ENV: must be production or development, got {declared!r}")
    loopback = is_local_host(urlsplit(wechat.api_base_url).hostname or "")
    if declared == "production" or (wechat.app_secret and not loopback):
        return "production"
    if declared == "development" or not wechat.app_secret:
        return "development"
    return "staging"


def _unsafe(config: Config) -> list[str]:
    """What production refuses, one line per field (outside production: warnings)."""
    src, wx = config.source, config.wechat
    values = {"wechat.token": wx.token, "wechat.app_id": wx.app_id, "wechat.encoding_aes_key": wx.encoding_aes_key,
              "wechat.encoding_aes_key_previous": wx.encoding_aes_key_previous, "secret_key": config.secret_key}
    found = [f"{src}: {name}: is the sample config's public development value; set {SECRET_ENV[name]} to the "
             "account's own" for name, value in values.items() if value and value == SAMPLE_VALUES[name]]
    if config.account.original_id == SAMPLE_ORIGINAL_ID:
        found.append(f"{src}: account.original_id: is the sample's placeholder; set the account's 原始ID (gh_...) "
                     "from the WeChat admin page: pushes addressed to any other account are refused")
    if len(config.secret_key) < MIN_PRODUCTION_SECRET_KEY:
        found.append(f"{src}: secret_key: is {len(config.secret_key)} characters, production needs at least "
                     f"{MIN_PRODUCTION_SECRET_KEY} (set BOT_SECRET_KEY to a random string)")
    url = urlsplit(config.account.public_base_url)
    if url.scheme != "https":
        found.append(f"{src}: account.public_base_url: must be https in production (followers open the survey "
                     f"link on their phones), got {config.account.public_base_url!r}")
    elif is_local_host(url.hostname or ""):
        found.append(f"{src}: account.public_base_url: {url.hostname!r} is a loopback or private address that "
                     "followers' phones cannot reach")
    if config.aes_keys and not wx.require_encryption:
        found.append(f"{src}: wechat.require_encryption: is false although an EncodingAESKey is set: a plaintext "
                     "push's signature does not cover its body, so one captured signature could carry forged "
                     "messages; set it true (in safe and compatible mode WeChat encrypts every push)")
    return found


def _apply_mode(config: Config, env: Mapping[str, str]) -> Config:
    """Refuse unsafe settings in production; elsewhere keep them as warnings (none in development: sample secrets
    and a loopback address are what development runs with)."""
    mode = _mode(env, config.wechat)
    if mode == "production" and not config.wechat.app_secret:
        raise ConfigError(f"{config.source}: wechat.app_secret: is required in production (set WECHAT_APP_SECRET); "
                          "without it nothing can be published or sent to followers")
    found = _unsafe(config) if mode != "development" else []
    if mode == "production" and found:
        raise ConfigError("refusing to start in production:\n" + "\n".join(found))
    return replace(config, mode=mode, warnings=tuple(found))


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file (`BOT_CONFIG`, default ./config.yaml)."""
    env = os.environ if env is None else env
    file = Path(path or env.get("BOT_CONFIG") or "config.yaml")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found (set BOT_CONFIG to its path)") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}: not valid YAML{where}") from None
    return parse_config(data, env, source=str(file))
