"""Plaintext pushes over real HTTP: a captured query string carries only its own body.

WeChat's plaintext signature covers the token, timestamp and nonce, not the body; the bot binds each signature
to the first body pushed under it, in the same Redis round trip as the dedup claim.
"""

from __future__ import annotations

import logging

import requests
from flask.testing import FlaskClient

from bot.config import Config
from bot.questions.privacy import Pseudonymizer
from bot.store import Store
from bot.wechat.simulator import message_xml, read_reply, signed_request
from tests.test_e2e import account

QUESTION = "提问：肾移植术后三个月，他克莫司浓度偏低需要调整剂量吗？"


def post(url: str, query: dict[str, str], xml: str) -> requests.Response:
    return requests.post(url + "/wechat", params=query, data=xml.encode("utf-8"), timeout=10)


def test_a_captured_query_cannot_carry_a_forged_question_or_unsubscribe(
        live_server: str, base_config: Config, store: Store) -> None:
    acct = account(base_config)
    victim = Pseudonymizer(base_config.secret_key)("o_victim")
    asked = post(live_server, signed_request(acct, message_xml(acct, "o_victim", text=QUESTION))[0],
                 message_xml(acct, "o_victim", text=QUESTION))
    assert asked.status_code == 200 and store.follower(victim) is not None
    questions = store.pending_count()

    captured, _ = signed_request(acct, message_xml(acct, "o_attacker", text="问卷"))
    first = post(live_server, captured, message_xml(acct, "o_attacker", text="问卷", msg_id=7001))
    assert first.status_code == 200 and read_reply(acct, first.text).kind == "news"

    forged_question = message_xml(acct, "o_victim", text="提问：我的肌酐是多少算正常？", msg_id=7002)
    forged_unsubscribe = message_xml(acct, "o_victim", event="unsubscribe")
    for forged in (forged_question, forged_unsubscribe):
        res = post(live_server, captured, forged)
        assert res.status_code == 403 and "signature already used with a different body" in res.text
    assert store.pending_count() == questions  # no question stored in the victim's name
    assert store.follower(victim) is not None  # and the victim's record is still there


def test_an_identical_retry_under_the_same_signature_is_replayed(live_server: str, base_config: Config,
                                                                  store: Store) -> None:
    acct = account(base_config)
    xml = message_xml(acct, "o_retry", text=QUESTION, msg_id=7101)
    query, _ = signed_request(acct, xml)
    first, retry = post(live_server, query, xml), post(live_server, query, xml)
    assert first.status_code == retry.status_code == 200
    assert retry.text == first.text and read_reply(acct, first.text).kind == "text"
    assert store.pending_count() == 1  # stored once


def test_a_fresh_signature_for_each_push_is_unaffected(live_server: str, base_config: Config) -> None:
    acct = account(base_config)
    for n, openid in enumerate(("o_one", "o_two", "o_three")):
        xml = message_xml(acct, openid, text="问卷", msg_id=7200 + n)
        res = post(live_server, signed_request(acct, xml)[0], xml)
        assert res.status_code == 200 and read_reply(acct, res.text).kind == "news"


def test_the_refusal_is_logged_without_the_openid(client: FlaskClient, base_config: Config,
                                                  caplog: object) -> None:
    acct = account(base_config)
    query, _ = signed_request(acct, message_xml(acct, "o_first", text="问卷"))
    path = "/wechat?" + "&".join(f"{k}={v}" for k, v in query.items())
    assert client.post(path, data=message_xml(acct, "o_first", text="问卷", msg_id=7301).encode()).status_code == 200
    with caplog.at_level(logging.WARNING):  # type: ignore[attr-defined]
        res = client.post(path, data=message_xml(acct, "o_second", text="问卷", msg_id=7302).encode())
    assert res.status_code == 403
    logged = " ".join(r.getMessage() for r in caplog.records)  # type: ignore[attr-defined]
    assert "re-used with a different body" in logged and "o_second" not in logged and "o_first" not in logged
