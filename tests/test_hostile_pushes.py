"""Hostile and odd pushes over real HTTP (gunicorn): each gets a clear reason and changes nothing; harmless
oddities (a byte-order mark) are accepted."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bot.config import Config
from bot.store import Store, StoreError
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.test_e2e import account

HEAD = "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[o_hostile]]></FromUserName>"


def raw(acct: Account, body: str, *, to: str | None = None) -> str:
    return HEAD.format(to=to or acct.original_id) + body + "</xml>"


def send(url: str, acct: Account, xml: str | bytes, *, aes: bool = False) -> requests.Response:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    query, body = signed_request(acct, data.decode("utf-8", "surrogateescape"), aes=aes)
    return requests.post(url + "/wechat", params=query, data=data if not aes else body, timeout=10)


def no_claims(store: Store) -> bool:
    try:
        return not list(store.redis.scan_iter(match=store.prefix + "dedup:*"))
    except StoreError:  # pragma: no cover - Redis is there in these tests
        return False


@pytest.mark.parametrize(("fields", "reason"), [
    ("<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>١٢٣</MsgId>",
     "MsgId"),
    ("<CreateTime>١٧٠٠٠٠٠٠٠٠</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
     "CreateTime is not a whole number"),
    ("<CreateTime>99999999999</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
     "CreateTime is not a plausible send time"),
    ("<CreateTime>-5</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId>",
     "CreateTime is not a plausible send time"),
    ("<CreateTime>1700000000</CreateTime><MsgType>location</MsgType><Location_X>nan</Location_X>"
     "<Location_Y>121.4</Location_Y><MsgId>1</MsgId>", "Location_X is out of range"),
    ("<CreateTime>1700000000</CreateTime><MsgType>location</MsgType><Location_X>31.2</Location_X>"
     "<Location_Y>inf</Location_Y><MsgId>1</MsgId>", "Location_Y is out of range"),
    ("<CreateTime>1700000000</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event>"
     "<Latitude>1e400</Latitude><Longitude>1</Longitude><Precision>1</Precision>", "Latitude is out of range"),
])
def test_malformed_fields_are_refused_naming_the_field(live_server: str, base_config: Config, store: Store,
                                                       fields: str, reason: str) -> None:
    acct = account(base_config)
    for aes in (False, True):
        res = send(live_server, acct, raw(acct, fields), aes=aes)
        assert res.status_code == 400 and reason in res.text, (aes, res.text)
    assert no_claims(store)


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty body"),
    (b"hello", "not XML"),
    (b'<!DOCTYPE xml [<!ENTITY a "b">]><xml/>', "DTDs and entity declarations"),
    (b"<!-- hi --><xml/>", "comments before <xml>"),
    (b"<root/>", "root element must be <xml>"),
])
def test_each_refusal_says_what_was_wrong(live_server: str, base_config: Config, body: bytes, reason: str) -> None:
    acct = account(base_config)
    query, _ = signed_request(acct, "")
    res = requests.post(live_server + "/wechat", params=query, data=body, timeout=10)
    assert res.status_code == 400 and reason in res.text and "DTD" not in res.text.replace("DTDs and", "")


def test_a_byte_order_mark_before_the_xml_is_accepted_plain_and_inside_the_ciphertext(
        live_server: str, base_config: Config) -> None:
    acct = account(base_config)
    xml = message_xml(acct, "o_bom", text="问卷")
    plain = requests.post(live_server + "/wechat", params=signed_request(acct, xml)[0],
                          data=b"\xef\xbb\xbf" + xml.encode(), timeout=10)
    assert plain.status_code == 200 and read_reply(acct, plain.text).kind == "news"
    query, body = signed_request(acct, "\ufeff" + message_xml(acct, "o_bom", text="问卷"), aes=True)
    encrypted = requests.post(live_server + "/wechat", params=query, data=body, timeout=10)
    assert encrypted.status_code == 200 and read_reply(acct, encrypted.text).kind == "news"


def test_a_push_for_another_account_is_refused(live_server: str, base_config: Config, store: Store) -> None:
    acct = account(base_config)
    other = Account(acct.token, acct.app_id, acct.aes_key, "gh_someoneelse01")
    for aes in (False, True):
        res = send(live_server, acct, message_xml(other, "o_x", text="问卷"), aes=aes)
        assert res.status_code == 403 and "another account" in res.text
    assert no_claims(store)
    by_appid = Account(acct.token, acct.app_id, acct.aes_key, acct.app_id)  # some tools address the AppID
    assert send(live_server, acct, message_xml(by_appid, "o_x", text="问卷")).status_code == 200


def test_the_webhook_edge_over_http_chunked_bodies_methods_and_lengths(live_server: str, base_config: Config,
                                                                       store: Store) -> None:
    """`/wechat` is answered in front of Flask (bot.web.webhook): the HTTP corners a server sees."""
    acct = account(base_config)
    query, body = signed_request(acct, message_xml(acct, "o_chunked", text="问卷", msg_id=4_400_000_001))

    def chunks(data: bytes) -> Any:  # no Content-Length: requests sends Transfer-Encoding: chunked
        yield from (data[i:i + 100] for i in range(0, len(data), 100))

    res = requests.post(live_server + "/wechat", params=query, data=chunks(body), timeout=10)
    assert res.status_code == 200 and read_reply(acct, res.text).kind == "news"
    query, body = signed_request(acct, message_xml(acct, "o_chunked", text="x" * 70000, msg_id=4_400_000_002))
    res = requests.post(live_server + "/wechat", params=query, data=chunks(body), timeout=10)
    assert res.status_code == 413 and res.text == "body too large"
    res = requests.put(live_server + "/wechat", data=b"<xml/>", timeout=10)
    assert res.status_code == 405 and res.headers["Allow"] == "GET, HEAD, POST"
    res = requests.head(live_server + "/wechat", timeout=10)
    assert res.status_code == 403 and res.content == b""  # unsigned: refused, and HEAD has no body
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert store.outcome("m:4400000002") is None


def test_a_length_that_is_no_number_is_a_clear_400(wechat: Any) -> None:
    res = wechat.client.post("/wechat", data=b"<xml/>", environ_overrides={"CONTENT_LENGTH": "12abc"})
    assert res.status_code == 400 and res.text == "invalid Content-Length"
