"""The protocol edge against WeChat's published vectors, every message type and hostile XML."""

from __future__ import annotations

import pytest

from bot.wechat import messages as m
from bot.wechat.crypto import MessageCrypto, check_signature, sign
from bot.wechat.edge import WeChatEdge
from bot.wechat.errors import AppIdMismatch, MalformedRequest, SignatureError
from bot.wechat.inbound import parse_message
from bot.wechat.outbound import render_reply, split_text

# wechatpy's tests/test_crypto.py vector (shared/wechat-protocol.md §2.1).
V_TOKEN = "123456"
V_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
V_APPID = "wx49f0ab532d5d035a"
V_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6y"
    "dJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/T"
    "ywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
    "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
V_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
V_SEALED = """<xml>
<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>
<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>
<TimeStamp>1411525903</TimeStamp>
<Nonce><![CDATA[461056294]]></Nonce>
</xml>"""


def test_signature_vectors() -> None:
    assert check_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "1410685589", "test")
    assert not check_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "1410685589", "test")
    assert sign("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert sign("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_url_verification_echoes_only_when_signed() -> None:
    edge = WeChatEdge("AAAAA", V_APPID, ())
    args = {"signature": "f464b24fc39322e44b38aa78f5edd27bd1441696", "timestamp": "1714036504",
            "nonce": "1514711492", "echostr": "4375120948345356249"}
    assert edge.verify_url(args) == "4375120948345356249"
    with pytest.raises(SignatureError):
        edge.verify_url({**args, "nonce": "1514711493"})


def test_decrypt_published_vector() -> None:
    assert sign(V_TOKEN, "1411525903", "461056294", V_ENCRYPT) == "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    plain, key_index = MessageCrypto(V_TOKEN, V_APPID, (V_KEY,)).decrypt(V_ENCRYPT)
    assert key_index == 0
    msg = parse_message(plain)
    assert isinstance(msg, m.TextMessage)
    assert (msg.content, msg.openid, msg.msg_id) == ("test", "messense", "4363689963896700987")


def test_encrypt_published_vector_byte_exact() -> None:
    crypto = MessageCrypto(V_TOKEN, V_APPID, (V_KEY,))
    assert crypto.seal(V_REPLY, 0, "461056294", "1411525903", random_prefix=b"1234567890123456") == V_SEALED


def test_open_safe_mode_push_with_vector() -> None:
    edge = WeChatEdge(V_TOKEN, V_APPID, (V_KEY,))
    body = f"<xml><ToUserName><![CDATA[{V_APPID}]]></ToUserName><Encrypt><![CDATA[{V_ENCRYPT}]]></Encrypt></xml>"
    args = {"timestamp": "1411525903", "nonce": "461056294", "encrypt_type": "aes",
            "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"}
    env = edge.open(args, body.encode())
    assert isinstance(env.message, m.TextMessage) and env.key_index == 0
    with pytest.raises(SignatureError):
        edge.open({**args, "msg_signature": "0" * 40}, body.encode())


def test_previous_key_fallback_and_reply_in_that_key() -> None:
    other = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    old = MessageCrypto(V_TOKEN, V_APPID, (V_KEY,))
    rotated = MessageCrypto(V_TOKEN, V_APPID, (other, V_KEY))
    plain, index = rotated.decrypt(old.encrypt("<xml>hi</xml>"))
    assert (plain, index) == (b"<xml>hi</xml>", 1)
    reply = rotated.encrypt("<xml>reply</xml>", key_index=index)
    assert old.decrypt(reply) == (b"<xml>reply</xml>", 0)


def test_foreign_appid_and_tampering_refused() -> None:
    foreign = MessageCrypto(V_TOKEN, "wx0000000000000000", (V_KEY,)).encrypt("<xml/>")
    with pytest.raises(AppIdMismatch):
        MessageCrypto(V_TOKEN, V_APPID, (V_KEY,)).decrypt(foreign)
    with pytest.raises(MalformedRequest):
        MessageCrypto(V_TOKEN, V_APPID, (V_KEY,)).decrypt("not base64!!")
    good = MessageCrypto(V_TOKEN, V_APPID, (V_KEY,)).encrypt("<xml/>")
    flipped = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
    with pytest.raises((MalformedRequest, AppIdMismatch)):
        MessageCrypto(V_TOKEN, V_APPID, (V_KEY,)).decrypt(flipped)


HEAD = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName><CreateTime>1700000000</CreateTime>"


@pytest.mark.parametrize(
    ("tail", "cls", "check"),
    [
        ("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1</MsgId>", m.TextMessage,
         lambda x: x.content == "你好"),
        ("<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://p]]></PicUrl><MediaId><![CDATA[mid]]></MediaId><MsgId>2</MsgId>",
         m.ImageMessage, lambda x: x.media_id == "mid"),
        ("<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[v]]></MediaId><Format><![CDATA[amr]]></Format>"
         "<Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>3</MsgId>", m.VoiceMessage,
         lambda x: x.recognition == "腾讯微信团队"),
        ("<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[v]]></MediaId><Format><![CDATA[amr]]></Format><MsgId>4</MsgId>",
         m.VoiceMessage, lambda x: x.recognition is None),
        ("<MsgType><![CDATA[video]]></MsgType><MediaId><![CDATA[v]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId><MsgId>5</MsgId>",
         m.VideoMessage, lambda x: not x.short),
        ("<MsgType><![CDATA[shortvideo]]></MsgType><MediaId><![CDATA[v]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId><MsgId>6</MsgId>",
         m.VideoMessage, lambda x: x.short),
        ("<MsgType><![CDATA[location]]></MsgType><Location_X>23.13</Location_X><Location_Y>113.26</Location_Y><Scale>20</Scale>"
         "<Label><![CDATA[位置]]></Label><MsgId>7</MsgId>", m.LocationMessage, lambda x: x.latitude == 23.13 and x.scale == 20),
        ("<MsgType><![CDATA[link]]></MsgType><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description>"
         "<Url><![CDATA[http://u]]></Url><MsgId>8</MsgId>", m.LinkMessage, lambda x: x.url == "http://u"),
        ("<MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>9</MsgId>", m.UnknownMessage,
         lambda x: x.msg_type == "miniprogrampage"),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>", m.SubscribeEvent,
         lambda x: x.scene is None),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123]]></EventKey>"
         "<Ticket><![CDATA[TK]]></Ticket>", m.SubscribeEvent, lambda x: x.scene == "123" and x.ticket == "TK"),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event>", m.UnsubscribeEvent, lambda x: True),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[123]]></EventKey>"
         "<Ticket><![CDATA[TK]]></Ticket>", m.ScanEvent, lambda x: x.scene == "123"),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event><Latitude>23.1</Latitude>"
         "<Longitude>113.3</Longitude><Precision>119.4</Precision>", m.LocationEvent, lambda x: x.precision == 119.4),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_SURVEY]]></EventKey>",
         m.ClickEvent, lambda x: x.key == "MENU_SURVEY"),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[http://v]]></EventKey>",
         m.ViewEvent, lambda x: x.url == "http://v"),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000001625</MsgID>"
         "<Status><![CDATA[send success]]></Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount>"
         "<SentCount>75</SentCount><ErrorCount>5</ErrorCount>", m.MassSendJobFinishEvent,
         lambda x: x.msg_id == "1000001625" and x.sent_count == 75),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>"
         "<Status><![CDATA[success]]></Status>", m.TemplateSendJobFinishEvent, lambda x: x.status == "success"),
        ("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[weapp_audit_success]]></Event>", m.UnknownEvent,
         lambda x: x.event_name == "weapp_audit_success"),
    ],
)
def test_parses_every_type(tail: str, cls: type, check: object) -> None:
    msg = parse_message((HEAD + tail + "</xml>").encode())
    assert type(msg) is cls
    assert check(msg)  # type: ignore[operator]


