"""Command line: `python -m bot run | web | check | simulate | fake-wechat | rules | catalog | questions | digest
| posts | outbox | menu | users`.

One module per command group. Commands that need the bot's services run inside the app (registered on
`app.cli` by `init_app`); `run`, `web`, `check`, `simulate` and `fake-wechat` work without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import FlaskGroup

from bot.config import ConfigError
from bot.logs import setup_logging


def init_app(app: Flask) -> None:
    """Register the commands that need the app's services."""
    from bot.cli import catalog, menu, outbox, posts, rules, users

    for command in (outbox.outbox_command, rules.rules_group, catalog.catalog_group, menu.menu_group, *posts.GROUPS,
                    users.users_group):
        app.cli.add_command(command)


def main(create_app: Callable[[], Flask]) -> None:
    """`python -m bot`: the commands, inside the app `create_app` builds when a command needs one."""
    try:
        setup_logging(os.environ, "%(levelname)s %(name)s: %(message)s", default_level="WARNING")
    except ConfigError as exc:
        raise SystemExit(f"Error: {exc}") from None
    def app_or_exit() -> Flask:
        try:
            return create_app()
        except ConfigError as exc:  # one line per field, not a traceback
            raise click.ClickException(str(exc)) from None

    group = FlaskGroup(create_app=app_or_exit, add_default_commands=False, add_version_option=False,
                       load_dotenv=False, help="WeChat official-account bot.")
    # Flask's --app/--env-file/--debug options do not apply: the app is always this bot's.
    group.params = [p for p in group.params if p.name not in ("app", "env_file", "debug")]
    from bot.cli import check, fake_wechat, run, simulate, web

    for command in (run.run_command, web.web_command, check.check_command, simulate.simulate_command,
                    fake_wechat.fake_wechat_command):
        group.add_command(command)
    group.main(prog_name="python -m bot")
