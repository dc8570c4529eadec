"""Command line: `python -m bot run | simulate | fake-wechat | ...`.

Commands that need the bot's services run inside the app (registered on `app.cli` by `init_app`);
`run`, `simulate` and `fake-wechat` work without it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from types import FrameType
from typing import Any

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from bot.config import Config, ConfigError, load_config
from bot.wechat import render_reply


def _config_or_exit() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# run: the whole service in the foreground


@click.command("run")
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="$HOST or 127.0.0.1")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")), show_default="$PORT or 8000")
@click.option("--workers", type=int, show_default="$WEB_CONCURRENCY or 2 per core",
              default=lambda: int(os.environ.get("WEB_CONCURRENCY", "0") or 0) or 2 * (os.cpu_count() or 1))
def run_command(host: str, port: int, workers: int) -> None:
    """Start the web server (gunicorn), the scheduler and, when needed, Redis and the fake WeChat API."""
    from bot.store import EmbeddedRedis

    config = _config_or_exit()
    env = dict(os.environ)
    children: list[subprocess.Popen[bytes]] = []
    embedded = None
    notes = []
    if not env.get("REDIS_URL"):
        data_dir = env.get("BOT_DATA_DIR", "data")
        embedded = EmbeddedRedis(data_dir)
        env["REDIS_URL"] = embedded.url
        notes.append(f"Redis: embedded, persisted under {data_dir}/")
    else:
        notes.append("Redis: $REDIS_URL")
    if not config.wechat.app_secret and not env.get("WECHAT_API_BASE_URL"):
        fake_port = _free_port()
        env["WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{fake_port}"
        env["WECHAT_APP_SECRET"] = "fake-secret-for-local-runs"
        # The fake pushes as WeChat does for this account: signed with its token, and encrypted (safe mode)
        # when it has an EncodingAESKey. Secrets go through the fake's environment, not its visible argv.
        fake_env = {**env, "FAKE_WECHAT_TOKEN": config.wechat.token,
                    "FAKE_WECHAT_AES_KEY": config.wechat.encoding_aes_key}
        children.append(subprocess.Popen(
            [sys.executable, "-m", "bot", "fake-wechat", "--port", str(fake_port),
             "--appid", config.wechat.app_id, "--secret", env["WECHAT_APP_SECRET"],
             "--webhook-url", f"http://{host}:{port}/wechat"],
            env=fake_env))
        notes.append(f"WeChat API: our fake server at {env['WECHAT_API_BASE_URL']} (no WECHAT_APP_SECRET set)")
    children.append(subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bot.wsgi:app", "--bind", f"{host}:{port}", "--workers", str(workers),
         "--worker-class", "sync", "--timeout", "30", "--graceful-timeout", "10", "--log-level", "info",
         "--no-control-socket"],
        env=env))
    children.append(subprocess.Popen([sys.executable, "-m", "scheduler"], env=env))
    click.echo(f"Serving http://{host}:{port}/wechat ({workers} workers). " + "; ".join(notes) + ".")
    click.echo("Try it: python -m bot simulate 问卷    (Ctrl-C stops everything)")

    class Stop(Exception):
        """Raised from the signal handler: os.wait() is otherwise resumed after a handled signal."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stop

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if any(c.pid == pid for c in children):
                code = os.waitstatus_to_exitcode(status) or 1
                click.echo(f"a service process exited (code {code}); stopping everything", err=True)
                break
    except Stop:
        click.echo("stopping")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C or TERM must not skip the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.close()
    sys.exit(code)


# --------------------------------------------------------------------------------------------------
# simulate: be WeChat for one message


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
    from bot.simulator import Account, message_xml, read_reply, signed_request

    config = _config_or_exit()
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


# --------------------------------------------------------------------------------------------------
# fake-wechat: our stand-in for api.weixin.qq.com


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
    from bot.wechat import MessageCrypto

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


# --------------------------------------------------------------------------------------------------
# Commands inside the app


@click.command("outbox")
@with_appcontext
def outbox_command() -> None:
    """Send late replies waiting in the outbox now."""
    from scheduler.jobs import deliver_outbox

    bot = current_app.extensions["wxbot"]
    click.echo(f"sent {deliver_outbox(bot.store, bot.api)}; waiting {bot.store.outbox_size()}")


@click.group("rules", cls=AppGroup)
def rules_group() -> None:
    """Keyword rules: import, export, test a message, statistics."""


@rules_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--allow-no-urgent", is_flag=True,
              help="Accept rules without any enabled urgent rule (urgent symptoms then get the default reply).")
