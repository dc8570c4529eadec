"""WeChat official-account bot: the Flask application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from bot.accounts.audit import AuditLog
from bot.accounts.bootstrap import ensure_first_admin
from bot.accounts.users import UserService
from bot.checks import check_store
from bot.config import Config, load_config
from bot.questions.posts import PostService
from bot.questions.privacy import Pseudonymizer
from bot.rules.catalog_service import CatalogService
from bot.rules.ruleset import RuleSet
from bot.stats import Stats
from bot.store import Store, StoreError
from bot.web.intake import Intake, make_deliver
from bot.wechat.api import WeChatAPI
from bot.wechat.edge import WeChatEdge
from bot.wechat.menu_service import MenuService
from handlers import build_dispatcher
from handlers.base import Context, Dispatcher, Router, Services

log = logging.getLogger(__name__)


@dataclass
class Bot:
    """Everything one app instance uses, kept in `app.extensions["wxbot"]`."""

    config: Config
    store: Store
    edge: WeChatEdge
    ctx: Context
    intake: Intake
    api: WeChatAPI | None
    menu: MenuService

    def close(self) -> None:
        """Release threads and connections (tests and tools that build many apps)."""
        self.intake.executor.shutdown(wait=True)
        if self.api is not None:
            self.api.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_api(config: Config, store: Store) -> WeChatAPI | None:
    """The API client, or None when no AppSecret is configured (nothing can be sent then)."""
    if not config.wechat.app_secret:
        return None
    return WeChatAPI(config.wechat.app_id, config.wechat.app_secret, store, config.wechat.api_base_url,
                     timeout=config.wechat.api_timeout_seconds, max_retries=config.wechat.api_max_retries)


def connect_store(env: Mapping[str, str]) -> Store:
    """Redis at REDIS_URL, else the embedded server under data/ (BOT_DATA_DIR)."""
    return Store.from_env(env)


def build_bot(config: Config, store: Store, routers: tuple[Router, ...] | None = None) -> Bot:
    """The bot's services without a web app (the scheduler process uses this too); the first admin if due."""
    for warning in config.warnings:  # staging: what production would refuse
        log.warning("%s", warning)
    check_store(config, store)
    api = build_api(config, store)
    audit = AuditLog(store, config.console, _utcnow)
    rules = RuleSet(store, config, audit=audit)
    posts = PostService(config, store, api, _utcnow, rules.current, audit)  # questions and Q&A posts
    users = UserService(store, config.console, _utcnow, audit, config.secret_key)
    try:
        ensure_first_admin(config, users)
    except StoreError as exc:  # Redis down at start-up: the next start (or any worker's) creates it
        log.warning("BOT_ADMIN_PASSWORD: could not check for a first admin (%s)", type(exc).__name__)
    ctx = Context(config=config, store=store, clock=_utcnow, pseudonym=Pseudonymizer(config.secret_key),
                  services=Services(rules=rules, posts=posts, api=api, users=users, audit=audit,
                                    catalog=CatalogService(rules, audit),
                                    stats=Stats(store, config.account.tz, _utcnow, rules.current)))
    edge = WeChatEdge(config.wechat.token, config.wechat.app_id, config.aes_keys,
                      max_skew_seconds=config.webhook.dedup_ttl_seconds - 30,
                      require_encryption=config.wechat.require_encryption,
                      original_id=config.account.original_id)
    dispatcher = Dispatcher(routers) if routers else build_dispatcher()
    intake = Intake(edge, dispatcher, ctx, make_deliver(api, store, config.retention.outbox_max))
    def article_url(article_id: str) -> str | None:
        article = rules.catalog().article(article_id)
        return article.url if article is not None else None

    menu = MenuService(store, api, config.menu,
                       answers_click=lambda key: bool(rules.current().explain(key, "click", _utcnow())),
                       audit=audit, article_links=config.menu_articles, article_url=article_url)
    return Bot(config=config, store=store, edge=edge, ctx=ctx, intake=intake, api=api, menu=menu)


def create_app(test_config: Mapping[str, Any] | None = None, *, config: Config | None = None,
               store: Store | None = None, routers: tuple[Router, ...] | None = None) -> Flask:
    """Build the web app: config, store, WeChat edge, dispatcher and blueprints."""
    app = Flask(__name__)
    app.config.from_mapping(JSON_AS_ASCII=False)
    if test_config:
        app.config.from_mapping(test_config)
    config = config or load_config()
    app.extensions["wxbot"] = build_bot(config, store or connect_store(os.environ), routers)

    from bot import cli, web

    web.init_app(app)
    cli.init_app(app)
    return app
