"""The benchmark's peers (bench/peers) answer a signed keyword push as the bot would: a card or the survey text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import Client

from bench.peers import wechatpy_app, werobot_app
from bot.config import load_config
from bot.wechat.simulator import Account, message_xml, read_reply, signed_request
from tests.conftest import ROOT

CONFIG = load_config(ROOT / "config.yaml", env={})
ACCOUNT = Account(CONFIG.wechat.token, CONFIG.wechat.app_id, CONFIG.wechat.encoding_aes_key,
                  CONFIG.account.original_id)
PEERS: dict[str, Callable[[], Any]] = {"werobot": werobot_app.create_app, "wechatpy": wechatpy_app.create_app}


def push(client: Client, xml: str, aes: bool) -> tuple[int, str]:
    query, body = signed_request(ACCOUNT, xml, aes=aes)
    response = client.post("/wechat", query_string=query, data=body, content_type="text/xml")
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
@pytest.mark.parametrize("peer", PEERS)
def test_peer_answers_keywords(peer: str, aes: bool) -> None:
    client = Client(PEERS[peer]())  # one app per mode: WeRoBot encrypts all replies once it has decrypted one
    status, body = push(client, message_xml(ACCOUNT, "o_peer", text="干细胞", msg_id=1), aes)
    assert status == 200
    assert ("<Encrypt>" in body) is aes
    card = read_reply(ACCOUNT, body)
    article = next(a for a in CONFIG.articles if "干细胞" in a.keywords)
    assert card.kind == "news"
    assert card.articles == ((article.title, article.summary, article.url),)

    status, body = push(client, message_xml(ACCOUNT, "o_peer", text="问卷", msg_id=2), aes)
    survey = read_reply(ACCOUNT, body)
    assert status == 200 and survey.kind == "text"
    assert CONFIG.survey.url in survey.text and CONFIG.survey.invitation in survey.text

    _, body = push(client, message_xml(ACCOUNT, "o_peer", text="你好", msg_id=3), aes)
    assert read_reply(ACCOUNT, body).text == CONFIG.webhook.default_reply
    _, body = push(client, message_xml(ACCOUNT, "o_peer", event="CLICK", event_key="MENU_SURVEY"), aes)
    assert CONFIG.survey.url in read_reply(ACCOUNT, body).text


@pytest.mark.parametrize("peer", PEERS)
def test_peer_refuses_a_bad_signature(peer: str) -> None:
    client = Client(PEERS[peer]())
    query, body = signed_request(ACCOUNT, message_xml(ACCOUNT, "o_peer", text="干细胞"))
    query["signature"] = "0" * 40
    assert client.post("/wechat", query_string=query, data=body).status_code == 403
