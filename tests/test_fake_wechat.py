"""Tests for the fake WeChat API server, exercised over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import io
import json
import queue
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from bot.fake_wechat import (
    ApiRequest,
    FakeAccount,
    FakeWeChatServer,
    FakeWeChatState,
    create_fake_app,
)
from tests.conftest import Served, wait_for

APPID = "wxfake0000000000"
SECRET = "fake-secret"
WEBHOOK_TOKEN = "hook-token"
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100


class Receiver(Served):
    """A tiny webhook endpoint that queues every request it gets (args, body)."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

        @Request.application
        def app(request: Request) -> Response:
            self.received.put((dict(request.args.items()), request.get_data()))
            return Response("success")

        super().__init__(app)
        self.url += "/wechat"

    def next(self) -> tuple[dict[str, str], bytes]:
        """The next received request (waits up to 5 s)."""
        return self.received.get(timeout=5)


@pytest.fixture
def server() -> Iterator[FakeWeChatServer]:
    before = set(threading.enumerate())
    srv = FakeWeChatServer().start()
    try:
        yield srv
    finally:
        srv.stop()  # releases delayed requests: it must not hang on them
        leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.stop()


def get_token(server: FakeWeChatServer) -> str:
    resp = requests.get(
        server.url + "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
        timeout=5,
    )
    token = resp.json()["access_token"]
    assert isinstance(token, str)
    return token


def post(server: FakeWeChatServer, path: str, token: str | None, body: Any = None, **kwargs: Any) -> Any:
    """POST to /cgi-bin/<path>; a dict body is sent as raw UTF-8 JSON, as WeChat wants."""
    params = dict(kwargs.pop("params", {}))
    if token is not None:
        params["access_token"] = token
    data = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else kwargs.pop("data", None)
    resp = requests.post(server.url + "/cgi-bin/" + path, params=params, data=data, timeout=5, **kwargs)
    assert resp.status_code == 200, resp.text
    return resp.json()


def upload(server: FakeWeChatServer, path: str, token: str, data: bytes, name: str = "cover.jpg", **params: str) -> Any:
    return post(server, path, token, params=params, files={"media": (name, io.BytesIO(data), "image/jpeg")})


def article(thumb: str, **overrides: Any) -> dict[str, Any]:
    return {"title": "标题", "author": "bot", "content": "<p>正文</p>", "thumb_media_id": thumb, **overrides}


def publish_draft(server: FakeWeChatServer, token: str) -> str:
    thumb = upload(server, "material/add_material", token, JPEG, type="thumb")["media_id"]
    media_id = post(server, "draft/add", token, {"articles": [article(thumb)]})["media_id"]
    submitted = post(server, "freepublish/submit", token, {"media_id": media_id})
    assert submitted["errcode"] == 0 and submitted["errmsg"] == "ok"
    assert isinstance(submitted["msg_data_id"], int)
    publish_id = submitted["publish_id"]
    assert isinstance(publish_id, str)
    return publish_id


def check_push(args: dict[str, str], body: bytes) -> ET.Element:
    """Verify the push signature like the bot's webhook does, and return the parsed XML."""
    expected = hashlib.sha1("".join(sorted([WEBHOOK_TOKEN, args["timestamp"], args["nonce"]])).encode()).hexdigest()
    assert args["signature"] == expected
    root = ET.fromstring(body)
    assert root.findtext("ToUserName") == "gh_fake00000000"
    assert root.findtext("FromUserName")
    assert root.findtext("MsgType") == "event"
    assert root.findtext("Event") == "PUBLISHJOBFINISH"
    assert int(root.findtext("CreateTime") or "0") > 0
    return root


# ---- tokens ------------------------------------------------------------------------------------


def test_token_errors(server: FakeWeChatServer) -> None:
    url = server.url + "/cgi-bin/token"
    good = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    cases = [({"appid": "wxother"}, 40013), ({"secret": "nope"}, 40125), ({"grant_type": "password"}, 40002)]
    for change, errcode in cases:
        resp = requests.get(url, params={**good, **change}, timeout=5)
        assert resp.status_code == 200
        assert resp.json()["errcode"] == errcode
    assert requests.get(url, params={**good, **cases[0][0]}, timeout=5).json()["errmsg"] == "invalid appid"
    ok = requests.get(url, params=good, timeout=5).json()
    assert ok["expires_in"] == 7200 and len(ok["access_token"]) >= 100
    assert post(server, "stable_token", None, {"grant_type": "client_credential", "appid": APPID,
                                               "secret": "bad"})["errcode"] == 40125


