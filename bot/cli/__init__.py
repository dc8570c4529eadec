"""Command line: `python -m bot run | simulate | fake-wechat | rules | questions | digest | posts | outbox | users`.

One module per command group. Commands that need the bot's services run inside the app (registered on
`app.cli` by `init_app`); `run`, `simulate` and `fake-wechat` work without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import FlaskGroup

from bot.config import ConfigError


def init_app(app: Flask) -> None:
    """Register the commands that need the app's services."""
    from bot.cli import outbox, posts, rules, users

    for command in (outbox.outbox_command, rules.rules_group, *posts.GROUPS, users.users_group):
        app.cli.add_command(command)


def main(create_app: Callable[[], Flask]) -> None:
    """`python -m bot`: the commands, inside the app `create_app` builds when a command needs one."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    def app_or_exit() -> Flask:
        try:
            return create_app()
        except ConfigError as exc:  # one line per field, not a traceback
            raise click.ClickException(str(exc)) from None

    group = FlaskGroup(create_app=app_or_exit, add_default_commands=False, add_version_option=False,
                       load_dotenv=False, help="WeChat official-account bot.")
    # Flask's --app/--env-file/--debug options do not apply: the app is always this bot's.
    group.params = [p for p in group.params if p.name not in ("app", "env_file", "debug")]
    from bot.cli import fake_wechat, run, simulate

    for command in (run.run_command, simulate.simulate_command, fake_wechat.fake_wechat_command):
        group.add_command(command)
    group.main(prog_name="python -m bot")
