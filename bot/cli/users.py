"""`python -m bot users ...`: console accounts (add, list, disable, enable, passwd, token); actor ``cli``."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from bot.accounts.model import ROLES, AccountError
from bot.accounts.users import UserService
from bot.cli.common import current_bot, user_errors

ACTOR = "cli"


def _users() -> UserService:
    return current_bot().ctx.services.users


def _password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise click.ClickException("--password-stdin: no password on standard input")
        return password.removesuffix("\r")
    typed: str = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    return typed


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Console accounts: admins (everything) and editors (questions and reply posts)."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin: everything; editor: questions and posts.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@user_errors(AccountError)
def users_add(name: str, role: str, password_stdin: bool) -> None:
    """Add user NAME (2-32 of a-z 0-9 . _ -) with a password."""
    users = _users()
    if users.get(name) is not None:  # before the prompt; the add itself is still atomic
        raise AccountError(f"user {name.strip().casefold()!r} already exists")
    user = users.add(name, role, _password(password_stdin), actor=ACTOR)
    assert user is not None
    click.echo(f"user {user.name} added ({user.role})")


@users_group.command("list")
def users_list() -> None:
    """Every user: name, role, enabled, created, last log-in, API token."""
    users = _users().list_users()
    if not users:
        click.echo("no users (python -m bot users add NAME --role admin)")
        return
    click.echo(f"{'name':<32}  {'role':<6}  {'enabled':<7}  {'created':<20}  {'last log-in':<20}  token")
    for u in users:
        last = f"{u.last_login:%Y-%m-%d %H:%M} UTC" if u.last_login else "never"
        click.echo(f"{u.name:<32}  {u.role:<6}  {'yes' if u.enabled else 'no':<7}  "
                   f"{u.created:%Y-%m-%d %H:%M} UTC{'':<4}  {last:<20}  {'yes' if u.has_token else 'no'}")


@users_group.command("disable")
@click.argument("name")
@user_errors(AccountError)
def users_disable(name: str) -> None:
    """Disable NAME: no log-in, no API token; their sessions end now."""
    user = _users().disable(name, actor=ACTOR)
    click.echo(f"user {user.name} disabled")


@users_group.command("enable")
@click.argument("name")
@user_errors(AccountError)
def users_enable(name: str) -> None:
    """Enable NAME again."""
    user = _users().enable(name, actor=ACTOR)
    click.echo(f"user {user.name} enabled")


@users_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@user_errors(AccountError)
def users_passwd(name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (an operator's reset); their sessions end."""
    users = _users()
    user = users.require(name)
    ended = users.reset_password(user.name, _password(password_stdin), actor=ACTOR)
    click.echo(f"password of {user.name} changed; {ended} session(s) ended")


@users_group.command("token")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Remove NAME's API token instead.")
@user_errors(AccountError)
def users_token(name: str, revoke: bool) -> None:
    """Print a new personal API token for NAME, once (it replaces their previous one)."""
    users = _users()
    if revoke:
        removed = users.revoke_token(name, actor=ACTOR)
        click.echo(f"API token of {users.require(name).name} revoked" if removed else
                   f"{users.require(name).name} has no API token")
        return
    token = users.issue_token(name, actor=ACTOR)
    click.echo(token)
    click.echo("shown only this once: only its hash is stored", err=True)
