"""`python -m bot check`: is this machine ready to serve the account? One line per check, exit 1 on any ✘."""

from __future__ import annotations

import os
import sys

import click

from bot.checks import run_checks
from bot.store import Store


@click.command("check")
def check_command() -> None:
    """Check the config, Redis (reachable, persistent, not evicting), the AES key, the WeChat credentials, the
    clock against WeChat's and that public_base_url answers over https."""
    env = dict(os.environ)
    findings = run_checks(env, lambda: Store.from_env(env))
    for finding in findings:
        click.echo(finding.line())
    failed = sum(f.state == "fail" for f in findings)
    click.echo(f"{failed} check(s) failed" if failed else "ready")
    sys.exit(1 if failed else 0)