def test_token_reissue_keeps_old_token_valid(server: FakeWeChatServer) -> None:
    first, second = get_token(server), get_token(server)
    assert first != second
    for token in (first, second):
        assert post(server, "freepublish/get", token, {"publish_id": "1"})["errcode"] == 53502


def test_stable_token_same_until_force_refresh(server: FakeWeChatServer) -> None:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": False}
    a, b = post(server, "stable_token", None, body), post(server, "stable_token", None, body)
    assert a["access_token"] == b["access_token"]
    assert 0 < b["expires_in"] <= 7200
    forced = post(server, "stable_token", None, {**body, "force_refresh": True})
    assert forced["access_token"] != a["access_token"]
    assert post(server, "freepublish/get", a["access_token"], {"publish_id": "1"})["errcode"] == 40001
    assert post(server, "freepublish/get", forced["access_token"], {"publish_id": "1"})["errcode"] == 53502


def test_access_token_checks(server: FakeWeChatServer) -> None:
    assert post(server, "draft/add", None, {"articles": []})["errcode"] == 41001
    assert post(server, "draft/add", "not-a-token", {"articles": []})["errcode"] == 40001
    token = get_token(server)
    assert post(server, "draft/add", token, {"articles": []})["errcode"] == 44003
    assert requests.post(server.url + "/_fake/expire_tokens", timeout=5).json() == {"ok": True}
    assert post(server, "draft/add", token, {"articles": []}) == {"errcode": 42001, "errmsg": "access_token expired"}
    assert post(server, "draft/add", get_token(server), {"articles": []})["errcode"] == 44003


def test_token_overlap_and_stable_renewal_with_fake_clock() -> None:
    now = [1000.0]
    state = FakeWeChatState(expires_in=7200, clock=lambda: now[0])

    def call(path: str, token: str | None = None) -> dict[str, Any]:
        query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
        if token is not None:
            query = {"access_token": token}
        body = json.dumps({"grant_type": "client_credential", "appid": APPID, "secret": SECRET}).encode()
        method = "GET" if path == "/cgi-bin/token" else "POST"
        payload = state.handle(ApiRequest(method, path, query, body=body)).payload
        assert payload is not None
        return payload

    old = call("/cgi-bin/token")["access_token"]
    new = call("/cgi-bin/token")["access_token"]
    now[0] += 299  # inside WeChat's 5-minute overlap both tokens work
    assert call("/cgi-bin/freepublish/get", old)["errcode"] == 53502
    now[0] += 2
    assert call("/cgi-bin/freepublish/get", old)["errcode"] == 40001  # superseded: "not latest"
    assert call("/cgi-bin/freepublish/get", new)["errcode"] == 53502
    now[0] += 7200
    assert call("/cgi-bin/freepublish/get", new)["errcode"] == 42001

    stable = call("/cgi-bin/stable_token")
    now[0] += 7200 - 301
    assert call("/cgi-bin/stable_token") == {"access_token": stable["access_token"], "expires_in": 301}
    now[0] += 2  # within the last 300 s WeChat hands out a fresh one; the old still works until it expires
    renewed = call("/cgi-bin/stable_token")
    assert renewed["access_token"] != stable["access_token"] and renewed["expires_in"] == 7200
    assert call("/cgi-bin/freepublish/get", stable["access_token"])["errcode"] == 53502


# ---- messages and media -------------------------------------------------------------------------


