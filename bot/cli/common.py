"""What every command shares: the config (errors as one line), the running app's bot, editors' errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import current_app

from bot.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from bot import Bot

F = TypeVar("F", bound=Callable[..., Any])


def config_or_exit() -> Config:
    """The validated config, or the command stops with the one-line reason (naming the field)."""
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def current_bot() -> Bot:
    """The services of the app the command runs in (commands registered by `bot.cli.init_app`)."""
    bot: Bot = current_app.extensions["wxbot"]
    return bot


def user_errors(*kinds: type[Exception]) -> Callable[[F], F]:
    """Show these errors (a user's mistake, explained in their message) as one line, not a traceback."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except kinds as exc:
                raise click.ClickException(str(exc)) from None

        return wrapper  # type: ignore[return-value]

    return decorate