def test_parses_publishjobfinish_sample() -> None:
    sample = (
        "<xml> <ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName> <FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]>"
        "</FromUserName> <CreateTime>1481013459</CreateTime> <MsgType><![CDATA[event]]></MsgType> <Event><![CDATA[PUBLISHJOBFINISH]]>"
        "</Event> <PublishEventInfo> <publish_id>2247503051</publish_id> <publish_status>0</publish_status> <article_id>"
        "<![CDATA[b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvy WP4Hq4]]></article_id> <article_detail> <count>1</count> <item> "
        "<idx>1</idx> <article_url><![CDATA[ARTICLE_URL]]></article_url> </item> <item> <idx>2</idx> <article_url>"
        "<![CDATA[ARTICLE_URL_2]]></article_url> </item> </article_detail> </PublishEventInfo> </xml>"
    )
    msg = parse_message(sample.encode())
    assert isinstance(msg, m.PublishJobFinishEvent)
    assert msg.publish_id == "2247503051" and msg.publish_status == 0
    assert msg.articles == (m.PublishedArticle(1, "ARTICLE_URL"), m.PublishedArticle(2, "ARTICLE_URL_2"))


def test_event_dedup_key_hides_openid_and_separates_events() -> None:
    a = parse_message((HEAD + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"
                       "<EventKey><![CDATA[A]]></EventKey></xml>").encode())
    b = parse_message((HEAD + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"
                       "<EventKey><![CDATA[B]]></EventKey></xml>").encode())
    assert a.dedup_key != b.dedup_key and "o_1" not in a.dedup_key


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><xml>&lol2;</xml>',
        b"<!-- hi --><xml/>",
        b"<xml><Content>&undefined;</Content></xml>",
        b"<xml><unclosed></xml>",
        b"not xml at all",
        b"",
        b"<root/>",
        b"<xmlx/>",
        HEAD.encode() + b"<MsgType><![CDATA[text]]></MsgType><Content>x</Content></xml>",  # no MsgId
        HEAD.replace("1700000000", "soon").encode() + b"<MsgType>text</MsgType><MsgId>1</MsgId></xml>",
        b"<xml><MsgType>text</MsgType><MsgId>1</MsgId><CreateTime>1</CreateTime></xml>",  # no sender
    ],
)
def test_hostile_or_malformed_xml_refused(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_message(body)


def test_follower_text_containing_markup_is_just_text() -> None:
    xml = HEAD + "<MsgType>text</MsgType><Content><![CDATA[<!DOCTYPE x> &amp; ]]]]><![CDATA[>]]></Content><MsgId>1</MsgId></xml>"
    msg = parse_message(xml.encode())
    assert isinstance(msg, m.TextMessage) and msg.content == "<!DOCTYPE x> &amp; ]]>"


def test_render_escapes_cdata_terminator_and_control_chars() -> None:
    msg = parse_message((HEAD + "<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>").encode())
    xml = render_reply(m.TextReply("a]]>b\x00c<d>"), msg, now=1)
    back = parse_message(xml.replace("<MsgType>", "<MsgId>1</MsgId><MsgType>").encode())
    assert isinstance(back, m.TextMessage) and back.content == "a]]>bc<d>"
    assert back.openid == "gh_1" and back.account == "o_1"  # addressed back to the follower


def test_cdata_escaping_survives_control_characters_inside_the_terminator() -> None:
    msg = parse_message((HEAD + "<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>").encode())
    xml = render_reply(m.TextReply("a]]\x01>b\ud800c"), msg, now=1)
    back = parse_message(xml.replace("<MsgType>", "<MsgId>1</MsgId><MsgType>").encode())
    assert isinstance(back, m.TextMessage) and back.content == "a]]>bc"


def test_news_limited_to_one_article_for_messages_eight_for_events() -> None:
    arts = tuple(m.Article(f"t{i}", "d", f"http://u/{i}") for i in range(10))
    text_msg = parse_message((HEAD + "<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>").encode())
    event = parse_message((HEAD + "<MsgType>event</MsgType><Event>subscribe</Event></xml>").encode())
    assert render_reply(m.NewsReply(arts), text_msg).count("<item>") == 1
    assert "<ArticleCount>1</ArticleCount>" in render_reply(m.NewsReply(arts), text_msg)
    assert render_reply(m.NewsReply(arts), event).count("<item>") == 8


def test_long_text_is_never_rendered_whole() -> None:
    msg = parse_message((HEAD + "<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>").encode())
    with pytest.raises(ValueError):
        render_reply(m.TextReply("字" * 700), msg)  # 2100 bytes


def test_split_text_respects_limit_and_keeps_everything() -> None:
    text = ("这是一个很长的句子。" * 150) + "\n" + ("abc " * 300)
    parts = split_text(text, 2047)
    assert all(len(p.encode()) <= 2047 for p in parts) and len(parts) > 1
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