def test_custom_send_validation_and_recording(server: FakeWeChatServer) -> None:
    token = get_token(server)
    news = {"title": "t", "description": "d", "url": "https://example.com", "picurl": ""}
    cases: list[tuple[dict[str, Any], int]] = [
        ({"touser": "", "msgtype": "text", "text": {"content": "hi"}}, 40003),
        ({"touser": "o1", "msgtype": "text", "text": {"content": ""}}, 44004),
        ({"touser": "o1", "msgtype": "news", "news": {"articles": [news, news]}}, 45008),
        ({"touser": "o1", "msgtype": "news", "news": {"articles": []}}, 44003),
        ({"touser": "o1", "msgtype": "mpnews", "mpnews": {}}, 40007),
        ({"touser": "o1", "msgtype": "fax"}, 40008),
    ]
    for body, errcode in cases:
        assert post(server, "message/custom/send", token, body)["errcode"] == errcode, body
    assert post(server, "message/custom/send", token, None, data=b"{not json")["errcode"] == 47001
    ok = {"touser": "o1", "msgtype": "text", "text": {"content": "你好"}}
    assert post(server, "message/custom/send", token, ok) == {"errcode": 0, "errmsg": "ok"}
    assert post(server, "message/custom/send", token, {**ok, "msgtype": "news", "news": {"articles": [news]}})[
        "errcode"
    ] == 0
    sent = server.state.custom_messages()
    assert [(m.touser, m.msgtype) for m in sent] == [("o1", "text"), ("o1", "news")]
    assert sent[0].body["text"]["content"] == "你好" and sent[0].appid == APPID
    over_http = requests.get(server.url + "/_fake/messages", timeout=5).json()["messages"]
    assert [m["body"] for m in over_http] == [m.body for m in sent]


def test_material_and_uploadimg(server: FakeWeChatServer) -> None:
    token = get_token(server)
    image = upload(server, "material/add_material", token, JPEG, type="image")
    assert image["media_id"] and image["url"].startswith("http://mmbiz.qpic.cn/")
    assert upload(server, "material/add_material", token, b"x" * (64 * 1024 + 1), type="thumb") == {
        "errcode": 40009, "errmsg": "invalid image size"}
    assert upload(server, "material/add_material", token, b"x" * (64 * 1024), type="thumb")["media_id"]
    assert upload(server, "material/add_material", token, JPEG, type="voice")["errcode"] == 40004
    assert upload(server, "material/add_material", token, JPEG, name="a.exe", type="image")["errcode"] == 40005
    missing = post(server, "material/add_material", token, params={"type": "image"}, files={"other": ("a.jpg", b"x")})
    assert missing == {"errcode": 41005, "errmsg": "media data missing"}
    body_img = upload(server, "media/uploadimg", token, JPEG)
    assert set(body_img) == {"url"} and body_img["url"].startswith("http://mmbiz.qpic.cn/fake/")
    assert upload(server, "media/uploadimg", token, b"x" * (1024 * 1024 + 1))["errcode"] == 40009
    recorded = server.state.calls("/cgi-bin/media/uploadimg")[0]
    assert recorded.body["files"] == [{"field": "media", "filename": "cover.jpg", "size": len(JPEG)}]
    assert recorded.query == {"access_token": "***"}


def test_draft_validation(server: FakeWeChatServer) -> None:
    token = get_token(server)
    thumb = upload(server, "material/add_material", token, JPEG, type="image")["media_id"]
    escaped = json.dumps({"articles": [article(thumb)]}).encode()  # ensure_ascii=True: \uXXXX escapes
    assert post(server, "draft/add", token, None, data=escaped)["errcode"] == 40033
    assert post(server, "draft/add", token, {"articles": []})["errcode"] == 44003
    assert post(server, "draft/add", token, {"articles": [article(thumb, title="长" * 33)]})["errcode"] == 45003
    assert post(server, "draft/add", token, {"articles": [article(thumb, title="")]})["errcode"] == 44003
    assert post(server, "draft/add", token, {"articles": [article(thumb, content="")]})["errcode"] == 44004
    assert post(server, "draft/add", token, {"articles": [article("unknown")]})["errcode"] == 40007
    ok = post(server, "draft/add", token, {"articles": [article(thumb, title="长" * 32, content="a\\u0041")]})
    assert set(ok) == {"media_id"}  # an escaped backslash before "u" is not a \u escape
    drafts = requests.get(server.url + "/_fake/state", timeout=5).json()["drafts"]
    assert drafts == [{"media_id": ok["media_id"], "appid": APPID, "titles": ["长" * 32]}]


# ---- publishing ------------------------------------------------------------------------------------


