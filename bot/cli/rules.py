"""`python -m bot rules ...`: import, export, try a message, statistics."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from bot.cli.common import current_bot
from bot.wechat.outbound import render_reply


@click.group("rules", cls=AppGroup)
def rules_group() -> None:
    """Keyword rules: import, export, test a message, statistics."""


@rules_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--allow-no-urgent", is_flag=True,
              help="Accept rules without any enabled urgent rule (urgent symptoms then get the default reply).")
def rules_import(file: Any, allow_no_urgent: bool) -> None:
    """Replace all rules with those in FILE (YAML); one bad rule and nothing changes.

    An admin's explicit act: it replaces whatever is saved, whatever the version (console edits included).
    """
    from bot.rules.model import RuleError

    try:
        rules = current_bot().ctx.services.rules
        version = rules.import_yaml(file.read(), actor="cli", allow_no_urgent=allow_no_urgent)
    except RuleError as exc:
        raise click.ClickException("rules not imported:\n  " + "\n  ".join(exc.errors)) from None
    click.echo(f"imported; rules are now version {version}")


@rules_group.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def rules_export(file: Any) -> None:
    """Write the current rules as YAML (to FILE, default standard output)."""
    file.write(current_bot().ctx.services.rules.export_yaml())


@rules_group.command("test")
@click.argument("text")
@click.option("--as", "kind", type=click.Choice(["text", "voice", "click", "subscribe"]), default="text",
              show_default=True, help="Which input the TEXT is (click: a menu key; subscribe: a QR scene).")
def rules_test(text: str, kind: str) -> None:
    """Show which rule fires for TEXT and the reply a follower would get."""
    from bot.wechat.simulator import Account, read_reply, trial_message

    # A shell can pass bytes that are not UTF-8 (lone surrogates here): show them as U+FFFD, never crash.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    bot = current_bot()
    matches = bot.ctx.services.rules.current().explain(text, kind, bot.ctx.clock())
    if matches:
        click.echo(f"fires: {matches[0].rule.id} ({matches[0].rule.name}) on {matches[0].matched!r}")
        for other in matches[1:]:
            click.echo(f"  also matches: {other.rule.id} on {other.matched!r}")
    else:
        click.echo("no rule matches")
    msg = trial_message(text, kind, bot.config.account.original_id)
    trial = bot.intake.dry_run(msg)  # routed exactly as the webhook would, nothing stored
    click.echo(f"handled by: {trial.router}")
    if trial.stored:
        click.echo("reply: (stored and answered by the question workflow)")
    elif trial.reply is None:
        click.echo("reply: (none)")
    else:
        account = Account(bot.config.wechat.token, bot.config.wechat.app_id)
        click.echo("reply:\n" + read_reply(account, render_reply(trial.reply, msg)).show())


@rules_group.command("stats")
@click.option("--day", help="YYYYMMDD in the account's time zone (default: today).")
@click.option("--unmatched", "show_unmatched", type=int, default=10, show_default=True,
              help="How many unanswered messages to list.")
def rules_stats(day: str | None, show_unmatched: int) -> None:
    """Hits per rule, survey clicks and what followers asked that nothing answered."""
    bot = current_bot()
    day = day or bot.ctx.today()
    hits = bot.store.rule_hits(day)
    click.echo(f"{day}: rule hits")
    for rule_id, count in sorted(hits.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {count:6d}  {rule_id}")
    clicks, people = bot.store.survey_clicks(day)
    click.echo(f"survey link: {clicks} clicks by {people} followers")
    for item in bot.store.unmatched(day, show_unmatched):
        click.echo(f"  unanswered ({item['who']}): {item['t']}")

