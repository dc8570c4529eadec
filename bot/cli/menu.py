"""`python -m bot menu ...`: show the menu as the phone shows it, check it, push it, pull WeChat's."""

from __future__ import annotations

from datetime import datetime

import click
import yaml
from flask.cli import AppGroup

from bot.cli.common import current_bot
from bot.wechat.api import WeChatAPIError
from bot.wechat.menu import Menu, MenuError, ParentButton, action, phone_labels, to_wechat_dict
from bot.wechat.menu_service import MenuCheck, NoMenu, NoWeChatAPI


@click.group("menu", cls=AppGroup)
def menu_group() -> None:
    """The account's custom menu (自定义菜单): show, check, push, pull."""


def _draw(menu: Menu) -> list[str]:
    """The menu bar, then each button's sub-buttons and what it does; a name the phone cuts shows in full too."""
    labels = phone_labels(menu)
    lines = ["| " + " | ".join(p.label for p in labels) + " |"]
    for shown, button in zip(labels, menu.buttons, strict=True):
        full = f"  ({button.name})" if shown.label != button.name else ""
        lines.append(f"[{shown.label}]{full}" + ("" if isinstance(button, ParentButton) else f"  {action(button)}"))
        if isinstance(button, ParentButton):
            for label, sub in zip(shown.sub_labels, button.sub_buttons, strict=True):
                full = f"  ({sub.name})" if label != sub.name else ""
                lines.append(f"  · {label}{full}  {action(sub)}")
    return lines


def _report(report: MenuCheck) -> None:
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


def _checked(allow_unanswered: bool = False) -> MenuCheck:
    """The current menu checked; ClickException naming every problem."""
    service = current_bot().menu
    try:
        report = service.check(service.required())
    except (NoMenu, MenuError) as exc:
        raise click.ClickException(str(exc)) from None
    _report(report)
    if report.errors and not allow_unanswered:
        raise click.ClickException(f"{len(report.errors)} error(s): fix them (or --allow-unanswered)")
    return report


@menu_group.command("show")
def menu_show() -> None:
    """The menu to push (config.yaml's, or the one edited) as the phone shows it, with its warnings."""
    bot = current_bot()
    try:
        report = bot.menu.check(bot.menu.required())
    except (NoMenu, MenuError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in _draw(report.menu):
        click.echo(line)
    _report(report)
    last = bot.menu.last_pushed()
    when = datetime.fromtimestamp(last.at, bot.config.account.tz).isoformat(" ", "seconds") if last else "never"
    click.echo(f"last pushed: {when}")


@menu_group.command("check")
@click.option("--allow-unanswered", is_flag=True, help="Do not count click keys no rule answers as errors.")
def menu_check(allow_unanswered: bool) -> None:
    """Validate the menu only (WeChat's limits, the rules behind click keys); exits non-zero on errors."""
    _checked(allow_unanswered)
    click.echo("menu ok")


@menu_group.command("push")
@click.option("--allow-unanswered", is_flag=True, help="Push even if a click key is answered by no rule.")
def menu_push(allow_unanswered: bool) -> None:
    """Validate and push the menu with menu/create; prints what changed since the last push."""
    report = _checked(allow_unanswered)
    try:
        pushed = current_bot().menu.push(report.menu, allow_unanswered=allow_unanswered,
                                           actor="cli")
    except WeChatAPIError as exc:
        raise click.ClickException(f"WeChat refused the menu: errcode {exc.code}: {exc.message}") from None
    except (MenuError, NoWeChatAPI) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("pushed" + (" (the first push)" if pushed.first else ""))
    for line in pushed.changes or ("no change from the last push",):
        click.echo(f"  {line}")


@menu_group.command("pull")
def menu_pull() -> None:
    """WeChat's current menu (menu/get) as YAML to paste into config.yaml."""
    try:
        menu = current_bot().menu.fetch()
    except WeChatAPIError as exc:
        raise click.ClickException(f"menu/get failed: errcode {exc.code}: {exc.message}") from None
    except (MenuError, NoWeChatAPI) as exc:
        raise click.ClickException(str(exc)) from None
    if menu is None:
        raise click.ClickException("WeChat has no menu created through the API (46003)")
    click.echo(yaml.safe_dump({"menu": to_wechat_dict(menu)}, allow_unicode=True, sort_keys=False), nl=False)