def test_publish_flow_with_webhook_push(server: FakeWeChatServer, receiver: Receiver) -> None:
    server.state.set_webhook(receiver.url, WEBHOOK_TOKEN)
    token = get_token(server)
    thumb = upload(server, "material/add_material", token, JPEG, type="thumb")["media_id"]
    media_id = post(server, "draft/add", token, {"articles": [article(thumb)]})["media_id"]
    publish_id = post(server, "freepublish/submit", token, {"media_id": media_id})["publish_id"]
    assert post(server, "freepublish/submit", token, {"media_id": media_id})["errcode"] == 40007

    first = post(server, "freepublish/get", token, {"publish_id": publish_id})
    assert first == {"publish_id": publish_id, "publish_status": 1, "fail_idx": []}
    assert receiver.received.empty()
    done = post(server, "freepublish/get", token, {"publish_id": publish_id})
    assert done["publish_status"] == 0 and done["fail_idx"] == [] and done["article_id"]
    assert done["article_detail"]["count"] == 1
    assert done["article_detail"]["item"][0]["idx"] == 1
    assert post(server, "freepublish/get", token, {"publish_id": publish_id}) == done  # final state is stable

    args, body = receiver.next()
    root = check_push(args, body)
    info = root.find("PublishEventInfo")
    assert info is not None
    assert info.findtext("publish_id") == publish_id and info.findtext("publish_status") == "0"
    assert info.findtext("article_id") == done["article_id"]
    assert info.findtext("article_detail/count") == "1"
    assert info.findtext("article_detail/item/idx") == "1"
    assert info.findtext("article_detail/item/article_url") == done["article_detail"]["item"][0]["article_url"]
    assert info.find("fail_idx") is None
    assert [(p.publish_id, p.http_status) for p in server.state.wait_pushes(1)] == [(publish_id, 200)]

    # The published article can be sent as a customer-service message.
    msg = {"touser": "o1", "msgtype": "mpnewsarticle", "mpnewsarticle": {"article_id": done["article_id"]}}
    assert post(server, "message/custom/send", token, msg)["errcode"] == 0

    resend = requests.post(f"{server.url}/_fake/publish/{publish_id}/push", timeout=5)
    assert resend.json() == {"ok": True}
    args2, body2 = receiver.next()
    assert body2 == body and check_push(args2, body2) is not None
    assert len(server.state.wait_pushes(2)) == 2


def test_publish_failure_injection_and_control_finish(receiver: Receiver) -> None:
    with FakeWeChatServer(webhook_url=receiver.url, webhook_token=WEBHOOK_TOKEN) as server:
        server.state.configure(publish_polls=-1)  # never finish by polling: the test decides
        token = get_token(server)
        injected = requests.post(server.url + "/_fake/inject", json={
            "path": "/cgi-bin/freepublish/submit", "publish_status": 3, "fail_idx": [1]}, timeout=5)
        assert injected.status_code == 200
        publish_id = publish_draft(server, token)
        for _ in range(3):
            assert post(server, "freepublish/get", token, {"publish_id": publish_id})["publish_status"] == 1

        finished = requests.post(f"{server.url}/_fake/publish/{publish_id}/finish", timeout=5).json()
        assert finished["job"] == {"publish_id": publish_id, "publish_status": 3, "fail_idx": [1]}
        assert post(server, "freepublish/get", token, {"publish_id": publish_id}) == finished["job"]
        args, body = receiver.next()
        info = check_push(args, body).find("PublishEventInfo")
        assert info is not None and info.findtext("publish_status") == "3"
        assert [e.text for e in info.findall("fail_idx")] == ["1"] and info.find("article_id") is None

        again = requests.post(f"{server.url}/_fake/publish/{publish_id}/finish", timeout=5)
        assert again.status_code == 409
        assert requests.post(f"{server.url}/_fake/publish/999/finish", timeout=5).status_code == 404
        assert post(server, "freepublish/get", token, {"publish_id": "999"})["errcode"] == 53502

        # A test can also choose the final status itself, in-process.
        second = publish_draft(server, token)
        job = server.state.finish_publish(second, status=4, fail_idx=[1])
        assert job["publish_status"] == 4 and job["fail_idx"] == [1]
        assert server.state.wait_pushes(2)[1].publish_status == 4
        receiver.next()