def rules_import(file: Any, allow_no_urgent: bool) -> None:
    """Replace all rules with those in FILE (YAML); one bad rule and nothing changes."""
    from bot.rules import RuleError

    try:
        rules = current_app.extensions["wxbot"].ctx.services["rules"]
        version = rules.import_yaml(file.read(), allow_no_urgent=allow_no_urgent)
    except RuleError as exc:
        raise click.ClickException("rules not imported:\n  " + "\n  ".join(exc.errors)) from None
    click.echo(f"imported; rules are now version {version}")


@rules_group.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def rules_export(file: Any) -> None:
    """Write the current rules as YAML (to FILE, default standard output)."""
    file.write(current_app.extensions["wxbot"].ctx.services["rules"].export_yaml())


@rules_group.command("test")
@click.argument("text")
@click.option("--as", "kind", type=click.Choice(["text", "voice", "click", "subscribe"]), default="text",
              show_default=True, help="Which input the TEXT is (click: a menu key; subscribe: a QR scene).")
def rules_test(text: str, kind: str) -> None:
    """Show which rule fires for TEXT and the reply a follower would get."""
    from bot.simulator import Account, message_xml, read_reply
    from bot.wechat import parse_message

    # A shell can pass bytes that are not UTF-8 (lone surrogates here): show them as U+FFFD, never crash.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    bot = current_app.extensions["wxbot"]
    book = bot.ctx.services["rules"].current()
    matches = book.explain(text, kind, bot.ctx.clock())
    if matches:
        click.echo(f"fires: {matches[0].rule.id} ({matches[0].rule.name}) on {matches[0].matched!r}")
        for other in matches[1:]:
            click.echo(f"  also matches: {other.rule.id} on {other.matched!r}")
    else:
        click.echo("no rule matches")
    # Route the message exactly as the webhook would, without storing anything.
    account = Account(bot.config.wechat.token, bot.config.wechat.app_id, original_id=bot.config.account.original_id)
    if kind == "click":
        xml = message_xml(account, "o_rules_test", event="CLICK", event_key=text)
    elif kind == "subscribe":
        xml = message_xml(account, "o_rules_test", event="subscribe", event_key=f"qrscene_{text}" if text else "")
    elif kind == "voice":
        xml = message_xml(account, "o_rules_test", recognition=text)
    else:
        xml = message_xml(account, "o_rules_test", text=text)
    msg = parse_message(xml.encode())
    router, found = bot.intake.dispatcher.route(msg, bot.ctx)
    outcome = router.handle(msg, found, bot.ctx) if router.pure else None
    click.echo(f"handled by: {router.name}")
    if outcome is None:
        click.echo("reply: (stored and answered by the question workflow)")
    elif outcome.reply is None:
        click.echo("reply: (none)")
    else:
        click.echo("reply:\n" + read_reply(account, render_reply(outcome.reply, msg)).show())


@rules_group.command("stats")
@click.option("--day", help="YYYYMMDD in the account's time zone (default: today).")
@click.option("--unmatched", "show_unmatched", type=int, default=10, show_default=True,
              help="How many unanswered messages to list.")
def rules_stats(day: str | None, show_unmatched: int) -> None:
    """Hits per rule, survey clicks and what followers asked that nothing answered."""
    bot = current_app.extensions["wxbot"]
    day = day or bot.ctx.today()
    hits = bot.store.rule_hits(day)
    click.echo(f"{day}: rule hits")
    for rule_id, count in sorted(hits.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {count:6d}  {rule_id}")
    clicks, people = bot.store.survey_clicks(day)
    click.echo(f"survey link: {clicks} clicks by {people} followers")
    for item in bot.store.unmatched(day, show_unmatched):
        click.echo(f"  unanswered ({item['who']}): {item['t']}")


def init_app(app: Flask) -> None:
    """Register the commands that need the app's services."""
    app.cli.add_command(outbox_command)
    app.cli.add_command(rules_group)
    from bot import qa_cli

    qa_cli.register(app)  # questions, digest, posts


def main() -> None:
    from bot import create_app

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    group = FlaskGroup(create_app=lambda: create_app(), add_default_commands=False, add_version_option=False,
                       load_dotenv=False, help="WeChat official-account bot.")
    # Flask's --app/--env-file/--debug options do not apply: the app is always this bot's.
    group.params = [p for p in group.params if p.name not in ("app", "env_file", "debug")]
    for command in (run_command, simulate_command, fake_wechat_command):
        group.add_command(command)
    group.main(prog_name="python -m bot")
