"""`python -m bot fake-wechat`: our stand-in for api.weixin.qq.com, on loopback."""

from __future__ import annotations

import os

import click

from bot.config import ConfigError, load_config


@click.command("fake-wechat")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8001, show_default=True)
@click.option("--appid", default="wxdev0000000000001", show_default=True)
@click.option("--secret", show_default="$WECHAT_APP_SECRET",
              default=lambda: os.environ.get("WECHAT_APP_SECRET", "fake-secret"))
@click.option("--webhook-url", help="Where to push PUBLISHJOBFINISH events (the bot's /wechat).")
@click.option("--token", "--webhook-token", "webhook_token",
              help="The account's token, to sign pushes with (default: $FAKE_WECHAT_TOKEN, $WECHAT_TOKEN, "
                   "else the config's).",
              default=lambda: os.environ.get("FAKE_WECHAT_TOKEN") or os.environ.get("WECHAT_TOKEN", ""))
@click.option("--aes-key", envvar="FAKE_WECHAT_AES_KEY", show_envvar=True, default="",
              help="The account's EncodingAESKey: push in safe mode (encrypted for --appid, with msg_signature). "
                   "Without it pushes are plaintext, signed with the token.")
def fake_wechat_command(host: str, port: int, appid: str, secret: str, webhook_url: str | None,
                        webhook_token: str, aes_key: str) -> None:
    """Serve a fake WeChat API (token, messages, drafts, publishing) on loopback, for tests and local runs.

    With --webhook-url it pushes PUBLISHJOBFINISH events there as WeChat would for the account's mode:
    plaintext signed with the token, or, given --aes-key, in safe mode (encrypt_type=aes, msg_signature,
    body <xml><ToUserName/><Encrypt/></xml>). `python -m bot run` passes the config's token and key.
    """
    from bot.fake_wechat import FakeAccount, serve
    from bot.wechat.crypto import MessageCrypto

    # The config, when readable, supplies the account id and the token that signs pushes.
    try:
        config = load_config()
        original_id, config_token = config.account.original_id, config.wechat.token
    except ConfigError:
        original_id, config_token = "gh_000000000000", ""
    if aes_key:
        try:
            MessageCrypto("", "", (aes_key,))
        except ValueError:
            raise click.BadParameter("must be the 43-character EncodingAESKey", param_hint="--aes-key") from None
    account = FakeAccount(appid=appid, secret=secret, original_id=original_id)
    token = (webhook_token or config_token) if webhook_url else None
    if webhook_url and not token:
        raise click.UsageError("--webhook-url needs the account's token (--token, $WECHAT_TOKEN or the config)")
    serve(host, port, account, webhook_url, token, (aes_key or None) if webhook_url else None)