def test_mass_send_clientmsgid_dedup(server: FakeWeChatServer) -> None:
    token = get_token(server)
    thumb = upload(server, "material/add_material", token, JPEG, type="thumb")["media_id"]
    media_id = post(server, "draft/add", token, {"articles": [article(thumb)]})["media_id"]
    body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": media_id}, "msgtype": "mpnews",
            "send_ignore_reprint": 0, "clientmsgid": "issue-42"}
    sent = post(server, "message/mass/sendall", token, body)
    assert sent["errcode"] == 0 and sent["errmsg"] == "send job submission success"
    assert isinstance(sent["msg_id"], int) and isinstance(sent["msg_data_id"], int)
    repeat = post(server, "message/mass/sendall", token, body)
    assert repeat["errcode"] == 45065 and repeat["msg_id"] == sent["msg_id"]
    assert post(server, "message/mass/sendall", token, {**body, "clientmsgid": "other"})["errcode"] == 40007
    unknown = {**body, "clientmsgid": "x", "mpnews": {"media_id": "nope"}}
    assert post(server, "message/mass/sendall", token, unknown)["errcode"] == 40007
    sends = server.state.snapshot()["mass_sends"]
    assert [(s["clientmsgid"], s["is_to_all"]) for s in sends] == [("issue-42", True)]


# ---- fault injection --------------------------------------------------------------------------------


