"""REDIS_URL to a client: ``redis://``/``rediss://``/``unix://`` as redis-py reads them, ``redis+sentinel://``
through Redis Sentinel, and the replication wait both accept."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
_WAIT_OPTIONS = ("wait_replicas", "wait_timeout_ms")


class RedisURLError(ValueError):
    """REDIS_URL is malformed; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class ReplicaWait:
    """After storing a question, wait until `replicas` replicas have it, at most `timeout_ms` (0: no wait)."""

    replicas: int = 0
    timeout_ms: int = 1000


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """The parts of ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db][?options]``."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


@dataclass(slots=True)
class Connected:
    """A client on the (current) primary, the Sentinel it follows, if any, and the replication wait."""

    client: redis.Redis
    sentinel: Sentinel | None
    wait: ReplicaWait


def _int_option(name: str, value: str, low: int) -> int:
    if not value.isascii() or not value.isdigit() or int(value) < low:
        raise RedisURLError(f"REDIS_URL: {name} must be a whole number of at least {low}, not {value!r}")
    return int(value)


def _split_options(query: str) -> tuple[ReplicaWait, list[tuple[str, str]]]:
    """The replication wait and the query options left for the connection."""
    wait = {"wait_replicas": 0, "wait_timeout_ms": 1000}
    rest = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _WAIT_OPTIONS:
            wait[name] = _int_option(name, value, 0 if name == "wait_replicas" else 1)
        else:
            rest.append((name, value))
    return ReplicaWait(wait["wait_replicas"], wait["wait_timeout_ms"]), rest


def _host_port(part: str) -> tuple[str, int]:
    if not part:
        raise RedisURLError("REDIS_URL: an empty Sentinel address (two commas, or a comma at the end)")
    if part.startswith("["):  # IPv6: [::1]:26379
        host, sep, port = part[1:].partition("]")
        if sep and port and not port.startswith(":"):
            raise RedisURLError(f"REDIS_URL: Sentinel address {part!r} is not [ipv6]:port")
        port = port[1:]
    else:
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
    if not host:
        raise RedisURLError(f"REDIS_URL: Sentinel address {part!r} has no host")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisURLError(f"REDIS_URL: Sentinel address {part!r} has a bad port {port!r} (1-65535)")
    return host, int(port)


def parse_sentinel_url(url: str) -> tuple[SentinelURL, ReplicaWait]:
    """The Sentinel URL's parts and its replication wait, or RedisURLError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise RedisURLError(f"REDIS_URL: scheme {parts.scheme!r} is not {SENTINEL_SCHEME}")
    if parts.fragment:
        raise RedisURLError("REDIS_URL: a Sentinel URL takes no #fragment")
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at:
        userinfo, hosts = "", parts.netloc
    username, _, password = userinfo.partition(":")
    if not hosts:
        raise RedisURLError("REDIS_URL: no Sentinel host (redis+sentinel://host:port[,host:port]/service)")
    sentinels = tuple(_host_port(p) for p in hosts.split(","))
    path = [unquote(p) for p in parts.path.split("/")[1:]]
    if not path or not path[0]:
        raise RedisURLError("REDIS_URL: no service name (redis+sentinel://host:port/service[/db]), "
                            "the name in Sentinel's `sentinel monitor NAME ...`")
    if len(path) > 2 or (len(path) == 2 and not path[1]):
        raise RedisURLError(f"REDIS_URL: the path {parts.path!r} is not /service or /service/db")
    db = _int_option("the database number", path[1], 0) if len(path) == 2 else 0
    wait, rest = _split_options(parts.query)
    sentinel_password = None
    for name, value in rest:
        if name != "sentinel_password":
            raise RedisURLError(f"REDIS_URL: unknown option {name!r} for a Sentinel URL "
                                f"(known: sentinel_password, {', '.join(_WAIT_OPTIONS)})")
        sentinel_password = value
    return SentinelURL(sentinels, path[0], db, unquote(username) or None, unquote(password) if password else None,
                       sentinel_password or None), wait


def connect(url: str, timeout: float) -> Connected:
    """A client for REDIS_URL: RESP2 (every server version speaks it), `timeout` on connects and replies."""
    sockets = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        parts = urlsplit(url)
        wait, rest = _split_options(parts.query)
        # Only the query is rebuilt: urlunsplit would turn unix:///path into unix:/path.
        plain = url.partition("?")[0] + (f"?{urlencode(rest)}" if rest else "") if parts.query else url
        return Connected(redis.Redis.from_url(plain, protocol=2, **sockets), None, wait)
    target, wait = parse_sentinel_url(url)
    # Sentinels have their own `requirepass` (sentinel_password); the URL's password is the data servers'.
    sentinel = Sentinel(list(target.sentinels), protocol=2,
                        sentinel_kwargs={**sockets, "protocol": 2, "password": target.sentinel_password},
                        **sockets)
    client = sentinel.master_for(target.service, db=target.db, username=target.username, password=target.password)
    return Connected(client, sentinel, wait)
