"""`python -m bot simulate`: be WeChat for one message, against the running server."""

from __future__ import annotations

import os

import click
import requests

from bot.cli.common import config_or_exit


@click.command("simulate")
@click.argument("text", required=False, default="")
@click.option("--event", help="Send an event instead of a text message.",
              type=click.Choice(["subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW"], case_sensitive=False))
@click.option("--click", "click_key", help="Send a menu CLICK event with this key.")
@click.option("--voice", is_flag=True, help="Send TEXT as a voice message's recognised text.")
@click.option("--openid", default="o_simulated_follower_0001", show_default=True)
@click.option("--msg-id", type=int, help="Fixed MsgId (send twice to see a retry replayed).")
@click.option("--aes", is_flag=True, help="Encrypt the push (safe mode) and decrypt the reply.")
@click.option("--url", show_default="http://$HOST:$PORT/wechat",
              default=lambda: f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}/wechat")
def simulate_command(text: str, event: str | None, click_key: str | None, voice: bool, openid: str,
                     msg_id: int | None, aes: bool, url: str) -> None:
    """Send TEXT (or an event) to the running server as WeChat would, and print the reply."""
    from bot.wechat.simulator import Account, message_xml, read_reply, signed_request

    config = config_or_exit()
    wx = config.wechat
    account = Account(wx.token, wx.app_id, wx.encoding_aes_key, config.account.original_id)
    if aes and not account.aes_key:
        raise click.ClickException("--aes needs wechat.encoding_aes_key (or WECHAT_ENCODING_AES_KEY)")
    if click_key:
        xml = message_xml(account, openid, event="CLICK", event_key=click_key)
    elif event:
        xml = message_xml(account, openid, event=event if event.upper() in ("SCAN", "CLICK", "VIEW") else event.lower())
    elif voice:
        xml = message_xml(account, openid, recognition=text, msg_id=msg_id)
    elif text:
        xml = message_xml(account, openid, text=text, msg_id=msg_id)
    else:
        raise click.UsageError("give TEXT to send, or --event / --click")
    query, body = signed_request(account, xml, aes=aes)
    try:
        res = requests.post(url, params=query, data=body, timeout=10,
                            headers={"Content-Type": "text/xml; charset=utf-8"})
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {url}: {type(exc).__name__} (is `make run` running?)") from None
    if res.status_code != 200:
        raise click.ClickException(f"server answered HTTP {res.status_code}: {res.text[:200]}")
    click.echo(read_reply(account, res.content.decode("utf-8")).show())