def test_fault_errcode_consumed_in_order(server: FakeWeChatServer) -> None:
    token = get_token(server)
    server.state.inject("/cgi-bin/message/custom/send", errcode=45015, times=2)
    server.state.inject("*", errcode=-1, errmsg="system busy")
    msg = {"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}
    results = [post(server, "message/custom/send", token, msg)["errcode"] for _ in range(4)]
    assert results == [45015, 45015, -1, 0]
    assert server.state.custom_messages()[0].seq == server.state.calls()[-1].seq
    calls = server.state.calls("/cgi-bin/message/custom/send")
    assert [c.fault for c in calls] == ["errcode", "errcode", "errcode", None]
    assert [c.errcode for c in calls] == [45015, 45015, -1, 0]
    assert server.state.faults() == []


def test_fault_http_500(server: FakeWeChatServer) -> None:
    token = get_token(server)
    server.state.inject("/cgi-bin/freepublish/get", http_status=502)
    resp = requests.post(server.url + "/cgi-bin/freepublish/get", params={"access_token": token},
                         json={"publish_id": "1"}, timeout=5)
    assert resp.status_code == 502 and not resp.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        resp.json()
    assert post(server, "freepublish/get", token, {"publish_id": "1"})["errcode"] == 53502
    assert server.state.calls("/cgi-bin/freepublish/get")[0].http_status == 502


def test_fault_delay_times_out_client_then_release(server: FakeWeChatServer) -> None:
    token = get_token(server)
    requests.post(server.url + "/_fake/inject", json={"path": "/cgi-bin/draft/add", "delay": 30}, timeout=5)
    with pytest.raises(requests.ReadTimeout):
        requests.post(server.url + "/cgi-bin/draft/add", params={"access_token": token},
                      json={"articles": []}, timeout=0.2)
    assert requests.post(server.url + "/_fake/release_delays", timeout=5).json() == {"ok": True}
    (held,) = server.state.wait_calls(1, "/cgi-bin/draft/add")
    assert held.fault == "delay" and held.errcode == 44003
    assert post(server, "draft/add", token, {"articles": []})["errcode"] == 44003  # no delay any more


def test_held_requests_are_listed_until_released(server: FakeWeChatServer) -> None:
    token = get_token(server)
    server.state.inject("/cgi-bin/draft/add", delay=30)
    caller = threading.Thread(target=post, args=(server, "draft/add", token, {"articles": []}))
    caller.start()
    wait_for(lambda: requests.get(server.url + "/_fake/held", timeout=5).json()["held"] == {"/cgi-bin/draft/add": 1})
    assert server.state.calls("/cgi-bin/draft/add") == []  # arrived, not yet acted on
    server.state.release_delays()
    caller.join()
    assert requests.get(server.url + "/_fake/held", timeout=5).json() == {"held": {}}
    assert len(server.state.calls("/cgi-bin/draft/add")) == 1


def test_stop_releases_a_held_request(server: FakeWeChatServer) -> None:
    # The fixture's teardown asserts that stop() returns promptly and leaves no threads behind.
    server.state.inject("*", delay=60, times=-1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(server.url + "/cgi-bin/token", timeout=0.2)


def test_reset_clears_faults_and_records_but_keeps_tokens(server: FakeWeChatServer) -> None:
    token = get_token(server)
    server.state.inject("*", errcode=45009, times=-1)
    assert post(server, "draft/add", token, {"articles": []})["errcode"] == 45009
    assert post(server, "draft/add", token, {"articles": []})["errcode"] == 45009
    assert len(server.state.faults()) == 1
    assert requests.post(server.url + "/_fake/reset", timeout=5).json() == {"ok": True}
    assert server.state.calls() == [] and server.state.faults() == []
    assert post(server, "draft/add", token, {"articles": []})["errcode"] == 44003
    assert get_token(server)  # accounts survive


# ---- control endpoints and protocol edges --------------------------------------------------------------


def test_control_endpoints(server: FakeWeChatServer) -> None:
    token = get_token(server)
    post(server, "stable_token", None, {"grant_type": "client_credential", "appid": APPID, "secret": SECRET})
    post(server, "draft/add", token, {"articles": []})
    calls = requests.get(server.url + "/_fake/calls", timeout=5).json()["calls"]
    assert [c["path"] for c in calls] == ["/cgi-bin/token", "/cgi-bin/stable_token", "/cgi-bin/draft/add"]
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)
    assert calls[0]["query"]["secret"] == "***" and calls[1]["body"]["secret"] == "***"
    assert calls[0]["appid"] == calls[1]["appid"] == APPID
    assert calls[2]["query"] == {"access_token": "***"} and calls[2]["appid"] == APPID
    assert calls[2]["body"] == {"articles": []} and calls[2]["errcode"] == 44003
    only = requests.get(server.url + "/_fake/calls", params={"path": "/cgi-bin/draft/add"}, timeout=5).json()
    assert len(only["calls"]) == 1
    since = requests.get(server.url + "/_fake/calls", params={"since": calls[1]["seq"]}, timeout=5).json()
    assert [c["seq"] for c in since["calls"]] == [calls[2]["seq"]]

    bad = requests.post(server.url + "/_fake/inject", json={"path": "/x", "errcode": 1}, timeout=5)
    assert bad.status_code == 400
    assert requests.post(server.url + "/_fake/inject", json={"path": "*", "bogus": 1}, timeout=5).status_code == 400
    assert requests.post(server.url + "/_fake/inject", json={"path": "*"}, timeout=5).status_code == 400
    config = requests.post(server.url + "/_fake/config", json={"expires_in": 60}, timeout=5).json()
    assert config["config"]["expires_in"] == 60
    assert get_token(server) and server.state.calls()[-1].errcode == 0
    last = requests.get(server.url + "/cgi-bin/token", params={"grant_type": "client_credential", "appid": APPID,
                                                               "secret": SECRET}, timeout=5).json()
    assert last["expires_in"] == 60
    state = requests.get(server.url + "/_fake/state", timeout=5).json()
    assert state["accounts"] == [APPID] and state["publish_jobs"] == [] and state["faults"] == []


def test_unknown_paths_methods_and_oversized_bodies(server: FakeWeChatServer) -> None:
    token = get_token(server)
    resp = requests.get(server.url + "/cgi-bin/no/such/api", params={"access_token": token}, timeout=5)
    assert resp.status_code == 404 and resp.json()["errcode"] == 404
    assert requests.get(server.url + "/elsewhere", timeout=5).json()["errcode"] == 404
    wrong = requests.get(server.url + "/cgi-bin/draft/add", params={"access_token": token}, timeout=5)
    assert wrong.json()["errcode"] == 43002
    assert post(server, "draft/add", token, None, data=b"")["errcode"] == 44002
    big = requests.post(server.url + "/cgi-bin/draft/add", params={"access_token": token},
                        data=b"x" * (20 * 1024 * 1024 + 1), timeout=30)
    assert big.status_code == 413
    assert server.state.calls("/cgi-bin/draft/add")[-1].http_status == 413


def test_app_factory_keeps_state_in_extensions() -> None:
    state = FakeWeChatState(FakeAccount(appid="wxother", secret="s2", original_id="gh_other"))
    app = create_fake_app(state)
    assert app.extensions["fake_wechat"] is state
    resp = app.test_client().get("/cgi-bin/token?grant_type=client_credential&appid=wxother&secret=s2")
    assert resp.status_code == 200 and resp.get_json()["expires_in"] == 7200
    assert state.calls()[0].appid == "wxother"
