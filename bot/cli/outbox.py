"""`python -m bot outbox`: send the late replies waiting for the customer-service API."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from bot.cli.common import current_bot


@click.command("outbox")
@with_appcontext
def outbox_command() -> None:
    """Send late replies waiting in the outbox now."""
    from scheduler.jobs import deliver_outbox

    bot = current_bot()
    click.echo(f"sent {deliver_outbox(bot.store, bot.api)}; waiting {bot.store.outbox_size()}")

