"""`python -m bot catalog ...`: export and import the articles and the survey."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from bot.cli.common import current_bot


@click.group("catalog", cls=AppGroup)
def catalog_group() -> None:
    """Articles and survey: export, import."""


@catalog_group.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def catalog_export(file: Any) -> None:
    """Write the saved articles and survey as YAML (to FILE, default standard output)."""
    file.write(current_bot().ctx.services.catalog.export_yaml())


@catalog_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def catalog_import(file: Any) -> None:
    """Replace the articles and survey with those in FILE (YAML); one bad field and nothing changes.

    Keyword rules are left alone (`rules import` replaces them); an article a rule answers with cannot go.
    An admin's explicit act: it replaces whatever is saved, whatever the version (console edits included).
    """
    from bot.rules.catalog import CatalogError

    try:
        version = current_bot().ctx.services.catalog.import_yaml(file.read(), actor="cli")
    except CatalogError as exc:
        raise click.ClickException("catalog not imported:\n  " + "\n  ".join(exc.errors)) from None
    click.echo(f"imported; the catalog is now version {version}")
